package events_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
	"github.com/marketplace-go/marketplace/internal/platform/tlstest"
)

// Two brokers speak TLS here: a RabbitMQ node of the test's own with
// ssl_options (fail_if_no_peer_cert), which takes about ten seconds to boot
// and so is left out by -short; and, in every run, a TLS terminator in the
// test in front of the shared broker, checking client certificates as
// that node does. The same checks run against both.

// amqpsURL turns the plain URL of a vhost into an amqps URL reaching it at
// host and port, with query params.
func amqpsURL(t *testing.T, plain, host, port string, params url.Values) string {
	t.Helper()
	u, err := url.Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme, u.Host, u.RawQuery = "amqps", net.JoinHostPort(host, port), params.Encode()
	return u.String()
}

// brokerAddr is the host:port of the plain URL's broker.
func brokerAddr(t *testing.T, plain string) string {
	t.Helper()
	u, err := url.Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5672")
	}
	return u.Host
}

// tlsFixture is a broker that speaks TLS with a certificate for localhost
// only (so 127.0.0.1 is a name it does not carry) from ca, and requires
// client certificates from ca.
type tlsFixture struct {
	cfg              events.Config // plain URL of the vhost to use, its port replaced
	port             string
	ca, other        *tlstest.CA
	client, stranger tlstest.Pair
}

func newTLSFixture(t *testing.T) tlsFixture {
	t.Helper()
	f := tlsFixture{ca: tlstest.NewCA(t, "broker CA"), other: tlstest.NewCA(t, "someone else's CA")}
	f.client, f.stranger = f.ca.Client(t, "orders"), f.other.Client(t, "orders")
	return f
}

// url is an amqps URL of the fixture's vhost reached as host, trusting
// caFile and presenting p unless it is nil.
func (f tlsFixture) url(t *testing.T, host, caFile string, p *tlstest.Pair) string {
	t.Helper()
	v := url.Values{"cacertfile": {caFile}}
	if p != nil {
		v.Set("certfile", p.CertFile)
		v.Set("keyfile", p.KeyFile)
	}
	return amqpsURL(t, f.cfg.URL, host, f.port, v)
}

// check proves against the fixture's broker that a publisher and a
// consumer on an amqps URL deliver an event, and that a broker signed by
// another CA, one reached by a name its certificate lacks, and a client
// without a certificate of the broker's CA are all refused.
func (f tlsFixture) check(t *testing.T) {
	t.Run("a publisher and a consumer on an amqps URL deliver an event through TLS with the URL's client certificate", func(t *testing.T) {
		tlsCfg := f.cfg
		tlsCfg.URL = f.url(t, "localhost", f.ca.File, &f.client)
		got := newCollector()
		startConsumer(t, tlsCfg, events.ConsumerConfig{Queue: "orders.products", Bindings: []string{"product.*"}}, got.handle)
		p := mustPublisher(t, tlsCfg)
		e := mustEvent(t, "product.created", "p-1", 1)
		if err := p.Publish(testContext(t), e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		got.waitAll(t, []string{e.ID})
	})

	refused := []struct {
		name string
		url  string
		want string // in the error
	}{
		{"a broker whose certificate another CA signed is refused", f.url(t, "localhost", f.other.File, &f.client), "certificate signed by unknown authority"},
		{"a broker reached by a name its certificate does not carry is refused", f.url(t, "127.0.0.1", f.ca.File, &f.client), "doesn't contain any IP SANs"},
		{"a client without a certificate is refused where one is required", f.url(t, "localhost", f.ca.File, nil), "certificate required"},
		// Go's client sends no certificate the broker's list of CAs does
		// not name, so the broker sees none.
		{"a client certificate from another CA is refused", f.url(t, "localhost", f.ca.File, &f.stranger), "certificate required"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			refusedCfg := f.cfg
			refusedCfg.URL = tc.url
			// NewPublisher retries until its context ends, logging each
			// attempt's reason: the last, which the error carries, may be
			// one the deadline cut short, so the reason is looked for in
			// the log of every attempt, where an operator reads it.
			var attempts logtest.Buffer
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			p, err := events.NewPublisher(ctx, refusedCfg, slog.New(slog.NewTextHandler(&attempts, nil)))
			if err == nil {
				_ = p.Close()
				t.Fatal("NewPublisher connected")
			}
			if !strings.Contains(attempts.String(), tc.want) {
				t.Errorf("NewPublisher: %v, attempts:\n%s\nwant one saying %q", err, attempts.String(), tc.want)
			}
		})
	}
}

func TestEventsOverTLSToABrokerNodeOfTheTestsOwn(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a RabbitMQ node of its own (about ten seconds); left out by -short")
	}
	t.Parallel()
	f := newTLSFixture(t)
	server := f.ca.Server(t, "localhost")
	f.port = eventstest.StartTLSBroker(t, eventstest.TLSBroker{
		CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: f.ca.File, RequireClientCert: true,
	})
	// A fresh node has the default vhost and guest, who may log in from
	// loopback.
	f.cfg = events.Config{
		URL: "amqp://guest:guest@localhost/", Exchange: "test.events", Name: t.Name(),
		DialTimeout: 5 * time.Second, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		Metrics: events.NewMetrics(prometheus.NewRegistry()),
	}
	f.check(t)
}

func TestEventsOverTLSThroughATerminatorInFrontOfTheSharedBroker(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	server := f.ca.Server(t, "localhost")
	f.cfg = newConfig(t)
	term := tlstest.Terminate(t, brokerAddr(t, f.cfg.URL), &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{server.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    f.ca.Pool(),
	})
	f.port = term.Port()
	f.check(t)
	// The delivery has run (the refusals, parallel subtests, run after
	// this function and complete no handshake): every handshake it made
	// presented the URL's certificate.
	for _, n := range term.ClientNames() {
		if n != "orders" {
			t.Errorf("a connection presented client certificate %q, want orders", n)
		}
	}
	if ok, _ := term.Handshakes(); ok < 2 {
		t.Errorf("%d TLS connections through the terminator, want the publisher's and the consumer's", ok)
	}
}

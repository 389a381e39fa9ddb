package events_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/tlstest"
)

// The shared broker has no TLS listener, and a second broker node of the
// test's own costs an Erlang boot and a distribution port: so TLS is ended
// by a terminator in the test, in front of the shared broker, which checks
// the client certificate as a broker's ssl_options with
// fail_if_no_peer_cert would. What is proved is the client side: that an
// amqps URL makes our connections speak TLS, verify the broker's
// certificate and name, and present the URL's client certificate.

// amqpsURL turns the plain URL of a test vhost into an amqps URL reaching
// it through the terminator at port under host, with query params.
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

func TestEventsOverTLSVerifyTheBrokerAndPresentAClientCertificate(t *testing.T) {
	t.Parallel()
	ca, other := tlstest.NewCA(t, "broker CA"), tlstest.NewCA(t, "someone else's CA")
	// The certificate names localhost only: 127.0.0.1 is a name it does
	// not carry, for the same terminator.
	server := ca.Server(t, "localhost")
	client, stranger := ca.Client(t, "orders"), other.Client(t, "orders")
	cfg := newConfig(t)
	term := tlstest.Terminate(t, brokerAddr(t, cfg.URL), &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{server.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	})
	params := func(caFile string, p *tlstest.Pair) url.Values {
		v := url.Values{"cacertfile": {caFile}}
		if p != nil {
			v.Set("certfile", p.CertFile)
			v.Set("keyfile", p.KeyFile)
		}
		return v
	}

	t.Run("a publisher and a consumer on an amqps URL deliver an event through TLS with the URL's client certificate", func(t *testing.T) {
		tlsCfg := cfg
		tlsCfg.URL = amqpsURL(t, cfg.URL, "localhost", term.Port(), params(ca.File, &client))
		got := newCollector()
		startConsumer(t, tlsCfg, events.ConsumerConfig{Queue: "orders.products", Bindings: []string{"product.*"}}, got.handle)
		p := mustPublisher(t, tlsCfg)
		e := mustEvent(t, "product.created", "p-1", 1)
		if err := p.Publish(testContext(t), e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		got.waitAll(t, []string{e.ID})
		names := term.ClientNames()
		if len(names) < 2 {
			t.Fatalf("%d TLS connections through the terminator, want the publisher's and the consumer's", len(names))
		}
		for _, n := range names {
			if n != "orders" {
				t.Errorf("a connection presented client certificate %q, want orders", n)
			}
		}
	})

	refused := []struct {
		name string
		url  string
		want string // in the error
	}{
		{"a broker whose certificate another CA signed is refused", amqpsURL(t, cfg.URL, "localhost", term.Port(), params(other.File, &client)), "certificate signed by unknown authority"},
		{"a broker reached by a name its certificate does not carry is refused", amqpsURL(t, cfg.URL, "127.0.0.1", term.Port(), params(ca.File, &client)), "doesn't contain any IP SANs"},
		{"a client without a certificate is refused where one is required", amqpsURL(t, cfg.URL, "localhost", term.Port(), params(ca.File, nil)), "certificate required"},
		// Go's client sends no certificate the server's list of CAs does
		// not name, so the broker sees none.
		{"a client certificate from another CA is refused", amqpsURL(t, cfg.URL, "localhost", term.Port(), params(ca.File, &stranger)), "certificate required"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			refusedCfg := cfg
			refusedCfg.URL = tc.url
			// NewPublisher retries until its context ends; the error
			// carries the last attempt's reason.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			p, err := events.NewPublisher(ctx, refusedCfg, testLogger(t))
			if err == nil {
				_ = p.Close()
				t.Fatal("NewPublisher connected")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewPublisher: %v\nwant an error saying %q", err, tc.want)
			}
		})
	}
}

// Package eventstest gives each test its own throwaway RabbitMQ vhost, so
// tests can declare exchanges and queues and cut connections without
// seeing each other. It drives the broker with rabbitmqctl, which must be on
// PATH and allowed to talk to the node (run tests as root or as the
// rabbitmq user).
package eventstest

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/events"
)

// ServerURL is the broker tests use: TEST_AMQP_URL, or the local default.
// Its vhost is replaced by NewVhost.
func ServerURL() string {
	if u := os.Getenv("TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@localhost:5672/"
}

// NewVhost returns the URL of a vhost of the test's own, which the URL's
// user may fully use; the vhost is deleted after the test ends.
//
// Each rabbitmqctl call boots an Erlang VM, half a second of CPU, so
// vhosts are made in batches by one call (see vhosts.take) and deleted in
// the next batch's call. Vhosts left when the process exits carry its pid
// in their names, and the first batch of a later process deletes them.
func NewVhost(tb testing.TB) (amqpURL string) {
	tb.Helper()
	u, err := url.Parse(ServerURL())
	if err != nil {
		tb.Fatalf("eventstest: TEST_AMQP_URL: %v", err)
	}
	user := u.User.Username()
	if user == "" {
		user = "guest"
	}
	name := vhosts.take(tb, user)
	tb.Cleanup(func() { vhosts.retire(name) })
	u.Path = "/" + name
	return u.String()
}

// CloseConnections makes the broker close every client connection to the
// vhost of amqpURL, the way a broker restart looks to the clients.
func CloseConnections(tb testing.TB, amqpURL string) {
	tb.Helper()
	rabbitmqctl(tb, "close_all_connections", "-p", vhost(tb, amqpURL), "eventstest: connection closed by test")
}

// vhost returns the vhost named in amqpURL.
func vhost(tb testing.TB, amqpURL string) string {
	tb.Helper()
	u, err := url.Parse(amqpURL)
	if err != nil {
		tb.Fatalf("eventstest: %v", err)
	}
	if v := strings.TrimPrefix(u.Path, "/"); v != "" {
		return v
	}
	return "/"
}

func rabbitmqctl(tb testing.TB, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"--quiet"}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("eventstest: rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// DeadURL returns an AMQP URL on a loopback port nothing listens on: a
// broker that is down.
func DeadURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "amqp://guest:guest@" + addr + "/"
}

// Config returns a configuration on a fresh vhost with a test exchange, a
// connection name from the test and quick reconnects.
func Config(tb testing.TB) events.Config {
	tb.Helper()
	return events.Config{
		URL:          NewVhost(tb),
		Exchange:     "test.events",
		Name:         tb.Name(),
		DialTimeout:  5 * time.Second,
		ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 500 * time.Millisecond,
	}
}

// Publisher connects a publisher that is closed when the test ends.
func Publisher(tb testing.TB, cfg events.Config, log *slog.Logger) *events.Publisher {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := events.NewPublisher(ctx, cfg, log)
	if err != nil {
		tb.Fatalf("eventstest: NewPublisher: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

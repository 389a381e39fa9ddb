package events

import (
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Config says which broker and exchange a Publisher or Consumer uses. Zero
// fields take the defaults below, so a local run needs no settings at all.
type Config struct {
	// URL is the broker, with credentials and vhost:
	// amqp://user:password@host:5672/vhost.
	URL string
	// Exchange is the durable topic exchange all events go through.
	Exchange string
	// Name labels the connections in the management UI and in
	// `rabbitmqctl list_connections`, usually the service name.
	Name string
	// DialTimeout bounds one attempt to connect, TCP and AMQP handshake.
	DialTimeout time.Duration
	// Heartbeat is how often both sides prove they are alive; a dead peer is
	// noticed after about two intervals even when no traffic flows.
	Heartbeat time.Duration
	// ReconnectMin and ReconnectMax bound the exponential, jittered wait
	// between attempts to reconnect.
	ReconnectMin, ReconnectMax time.Duration
	// Metrics counts what happens; nil counts nothing.
	Metrics *Metrics
	// Tracer makes a span for each publish and each handled message and
	// carries the trace in the message headers; nil traces nothing.
	Tracer trace.TracerProvider
}

// Defaults for the zero fields of Config.
const (
	DefaultURL      = "amqp://guest:guest@localhost:5672/"
	DefaultExchange = "marketplace.events"
)

// withDefaults fills in the zero fields.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Exchange == "" {
		c.Exchange = DefaultExchange
	}
	if c.Name == "" {
		c.Name = "marketplace"
	}
	def(&c.DialTimeout, 5*time.Second)
	def(&c.Heartbeat, 10*time.Second)
	def(&c.ReconnectMin, 100*time.Millisecond)
	def(&c.ReconnectMax, 10*time.Second)
	return c
}

// Validate reports settings that can never work, after defaults are applied,
// so that a typo fails at start rather than as an endless reconnect loop.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, err := amqp.ParseURI(c.URL); err != nil {
		// The URL holds a password, so it is not echoed.
		errs = append(errs, errors.New("events: URL: want amqp://user:password@host:port/vhost"))
	}
	if c.DialTimeout < 0 || c.Heartbeat < 0 || c.ReconnectMin < 0 || c.ReconnectMax < c.ReconnectMin {
		errs = append(errs, errors.New("events: durations must be positive and ReconnectMin <= ReconnectMax"))
	}
	return errors.Join(errs...)
}

// LogValue shows the configuration with the URL's password masked, so the
// effective configuration can be logged at start.
func (c Config) LogValue() slog.Value {
	u := c.URL
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
		u = p.String()
	}
	return slog.GroupValue(
		slog.String("url", u),
		slog.String("exchange", c.Exchange),
		slog.String("name", c.Name),
	)
}

// dial opens one connection, giving up when ctx ends or DialTimeout passes;
// the library's own dialer knows neither.
func dial(ctx context.Context, c Config, role string) (*amqp.Connection, error) {
	conn, err := amqp.DialConfig(c.URL, amqp.Config{
		Heartbeat:  c.Heartbeat,
		Properties: amqp.Table{"connection_name": c.Name + " " + role},
		Dial: func(network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
			defer cancel()
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds the AMQP handshake too; the library clears it after.
			deadline, _ := ctx.Deadline()
			if err := conn.SetDeadline(deadline); err != nil {
				_ = conn.Close()
				return nil, err
			}
			return conn, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to rabbitmq: %w", err)
	}
	return conn, nil
}

// backoff spaces out reconnect attempts: doubling from min to max, with
// jitter so that many clients cut off by one broker restart do not all
// come back in the same instant.
type backoff struct {
	min, max, next time.Duration
}

func newBackoff(c Config) *backoff {
	return &backoff{min: c.ReconnectMin, max: c.ReconnectMax, next: c.ReconnectMin}
}

// wait sleeps for the next interval, or returns early with an error when ctx
// ends or stop is closed.
func (b *backoff) wait(ctx context.Context, stop <-chan struct{}) error {
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(2*b.next, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrClosed
	}
}

// reset starts the doubling over, after a connection proved good.
func (b *backoff) reset() { b.next = b.min }

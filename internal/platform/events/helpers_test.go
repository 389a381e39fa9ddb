package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
)

// testTimeout bounds every test that talks to the broker.
const testTimeout = 60 * time.Second

// newConfig returns a configuration on a fresh vhost, with fast reconnects
// and metrics on a registry of the test's own.
func newConfig(t *testing.T) events.Config {
	t.Helper()
	cfg := eventstest.Config(t)
	cfg.Metrics = events.NewMetrics(prometheus.NewRegistry())
	return cfg
}

// testContext is the test's deadline, cancelled at cleanup.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs to the test's output until the test ends.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return logtest.New(t, slog.LevelDebug)
}

// mustPublisher connects a publisher that is closed when the test ends.
func mustPublisher(t *testing.T, cfg events.Config) *events.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	p, err := events.NewPublisher(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Publisher.Close: %v", err)
		}
	})
	return p
}

// mustEvent builds a product event with a small payload.
func mustEvent(t *testing.T, typ, subject string, seq int64) events.Event {
	t.Helper()
	e, err := events.New(typ, "products", subject, seq, 1, map[string]any{"name": "lamp", "seq": seq})
	if err != nil {
		t.Fatalf("events.New: %v", err)
	}
	return e
}

// startConsumer runs Consume until the test ends and waits until the queue
// is subscribed, so that events published next are routed to it. The
// consumer must stop by itself, with a nil error, when its context ends.
func startConsumer(t *testing.T, cfg events.Config, cc events.ConsumerConfig, h events.Handler) *events.Consumer {
	t.Helper()
	return startConsuming(t, cfg, cc, func(ctx context.Context, c *events.Consumer) error { return c.Consume(ctx, cc, h) })
}

// startBatchConsumer is startConsumer for ConsumeBatches.
func startBatchConsumer(t *testing.T, cfg events.Config, cc events.ConsumerConfig, h events.BatchHandler) *events.Consumer {
	t.Helper()
	return startConsuming(t, cfg, cc, func(ctx context.Context, c *events.Consumer) error { return c.ConsumeBatches(ctx, cc, h) })
}

func startConsuming(t *testing.T, cfg events.Config, cc events.ConsumerConfig, consume func(context.Context, *events.Consumer) error) *events.Consumer {
	t.Helper()
	c, err := events.NewConsumer(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- consume(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Consume returned %v, want nil after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Consume did not return after its context ended")
		}
	})
	waitSubscribed(t, cfg.URL, cc.Queue)
	return c
}

// waitSubscribed polls until queue has a consumer.
func waitSubscribed(t *testing.T, url, queue string) {
	t.Helper()
	conn := mustDial(t, url)
	eventually.True(t, "queue "+queue+" subscribed", func() bool {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatalf("open channel: %v", err)
		}
		defer ch.Close()
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		return err == nil && q.Consumers > 0
	})
}

// mustDial opens a plain connection for inspecting the broker, independent
// of the code under test.
func mustDial(t *testing.T, url string) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// mustChannel opens a channel on a fresh connection.
func mustChannel(t *testing.T, url string) *amqp.Channel {
	t.Helper()
	ch, err := mustDial(t, url).Channel()
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	return ch
}

// mustGet waits for one message on queue.
func mustGet(t *testing.T, ch *amqp.Channel, queue string) amqp.Delivery {
	t.Helper()
	var d amqp.Delivery
	eventually.True(t, "a message on "+queue, func() bool {
		var ok bool
		var err error
		d, ok, err = ch.Get(queue, true)
		if err != nil {
			t.Fatalf("get from %s: %v", queue, err)
		}
		return ok
	})
	return d
}

// queueLen counts the ready messages in queue.
func queueLen(t *testing.T, ch *amqp.Channel, queue string) int {
	t.Helper()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspect queue %s: %v", queue, err)
	}
	return q.Messages
}

// collector is a handler that records the events it sees.
type collector struct {
	mu   sync.Mutex
	seen map[string]events.Event // by id
	n    int                     // calls, duplicates included
}

func newCollector() *collector { return &collector{seen: map[string]events.Event{}} }

func (c *collector) handle(_ context.Context, e events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[e.ID] = e
	c.n++
	return nil
}

// missing lists the ids not seen yet.
func (c *collector) missing(ids []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range ids {
		if _, ok := c.seen[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// waitAll waits until every id has been handled.
func (c *collector) waitAll(t *testing.T, ids []string) {
	t.Helper()
	eventually.NoError(t, fmt.Sprintf("%d events handled", len(ids)), func() error {
		if missing := c.missing(ids); len(missing) > 0 {
			return fmt.Errorf("%d never handled (%v), first %s", len(missing), c, missing[0])
		}
		return nil
	})
}

func (c *collector) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d distinct events in %d calls", len(c.seen), c.n)
}

// count reads a counter's value.
func count(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}

package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// bindQueue declares a durable queue bound to the exchange with args,
// standing in for a consumer the test inspects by hand.
func bindQueue(t *testing.T, ch *amqp.Channel, cfg events.Config, queue, key string, args amqp.Table) {
	t.Helper()
	if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
		t.Fatalf("declare %s: %v", queue, err)
	}
	if err := ch.QueueBind(queue, key, cfg.Exchange, false, nil); err != nil {
		t.Fatalf("bind %s: %v", queue, err)
	}
}

func TestPublishReturnsOnlyOnceTheBrokerHasTheMessage(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	p := mustPublisher(t, cfg)
	bindQueue(t, mustChannel(t, cfg.URL), cfg, "inspect", "product.*", nil)
	ctx := testContext(t)

	for i := range 20 {
		e := mustEvent(t, "product.created", fmt.Sprintf("p-%d", i), 1)
		if err := p.Publish(ctx, e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		// A connection the publisher knows nothing about must find the
		// message at once: Publish waited for the broker's confirm.
		d, ok, err := mustChannel(t, cfg.URL).Get("inspect", true)
		if err != nil || !ok {
			t.Fatalf("event %d not in the queue right after Publish returned (ok=%v, err=%v)", i, ok, err)
		}
		got := map[string]any{
			"ContentType": d.ContentType, "DeliveryMode": d.DeliveryMode, "MessageId": d.MessageId,
			"Type": d.Type, "Timestamp": d.Timestamp.Unix(), "AppId": d.AppId, "RoutingKey": d.RoutingKey,
		}
		want := map[string]any{
			"ContentType": "application/json", "DeliveryMode": amqp.Persistent, "MessageId": e.ID,
			"Type": e.Type, "Timestamp": e.Time.Unix(), "AppId": "products", "RoutingKey": "product.created",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("message properties (-want +got):\n%s", diff)
		}
		var body events.Event
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatalf("body is not an event: %v", err)
		}
		if diff := cmp.Diff(e, body); diff != "" {
			t.Fatalf("body (-want +got):\n%s", diff)
		}
	}
}

func TestPublishErrorsLeaveTheEventWithTheCaller(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	p := mustPublisher(t, cfg)
	// A queue that holds one message and refuses more makes the broker
	// nack the second publish.
	bindQueue(t, mustChannel(t, cfg.URL), cfg, "full", "order.#",
		amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"})
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name    string
		ctx     context.Context
		event   events.Event
		closed  bool // close the publisher first
		wantIs  error
		wantMsg string
	}{
		{name: "first into the small queue", event: mustEvent(t, "order.placed", "o-1", 1)},
		{name: "nacked by the full queue", event: mustEvent(t, "order.placed", "o-2", 1), wantMsg: "nacked"},
		{name: "context already ended", ctx: cancelled, event: mustEvent(t, "product.created", "p-1", 1), wantIs: context.Canceled},
		{name: "envelope without id", event: events.Event{Type: "product.created", Version: 1}, wantMsg: "no id"},
		{name: "after Close", event: mustEvent(t, "product.created", "p-2", 1), closed: true, wantIs: events.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = testContext(t)
			}
			if tt.closed {
				if err := p.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			err := p.Publish(ctx, tt.event)
			switch {
			case tt.wantIs == nil && tt.wantMsg == "":
				if err != nil {
					t.Fatalf("Publish: %v", err)
				}
			case tt.wantIs != nil && !errors.Is(err, tt.wantIs):
				t.Fatalf("Publish = %v, want %v", err, tt.wantIs)
			case tt.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Fatalf("Publish = %v, want an error containing %q", err, tt.wantMsg)
			}
		})
	}
	m := cfg.Metrics
	if got := count(t, m.PublishFailures.WithLabelValues("order.placed")); got != 1 {
		t.Errorf("publish failures for order.placed = %v, want 1", got)
	}
	if got := count(t, m.Published.WithLabelValues("order.placed")); got != 1 {
		t.Errorf("published order.placed = %v, want 1", got)
	}
}

func TestNewPublisherGivesUpWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	// Nothing listens on port 1.
	_, err := events.NewPublisher(ctx, events.Config{URL: "amqp://guest:guest@127.0.0.1:1/", ReconnectMin: 50 * time.Millisecond}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("NewPublisher = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("NewPublisher took %v with a 500ms context", d)
	}
}

func TestUnroutableEventIsConfirmedAndCounted(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	p := mustPublisher(t, cfg)
	// No queue is bound: nobody subscribes to this type yet.
	if err := p.Publish(testContext(t), mustEvent(t, "product.archived", "p-1", 3)); err != nil {
		t.Fatalf("Publish of an unroutable event = %v, want nil", err)
	}
	eventually.True(t, "the unroutable event counted", func() bool {
		return count(t, cfg.Metrics.Unroutable.WithLabelValues("product.archived")) == 1
	})
	if got := count(t, cfg.Metrics.Published.WithLabelValues("product.archived")); got != 1 {
		t.Errorf("published = %v, want 1", got)
	}
}

func TestPublisherReady(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	p := mustPublisher(t, cfg)
	ctx := testContext(t)
	if err := p.Ready(ctx); err != nil {
		t.Fatalf("Ready on a fresh publisher: %v", err)
	}
	eventstest.CloseConnections(t, cfg.URL)
	// Ready reconnects rather than reporting the dropped connection for ever.
	eventually.True(t, "Ready after the connection was closed", func() bool { return p.Ready(ctx) == nil })
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Ready(ctx); !errors.Is(err, events.ErrClosed) {
		t.Errorf("Ready after Close = %v, want ErrClosed", err)
	}
}

func TestConcurrentPublishersAreAllConfirmedAndConsumed(t *testing.T) {
	t.Parallel()
	const publishers, each = 20, 50
	cfg := newConfig(t)
	got := newCollector()
	startConsumer(t, cfg, events.ConsumerConfig{Queue: "all", Bindings: []string{"#"}}, got.handle)
	p := mustPublisher(t, cfg)
	ctx := testContext(t)

	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	for g := range publishers {
		wg.Go(func() {
			for i := range each {
				e := mustEvent(t, "product.created", fmt.Sprintf("p-%d-%d", g, i), 1)
				if err := p.Publish(ctx, e); err != nil {
					t.Errorf("publisher %d: Publish: %v", g, err)
					return
				}
				mu.Lock()
				ids = append(ids, e.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(ids) != publishers*each {
		t.Fatalf("%d events confirmed, want %d", len(ids), publishers*each)
	}
	if got := count(t, cfg.Metrics.Published.WithLabelValues("product.created")); got != publishers*each {
		t.Errorf("published counter = %v, want %d", got, publishers*each)
	}
	got.waitAll(t, ids)
}

func TestPublisherReopensAChannelTheBrokerClosed(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	p := mustPublisher(t, cfg)
	ctx := testContext(t)
	// Publishing to a missing exchange is a channel error: the broker
	// closes the channel but leaves the connection open.
	if err := mustChannel(t, cfg.URL).ExchangeDelete(cfg.Exchange, false, false); err != nil {
		t.Fatalf("delete exchange: %v", err)
	}
	if err := p.Publish(ctx, mustEvent(t, "product.created", "p-1", 1)); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("Publish to a deleted exchange = %v, want a NOT_FOUND error", err)
	}
	// The next publish opens a new channel and declares the exchange again.
	if err := p.Publish(ctx, mustEvent(t, "product.created", "p-1", 2)); err != nil {
		t.Fatalf("Publish after the channel closed: %v", err)
	}
	bindQueue(t, mustChannel(t, cfg.URL), cfg, "inspect", "#", nil)
	if err := p.Publish(ctx, mustEvent(t, "product.created", "p-1", 3)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if n := queueLen(t, mustChannel(t, cfg.URL), "inspect"); n != 1 {
		t.Errorf("%d messages in the queue, want 1", n)
	}
}

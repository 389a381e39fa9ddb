package events_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

func TestConsumeDeliversEveryEnvelopeField(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	got := newCollector()
	startConsumer(t, cfg, events.ConsumerConfig{Queue: "orders.products", Bindings: []string{"product.*"}}, got.handle)
	p := mustPublisher(t, cfg)

	sent := []events.Event{
		mustEvent(t, "product.created", "p-1", 1),
		mustEvent(t, "product.updated", "p-1", 2),
		mustEvent(t, "order.placed", "o-1", 1), // not bound: must not arrive
		mustEvent(t, "product.archived", "p-1", 3),
	}
	for _, e := range sent {
		if err := p.Publish(testContext(t), e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	want := map[string]events.Event{sent[0].ID: sent[0], sent[1].ID: sent[1], sent[3].ID: sent[3]}
	got.waitAll(t, []string{sent[0].ID, sent[1].ID, sent[3].ID})
	got.mu.Lock()
	defer got.mu.Unlock()
	if diff := cmp.Diff(want, got.seen); diff != "" {
		t.Errorf("handled events (-want +got):\n%s", diff)
	}
	if got := count(t, cfg.Metrics.Consumed.WithLabelValues("orders.products")); got != 3 {
		t.Errorf("consumed counter = %v, want 3", got)
	}
}

func TestFailedHandlerIsRetriedUntilItSucceeds(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	cfg := newConfig(t)
	var (
		mu       sync.Mutex
		attempts []int
		times    []time.Time
	)
	h := func(ctx context.Context, e events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, events.Attempt(ctx))
		times = append(times, time.Now())
		if len(attempts) < 3 {
			return fmt.Errorf("database unavailable (attempt %d)", events.Attempt(ctx))
		}
		return nil
	}
	startConsumer(t, cfg, events.ConsumerConfig{Queue: "q", Bindings: []string{"product.*"}, MaxAttempts: 5, RetryDelay: delay}, h)
	p := mustPublisher(t, cfg)
	if err := p.Publish(testContext(t), mustEvent(t, "product.created", "p-1", 1)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	// The consumed counter moves when the handler's success is acked: from
	// then on the message is settled, so a fourth attempt could only come
	// from a copy left in the main or retry queue, and none may be there.
	m := cfg.Metrics
	eventually.True(t, "the message settled", func() bool { return count(t, m.Consumed.WithLabelValues("q")) == 1 })
	ch := mustChannel(t, cfg.URL)
	for _, q := range []string{"q", "q.retry", "q.dlq"} {
		if n := queueLen(t, ch, q); n != 0 {
			t.Errorf("%d copies left in %s after success, want 0", n, q)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]int{1, 2, 3}, attempts); diff != "" {
		t.Errorf("attempts seen by the handler (-want +got):\n%s", diff)
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < delay*3/4 {
			t.Errorf("attempt %d came %v after the previous one, want about RetryDelay %v", i+1, gap, delay)
		}
	}
	if f, c := count(t, m.HandlerFailures.WithLabelValues("q")), count(t, m.Consumed.WithLabelValues("q")); f != 2 || c != 1 {
		t.Errorf("handler failures, consumed = %v, %v; want 2, 1", f, c)
	}
}

func TestUnhandledMessagesGoToTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	// The rows share a vhost, each with its own exchange and queue.
	base := newConfig(t)
	valid := func(t *testing.T, p *events.Publisher, _ *amqp.Channel, _ string) string {
		e := mustEvent(t, "product.created", "p-1", 1)
		if err := p.Publish(testContext(t), e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		return e.ID
	}
	raw := func(body string) func(*testing.T, *events.Publisher, *amqp.Channel, string) string {
		return func(t *testing.T, _ *events.Publisher, ch *amqp.Channel, exchange string) string {
			err := ch.Publish(exchange, "product.created", false, false, amqp.Publishing{MessageId: "raw-1", Body: []byte(body)})
			if err != nil {
				t.Fatalf("publish raw message: %v", err)
			}
			return "raw-1"
		}
	}
	tests := []struct {
		name        string
		maxAttempts int
		handler     func(ctx context.Context, e events.Event) error
		publish     func(t *testing.T, p *events.Publisher, ch *amqp.Channel, exchange string) (id string)
		wantCalls   int
		wantReason  string
		wantAttempt int32
		wantError   string
	}{
		{
			name: "handler fails every attempt", maxAttempts: 3, publish: valid,
			handler: func(ctx context.Context, e events.Event) error {
				return fmt.Errorf("boom on attempt %d", events.Attempt(ctx))
			},
			wantCalls: 3, wantReason: events.ReasonMaxAttempts, wantAttempt: 3, wantError: "boom on attempt 3",
		},
		{
			name: "handler panics", maxAttempts: 2, publish: valid,
			handler:   func(context.Context, events.Event) error { panic("nil map") },
			wantCalls: 2, wantReason: events.ReasonMaxAttempts, wantAttempt: 2, wantError: "handler panicked: nil map",
		},
		{
			name: "body is not json", maxAttempts: 5, publish: raw("not json"),
			wantReason: events.ReasonMalformed, wantAttempt: 1, wantError: "decode event",
		},
		{
			name: "envelope without id", maxAttempts: 5, publish: raw(`{"type":"product.created","version":1}`),
			wantReason: events.ReasonMalformed, wantAttempt: 1, wantError: "no id",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, queue := base, fmt.Sprintf("q%d", i)
			cfg.Exchange = fmt.Sprintf("test.events.%d", i)
			var (
				mu    sync.Mutex
				calls int
			)
			h := func(ctx context.Context, e events.Event) error {
				mu.Lock()
				calls++
				mu.Unlock()
				if tt.handler == nil {
					t.Errorf("handler called with %+v, want the message dead-lettered unseen", e)
					return nil
				}
				return tt.handler(ctx, e)
			}
			cc := events.ConsumerConfig{Queue: queue, Bindings: []string{"product.*"}, MaxAttempts: tt.maxAttempts, RetryDelay: 10 * time.Millisecond}
			startConsumer(t, cfg, cc, h)
			p := mustPublisher(t, cfg)
			ch := mustChannel(t, cfg.URL)
			id := tt.publish(t, p, ch, cfg.Exchange)

			d := mustGet(t, ch, queue+".dlq")
			got := map[string]any{
				"id": d.MessageId, "reason": d.Headers[events.HeaderReason], "attempt": d.Headers[events.HeaderAttempt],
				"routing key": d.Headers[events.HeaderRoutingKey], "persistent": d.DeliveryMode == amqp.Persistent,
			}
			want := map[string]any{
				"id": id, "reason": tt.wantReason, "attempt": tt.wantAttempt,
				"routing key": "product.created", "persistent": true,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("dead letter (-want +got):\n%s", diff)
			}
			if msg, _ := d.Headers[events.HeaderLastError].(string); !strings.Contains(msg, tt.wantError) {
				t.Errorf("last error header = %q, want it to contain %q", msg, tt.wantError)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != tt.wantCalls {
				t.Errorf("handler called %d times, want %d", calls, tt.wantCalls)
			}
			for _, q := range []string{queue, queue + ".retry", queue + ".dlq"} {
				if n := queueLen(t, ch, q); n != 0 {
					t.Errorf("%d messages left in %s, want 0", n, q)
				}
			}
			// Counted just after the original is acked.
			eventually.True(t, "the dead letter counted", func() bool {
				return count(t, cfg.Metrics.DeadLettered.WithLabelValues(queue, tt.wantReason)) == 1
			})
		})
	}
}

func TestPublisherAndConsumerRecoverFromLostConnections(t *testing.T) {
	t.Parallel()
	const publishers, cuts, between = 4, 2, 100 // events confirmed before each cut
	cfg := newConfig(t)
	got := newCollector()
	slow := func(ctx context.Context, e events.Event) error {
		time.Sleep(time.Millisecond) // keep messages unacked when the connection drops
		return got.handle(ctx, e)
	}
	c := startConsumer(t, cfg, events.ConsumerConfig{Queue: "q", Bindings: []string{"#"}, Prefetch: 8}, slow)
	p := mustPublisher(t, cfg)
	ctx := testContext(t)

	var (
		mu       sync.Mutex
		ids      []string
		failures int
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	confirmed := func() int { mu.Lock(); defer mu.Unlock(); return len(ids) }
	for g := range publishers {
		wg.Go(func() {
			for seq := int64(1); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				e := mustEvent(t, "product.updated", fmt.Sprintf("p-%d", g), seq)
				// The caller's side of the contract: an event whose Publish
				// failed is kept and published again.
				for {
					callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
					err := p.Publish(callCtx, e)
					cancel()
					if err == nil {
						break
					}
					if ctx.Err() != nil {
						t.Errorf("event %s never published: %v", e.ID, err)
						return
					}
					mu.Lock()
					failures++
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
				mu.Lock()
				ids = append(ids, e.ID)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond) // let the consumer keep up
			}
		})
	}
	// Cut every connection of the vhost while publishes and deliveries are
	// in flight, and make sure publishing goes on after each cut.
	for i := range cuts {
		eventually.True(t, "publishing to go on", func() bool { return confirmed() >= (i+1)*between })
		eventstest.CloseConnections(t, cfg.URL)
	}
	eventually.True(t, "publishing after the last cut", func() bool { return confirmed() >= (cuts+1)*between })
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	got.waitAll(t, ids)
	t.Logf("%d events confirmed, %d failed publishes retried; consumer saw %v", len(ids), failures, got)
	eventually.True(t, "the consumer ready again", func() bool { return c.Ready(ctx) == nil })
	if err := p.Ready(ctx); err != nil {
		t.Errorf("publisher Ready after recovery: %v", err)
	}
}

func TestConsumeStopsOnAQueueThatCanNeverBeDeclared(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	// The queue exists with other arguments: redeclaring it fails the same
	// way on every reconnect, so Consume must say so instead of looping.
	if _, err := mustChannel(t, cfg.URL).QueueDeclare("q", true, false, false, false, amqp.Table{"x-max-length": int32(5)}); err != nil {
		t.Fatal(err)
	}
	c, err := events.NewConsumer(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Consume(testContext(t), events.ConsumerConfig{Queue: "q", Bindings: []string{"#"}}, func(context.Context, events.Event) error { return nil })
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.PreconditionFailed {
		t.Errorf("Consume = %v, want a PRECONDITION_FAILED error", err)
	}
}

func TestConsumerRedeclaresDeletedQueues(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	tests := []struct {
		name   string
		delete string // suffix of the queue to delete
	}{
		// The broker cancels the subscription of a deleted queue.
		{"main queue", ""},
		// A failed message republished to a missing retry queue would be
		// dropped by the broker; the consumer must keep the original.
		{"retry queue", ".retry"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, queue := cfg, fmt.Sprintf("q%d", i)
			cfg.Exchange = fmt.Sprintf("test.events.%d", i)
			got := newCollector()
			var calls atomic.Int32
			h := func(ctx context.Context, e events.Event) error {
				if calls.Add(1) == 1 {
					return errors.New("first call fails")
				}
				return got.handle(ctx, e)
			}
			startConsumer(t, cfg, events.ConsumerConfig{Queue: queue, Bindings: []string{"product.*"}, RetryDelay: 10 * time.Millisecond}, h)
			p := mustPublisher(t, cfg)
			ch := mustChannel(t, cfg.URL)
			if _, err := ch.QueueDelete(queue+tt.delete, false, false, false); err != nil {
				t.Fatalf("delete queue: %v", err)
			}
			waitSubscribed(t, cfg.URL, queue)
			e := mustEvent(t, "product.created", "p-1", 1)
			if err := p.Publish(testContext(t), e); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			got.waitAll(t, []string{e.ID})
			for _, q := range []string{queue, queue + ".retry", queue + ".dlq"} {
				queueLen(t, ch, q) // fails the test if q is missing
			}
		})
	}
}

func TestABatchSettlesEachEventByItsOwnResult(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	var (
		mu       sync.Mutex
		handled  = map[string][]int{} // subject: the attempts it was handled on
		largest  int
		once     sync.Once
		first    = make(chan struct{})
		released = make(chan struct{})
	)
	h := func(ctx context.Context, es []events.Event) []error {
		once.Do(func() {
			close(first)
			<-released // the others wait in the prefetch window meanwhile
		})
		mu.Lock()
		defer mu.Unlock()
		largest = max(largest, len(es))
		errs := make([]error, len(es))
		for i, e := range es {
			handled[e.Subject] = append(handled[e.Subject], events.Attempt(ctx))
			if strings.HasPrefix(e.Subject, "fail") && events.Attempt(ctx) == 1 {
				errs[i] = errors.New("not yet")
			}
		}
		return errs
	}
	startBatchConsumer(t, cfg, events.ConsumerConfig{Queue: "q", Bindings: []string{"product.*"}, RetryDelay: 50 * time.Millisecond}, h)
	p := mustPublisher(t, cfg)
	subjects := []string{"ok-0", "ok-1", "fail-2", "ok-3", "fail-4", "ok-5", "ok-6", "ok-7", "fail-8", "ok-9"}
	publish := func(s string) {
		if err := p.Publish(testContext(t), mustEvent(t, "product.created", s, 1)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	publish(subjects[0])
	<-first
	for _, s := range subjects[1:] {
		publish(s)
	}
	ch := mustChannel(t, cfg.URL)
	eventually.True(t, "the others sent ahead to the consumer", func() bool { return queueLen(t, ch, "q") == 0 })
	close(released)

	m := cfg.Metrics
	eventually.True(t, "every event settled", func() bool { return count(t, m.Consumed.WithLabelValues("q")) == float64(len(subjects)) })
	for _, q := range []string{"q", "q.retry", "q.dlq"} {
		if n := queueLen(t, ch, q); n != 0 {
			t.Errorf("%d copies left in %s, want 0", n, q)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if largest < 2 {
		t.Errorf("the largest batch held %d events; the waiting ones should have come together", largest)
	}
	for _, s := range subjects {
		want := []int{1}
		if strings.HasPrefix(s, "fail") {
			want = []int{1, 2}
		}
		if diff := cmp.Diff(want, handled[s]); diff != "" {
			t.Errorf("attempts %s was handled on (-want +got):\n%s", s, diff)
		}
	}
}

func TestABatchConsumerLingersForTheMessagesThatFollowTheFirst(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	batches := make(chan int, 10)
	h := func(_ context.Context, es []events.Event) []error {
		batches <- len(es)
		return make([]error, len(es))
	}
	// The batch is full at five, long before the linger ends.
	startBatchConsumer(t, cfg, events.ConsumerConfig{Queue: "q", Bindings: []string{"product.*"}, Prefetch: 5, Linger: time.Minute}, h)
	p := mustPublisher(t, cfg)
	for i := range 5 {
		if err := p.Publish(testContext(t), mustEvent(t, "product.created", fmt.Sprint("p-", i), 1)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	select {
	case n := <-batches:
		if n != 5 {
			t.Errorf("the first batch held %d events, want all 5 published one after another", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no batch handled")
	}
}

package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
	"github.com/marketplace-go/marketplace/internal/platform/outbox"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/platform/proxytest"
)

// testTimeout bounds every test that talks to the servers.
const testTimeout = 60 * time.Second

// newDB returns a pool on a fresh database with the outbox and inbox,
// created the way a service does: Schema pasted into a goose migration.
func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	migrations := fstest.MapFS{
		"00001_outbox.sql": {Data: []byte("-- +goose Up\n" + outbox.Schema +
			"\n-- +goose Down\nDROP TABLE inbox;\nDROP TABLE outbox;\n")},
	}
	_, pool := pgtest.New(t, migrations)
	return pool
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
	return logtest.New(t, slog.LevelInfo)
}

// newBroker returns a configuration on a fresh vhost.
func newBroker(t *testing.T) events.Config {
	t.Helper()
	return eventstest.Config(t)
}

// mustPublisher connects a publisher that is closed when the test ends.
func mustPublisher(t *testing.T, cfg events.Config) *events.Publisher {
	t.Helper()
	return eventstest.Publisher(t, cfg, testLogger(t))
}

// receiver records every delivery of the events it consumes, duplicates
// included, in the order the handler saw them.
type receiver struct {
	mu  sync.Mutex
	got []events.Event
}

func (r *receiver) handle(_ context.Context, e events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, e)
	return nil
}

// events returns a copy of what was delivered so far.
func (r *receiver) events() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.got...)
}

// has reports whether the event with id was delivered.
func (r *receiver) has(id string) bool {
	for _, e := range r.events() {
		if e.ID == id {
			return true
		}
	}
	return false
}

// waitFor waits until every event in want was delivered at least once.
func (r *receiver) waitFor(t *testing.T, want []events.Event) {
	t.Helper()
	eventually.True(t, fmt.Sprintf("%d events delivered", len(want)), func() bool {
		seen := make(map[string]bool)
		for _, e := range r.events() {
			seen[e.ID] = true
		}
		for _, e := range want {
			if !seen[e.ID] {
				return false
			}
		}
		return true
	})
}

// startConsumer consumes every event on the exchange through a queue of the
// test's own; see startConsumerOn.
func startConsumer(t *testing.T, cfg events.Config) *receiver {
	t.Helper()
	return startConsumerOn(t, cfg, "outbox-test")
}

// startConsumerOn consumes every event on the exchange through queue, one
// message at a time so that the handler sees them in queue order, and waits
// until the queue is subscribed.
func startConsumerOn(t *testing.T, cfg events.Config, queue string) *receiver {
	t.Helper()
	c, err := events.NewConsumer(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	rcv := &receiver{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, events.ConsumerConfig{Queue: queue, Bindings: []string{"#"}}, rcv.handle)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
	conn, err := amqp.Dial(cfg.URL)
	if err != nil {
		t.Fatalf("dial broker: %v", err)
	}
	defer conn.Close()
	eventually.True(t, "queue subscribed", func() bool {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatalf("open channel: %v", err)
		}
		defer ch.Close()
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		return err == nil && q.Consumers > 0
	})
	return rcv
}

// fence publishes one more event straight to the broker and waits until it
// is delivered: the queue is FIFO, so everything published before it,
// duplicates included, has been delivered by then.
func fence(t *testing.T, pub *events.Publisher, rcv *receiver) {
	t.Helper()
	e := newEvent(t, "fence", 1)
	if err := pub.Publish(testContext(t), e); err != nil {
		t.Fatalf("publish fence: %v", err)
	}
	eventually.True(t, "fence delivered", func() bool { return rcv.has(e.ID) })
}

// withoutFences returns evs minus the events that fence published.
func withoutFences(evs []events.Event) []events.Event {
	var out []events.Event
	for _, e := range evs {
		if e.Subject != "fence" {
			out = append(out, e)
		}
	}
	return out
}

// newEvent builds a test event about subject.
func newEvent(t *testing.T, subject string, seq int64) events.Event {
	t.Helper()
	e, err := events.New("thing.changed", "outbox-test", subject, seq, 1, map[string]any{"seq": seq})
	if err != nil {
		t.Fatalf("events.New: %v", err)
	}
	return e
}

// addInTx adds evs in a transaction of their own that commits, or rolls
// back when commit is false.
func addInTx(t *testing.T, pool *pgxpool.Pool, commit bool, evs ...events.Event) {
	t.Helper()
	ctx := testContext(t)
	errRollback := errors.New("roll back")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := outbox.Add(ctx, tx, evs...); err != nil {
			return err
		}
		if !commit {
			return errRollback
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRollback) {
		t.Fatalf("add %d events: %v", len(evs), err)
	}
}

// pendingCount counts the rows left in the outbox.
func pendingCount(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(testContext(t), `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatalf("count outbox rows: %v", err)
	}
	return n
}

// flushAll flushes until a flush publishes nothing and returns what each
// flush reported.
func flushAll(t *testing.T, r *outbox.Relay) []int {
	t.Helper()
	var counts []int
	for {
		n, err := r.Flush(testContext(t))
		if err != nil {
			t.Fatalf("Flush after %v: %v", counts, err)
		}
		counts = append(counts, n)
		if n == 0 {
			return counts
		}
	}
}

// checkOrder fails unless got holds exactly the events of want, each once,
// with each subject's events in the order of want.
func checkOrder(t *testing.T, got, want []events.Event) {
	t.Helper()
	bySubject := func(evs []events.Event) map[string][]string {
		m := make(map[string][]string)
		for _, e := range evs {
			m[e.Subject] = append(m[e.Subject], e.ID)
		}
		return m
	}
	if diff := cmp.Diff(bySubject(want), bySubject(got)); diff != "" {
		t.Errorf("delivered event ids by subject (-want +got):\n%s", diff)
	}
}

// viaProxy returns cfg with its broker address replaced by the proxy's.
func viaProxy(t *testing.T, cfg events.Config) (events.Config, *proxytest.Proxy) {
	t.Helper()
	u, err := url.Parse(cfg.URL)
	if err != nil {
		t.Fatalf("parse broker url: %v", err)
	}
	p := proxytest.NewProxy(t, u.Host)
	u.Host = p.Addr()
	cfg.URL = u.String()
	return cfg, p
}

// runRelay runs relay until the test ends.
func runRelay(t *testing.T, relay *outbox.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	stopped := make(chan struct{})
	go func() { relay.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
}

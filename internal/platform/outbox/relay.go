package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// Publisher hands an event to the broker and returns once the broker has
// confirmed it. It must allow concurrent calls, as *events.Publisher does:
// the relay keeps several publishes in flight.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Options tunes a Relay; the zero value of each field takes its default.
type Options struct {
	// Name labels the relay's log lines and metrics, usually the service
	// name, so that the relays of several services in one process can be
	// told apart.
	Name string
	// Batch is the most events one flush publishes (default 100). A larger
	// batch keeps more publishes in flight; a smaller one holds the lock
	// for shorter and redoes less after a failure.
	Batch int
	// FlushTimeout bounds the publishing of one batch (default 30s). The
	// flush holds the relay lock throughout, so this is how long a dead
	// broker can keep every instance from relaying before the flush fails
	// and the lock is released (after a few more seconds at most to delete
	// what was confirmed).
	FlushTimeout time.Duration
	// Linger is how long a notified relay waits before it flushes
	// (default 10ms), so that the commits made meanwhile go out in one
	// batch: under a steady stream of orders, one flush (a transaction
	// with its lock, read and delete) per handful of events instead of
	// nearly one per event, for a few milliseconds of delay.
	Linger time.Duration
	// Registerer receives the relay's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Relay publishes the events that Add stored once their transaction has
// committed, then deletes them. If the process dies between the broker's
// confirm and the delete's commit, the event is published again after
// restart: delivery is at least once, and consumers de-duplicate by event
// id (see Seen) or by Subject and Sequence.
//
// Every instance of a service runs a Relay over the same table; an advisory
// lock lets one at a time flush, so that events are not published twice
// and each aggregate's events go out in order. The others' flushes return
// at once and retry shortly, in case the flush in progress began before
// their own writes committed.
type Relay struct {
	pool         *pgxpool.Pool
	pub          Publisher
	log          *slog.Logger
	interval     time.Duration
	batch        int
	flushTimeout time.Duration
	linger       time.Duration
	lockKey      int64
	metrics      *metrics
	wake         chan struct{}
}

const (
	// table is the outbox table that Schema creates.
	table = "outbox"
	// defaultInterval replaces an interval that is not positive, which
	// would otherwise turn the relay into a busy loop.
	defaultInterval = 5 * time.Second
	// defaultLinger replaces a Linger that is not positive.
	defaultLinger = 10 * time.Millisecond
	// finishTimeout bounds deleting what was confirmed and committing,
	// which must happen even when the flush's time or its caller's context
	// has run out: each event deleted is one not published twice.
	finishTimeout = 5 * time.Second
	// lockRetry is how soon a relay that found another flushing tries
	// again: the flush in progress may have started before this
	// instance's latest commit and so not see it.
	lockRetry = 50 * time.Millisecond
)

// NewRelay returns a relay with default Options; see NewRelayWithOptions.
func NewRelay(pool *pgxpool.Pool, pub Publisher, log *slog.Logger, interval time.Duration) *Relay {
	return NewRelayWithOptions(pool, pub, log, interval, Options{})
}

// NewRelayWithOptions returns a relay over pool's outbox table that looks
// for pending events when notified of a commit, and every interval for the
// ones it was not told about (left by a crash, committed by another
// instance, or by a transaction that committed after a later id). A nil log
// discards log output.
func NewRelayWithOptions(pool *pgxpool.Pool, pub Publisher, log *slog.Logger, interval time.Duration, opts Options) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = defaultInterval
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 30 * time.Second
	}
	if opts.Linger <= 0 {
		opts.Linger = defaultLinger
	}
	if opts.Name != "" {
		log = log.With("outbox", opts.Name)
	}
	if opts.Registerer != nil {
		// A second relay over the same outbox (tests, several instances
		// of a service in one process) reports it once.
		_ = opts.Registerer.Register(newBacklogCollector(pool, opts.Name))
	}
	return &Relay{
		pool:         pool,
		pub:          pub,
		log:          log,
		interval:     interval,
		batch:        opts.Batch,
		flushTimeout: opts.FlushTimeout,
		linger:       opts.Linger,
		lockKey:      advisoryLockKey(table),
		metrics:      newMetrics(opts.Registerer, opts.Name),
		wake:         make(chan struct{}, 1),
	}
}

// advisoryLockKey derives the relay lock's key from the table name, so that
// every instance of a service agrees on it without configuration, and a
// service with a second outbox table would get a lock of its own. The
// prefix keeps it clear of keys other code derives from the same name.
func advisoryLockKey(table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("marketplace outbox relay: " + table))
	return int64(h.Sum64())
}

// Notify wakes the relay: a transaction that called Add has committed.
// It never blocks. The relay flushes Options.Linger later; wake-ups that
// arrive meanwhile join that flush, and those that arrive during a flush
// fold into one more.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends, as events.RelayLoop describes.
//
// Ending ctx abandons the publishes in flight; those already confirmed are
// still deleted, and the rest are published again by the next flush, here
// or in another instance.
func (r *Relay) Run(ctx context.Context) {
	events.RelayLoop{Name: "outbox relay", Interval: r.interval, Batch: r.batch, BusyWait: lockRetry,
		Wake: r.wake, Flush: r.flush, Log: r.log, Linger: r.linger}.Run(ctx)
}

// Flush publishes up to one batch of pending events, the oldest ids first,
// deletes those the broker confirmed, and returns how many that was. When
// another relay is flushing it does nothing and returns 0 and no error.
//
// The batch is published concurrently, one chain of publishes per Subject,
// so that one aggregate's events stay in order while different aggregates'
// confirms overlap. After a publish fails no new one starts; the events
// confirmed so far are deleted, the rest stay for the next flush, and the
// first failure (in id order) is returned.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	n, _, err := r.flush(ctx)
	return n, err
}

// pending is one outbox row.
type pending struct {
	id      int64
	created time.Time
	event   events.Event
	trace   map[string]string // the writer's trace context, or nil
}

// flush is Flush that also reports whether another relay held the lock.
func (r *Relay) flush(ctx context.Context) (n int, busy bool, err error) {
	defer func() {
		if err != nil {
			r.metrics.failed()
		}
	}()
	// Deleting and committing get time of their own, even once ctx has
	// ended, so that confirmed events are not published again.
	finish := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	}
	fctx, cancel := context.WithTimeout(ctx, r.flushTimeout)
	defer cancel()

	tx, err := r.pool.Begin(fctx)
	if err != nil {
		return 0, false, fmt.Errorf("outbox: begin flush: %w", err)
	}
	defer func() {
		rctx, cancel := finish()
		defer cancel()
		_ = tx.Rollback(rctx) // after Commit, a no-op
	}()

	// The transaction-level lock is released by commit, rollback or a
	// dropped connection, so no path can leak it. The idle timeout is the
	// server's own guard against a relay process that stops responding
	// while holding it: the server ends the session a little after the
	// flush would have timed out.
	idle := r.flushTimeout + 2*finishTimeout
	var locked bool
	err = tx.QueryRow(fctx,
		`SELECT pg_try_advisory_xact_lock($1), set_config('idle_in_transaction_session_timeout', $2, true) IS NOT NULL`,
		r.lockKey, strconv.FormatInt(idle.Milliseconds(), 10)).Scan(&locked, new(bool))
	if err != nil {
		return 0, false, fmt.Errorf("outbox: take relay lock: %w", err)
	}
	if !locked {
		r.log.DebugContext(ctx, "outbox relay: another instance is flushing")
		return 0, true, nil
	}

	batch, err := r.load(fctx, tx)
	if err != nil || len(batch) == 0 {
		return 0, false, err
	}

	confirmed, pubErr := r.publish(fctx, batch)
	if len(confirmed) > 0 {
		done := make([]int64, len(confirmed))
		for i, p := range confirmed {
			done[i] = p.id
		}
		dctx, cancel := finish()
		defer cancel()
		if _, err := tx.Exec(dctx, `DELETE FROM outbox WHERE id = ANY($1)`, done); err != nil {
			return 0, false, fmt.Errorf("outbox: delete %d published events: %w", len(done), err)
		}
		if err := tx.Commit(dctx); err != nil {
			return 0, false, fmt.Errorf("outbox: commit deletion of %d published events: %w", len(done), err)
		}
		for _, p := range confirmed {
			r.metrics.confirmed(p.created)
		}
		r.log.DebugContext(ctx, "outbox relay: published events", "count", len(done))
	}
	return len(confirmed), false, pubErr
}

// load reads the first batch of pending events in id order.
func (r *Relay) load(ctx context.Context, tx pgx.Tx) ([]pending, error) {
	rows, err := tx.Query(ctx, `SELECT id, created_at, event, trace_context FROM outbox ORDER BY id LIMIT $1`, r.batch)
	if err != nil {
		return nil, fmt.Errorf("outbox: load pending events: %w", err)
	}
	var batch []pending
	var doc, trace []byte
	var p pending
	_, err = pgx.ForEachRow(rows, []any{&p.id, &p.created, &doc, &trace}, func() error {
		p.event, p.trace = events.Event{}, nil
		if err := json.Unmarshal(doc, &p.event); err != nil {
			// Only Add writes the table, so this is a row edited by hand;
			// it stops the relay until someone repairs or deletes it,
			// since skipping it could break its aggregate's order.
			return fmt.Errorf("decode row %d: %w", p.id, err)
		}
		// A trace context that does not decode costs the trace, never
		// the event.
		if len(trace) > 0 && json.Unmarshal(trace, &p.trace) != nil {
			p.trace = nil
		}
		batch = append(batch, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: load pending events: %w", err)
	}
	return batch, nil
}

// publish publishes batch, one goroutine per Subject, each publishing its
// subject's events in id order and starting the next only after the
// broker confirmed the previous one. It returns the confirmed events and
// the first failure in id order, if any.
func (r *Relay) publish(ctx context.Context, batch []pending) ([]pending, error) {
	bySubject := make(map[string]int)
	var chains [][]int // indexes into batch; chains in order of first event
	for i, p := range batch {
		c, ok := bySubject[p.event.Subject]
		if !ok {
			c = len(chains)
			bySubject[p.event.Subject] = c
			chains = append(chains, nil)
		}
		chains[c] = append(chains[c], i)
	}

	// Each goroutine writes only its own events' slots.
	errs := make([]error, len(batch))
	ok := make([]bool, len(batch))
	var stop atomic.Bool // set by the first failure: the broker is likely in trouble
	var wg sync.WaitGroup
	for _, chain := range chains {
		wg.Go(func() {
			for _, i := range chain {
				if stop.Load() {
					return
				}
				// The publish joins the trace of the transaction
				// that stored the event.
				if err := r.pub.Publish(tracing.FromCarrier(ctx, batch[i].trace), batch[i].event); err != nil {
					errs[i] = err
					stop.Store(true)
					return
				}
				ok[i] = true
			}
		})
	}
	wg.Wait()

	var done []pending
	var first error
	failed := 0
	for i, p := range batch {
		switch {
		case ok[i]:
			done = append(done, p)
		case errs[i] != nil:
			failed++
			if first == nil {
				first = fmt.Errorf("row %d, event %s: %w", p.id, p.event.ID, errs[i])
			}
		}
	}
	if first != nil {
		return done, fmt.Errorf("outbox: %d of %d events not confirmed, %d failed; first: %w",
			len(batch)-len(done), len(batch), failed, first)
	}
	return done, nil
}

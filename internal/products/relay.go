package products

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// Publisher hands an event to the broker and returns once the broker has
// confirmed it.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Relay publishes the events products carry until the broker confirms
// them, then removes them. If the process dies between the publish and the
// removal, the event is published again after restart: delivery is at least
// once, and consumers de-duplicate by event id (and product version).
type Relay struct {
	store    Store
	pub      Publisher
	log      *slog.Logger
	interval time.Duration
	batch    int
	wake     chan struct{}
}

// publishTimeout bounds one publish, connection included, so a dead broker
// turns into a retry with backoff rather than a relay stuck for good.
const publishTimeout = 10 * time.Second

// NewRelay returns a relay that looks for pending events when notified of
// a write, and every interval for the ones it was not told about (left by a
// crash, or by another instance that stopped).
func NewRelay(store Store, pub Publisher, log *slog.Logger, interval time.Duration) *Relay {
	return &Relay{store: store, pub: pub, log: log, interval: interval, batch: relayBatch, wake: make(chan struct{}, 1)}
}

// Notify wakes the relay: a write has left an event to publish. It never
// blocks. Between wake-ups the relay looks only every interval, for events
// a crash or another instance left.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends, as events.RelayLoop describes.
func (r *Relay) Run(ctx context.Context) {
	flush := func(ctx context.Context) (int, bool, error) {
		n, err := r.Flush(ctx)
		return n, false, err
	}
	// Batch 1: a flush that published anything is followed by another at
	// once, for the events written while it ran, which its read did not
	// see.
	events.RelayLoop{Name: "event relay", Interval: r.interval, Batch: 1, Wake: r.wake, Flush: flush, Log: r.log}.Run(ctx)
}

// relayBatch is how many products one flush reads: all that are pending
// (0, no limit), in one pass of one cursor, relayed as they arrive
// (EachPending). A limit would make the relay quadratic in its backlog on
// an embedded FerretDB: v1 applies a find's limit only after PostgreSQL has
// sent every matching document, so each limited batch transferred the whole
// backlog (a 100,000-product seed relayed 10-15 events/s, each find taking
// 8 s). Memory stays bounded: the cursor is read only as fast as products
// are handed to publishers (publishParallelism).
const relayBatch = 0

// publishParallelism is how many products' events a flush has in flight at
// once. A publish is mostly a wait for the broker's confirm, which costs
// the process next to nothing, so many overlap: one chain per product of a
// batch would be fine, this bounds the goroutines.
const publishParallelism = 64

// RelayWritesInFlight is how many removals of published events a relay
// has in flight at once: its share of the store's connections. The store's
// client sends an embedded FerretDB at most 16 commands at once; a relay
// taking all of them after a bulk load made every edit wait behind it for
// a connection, while half of them still keeps the server busy.
const RelayWritesInFlight = 8

// Flush publishes the events of every product pending when it starts, in
// one pass, and returns how many events it published. Each product's
// events go out in order, one after another, and a failure stops that
// product's chain, so no product's events are ever published out of order;
// different products are relayed concurrently. A product's published
// events are removed from it together, in one write, as soon as they are
// confirmed: publishing goes on while removals wait for their turn
// (RelayWritesInFlight). The first failure ends the pass: the broker or
// the store is likely in trouble, and the relay loop backs off.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	var (
		published atomic.Int64
		errs      = make([]error, 0, 1)
		mu        sync.Mutex
		g         errgroup.Group
		marks     = make(chan struct{}, RelayWritesInFlight)
	)
	g.SetLimit(publishParallelism)
	err := r.store.EachPending(ctx, r.batch, func(u Unpublished) error {
		mu.Lock()
		failed := len(errs) > 0
		mu.Unlock()
		if failed {
			return errPassEnded
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		g.Go(func() error {
			n, err := r.relay(ctx, u, marks)
			published.Add(int64(n))
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
		return nil
	})
	if err != nil && !errors.Is(err, errPassEnded) {
		// The products handed over are relayed all the same; the rest
		// wait for the next flush.
		mu.Lock()
		errs = append(errs, fmt.Errorf("load pending events: %w", err))
		mu.Unlock()
	}
	_ = g.Wait()
	return int(published.Load()), errors.Join(errs...)
}

// errPassEnded stops a flush's reading once a product failed; the
// failure is what the flush reports.
var errPassEnded = errors.New("relay pass ended by a failure")

// relay publishes one product's events in order until one fails, then
// removes those published from the product. It returns how many it
// published. marks holds a slot for each removal in flight.
func (r *Relay) relay(ctx context.Context, u Unpublished, marks chan struct{}) (int, error) {
	var n int
	var err error
	for _, ev := range u.Events {
		if err = r.publish(ctx, ev); err != nil {
			break
		}
		n++
	}
	if n > 0 {
		marks <- struct{}{}
		merr := r.store.MarkPublished(ctx, u, n)
		<-marks
		if merr != nil {
			err = errors.Join(err, fmt.Errorf("mark %d events of product %s published: %w", n, u.ProductID, merr))
		}
	}
	return n, err
}

func (r *Relay) publish(ctx context.Context, ev PendingEvent) error {
	e := events.Event{ID: ev.ID, Type: ev.Type, Version: ev.Version, Source: "products",
		Time: ev.Time, Subject: ev.Subject, Sequence: ev.Seq, Data: ev.Data}
	ctx, cancel := context.WithTimeout(tracing.FromCarrier(ctx, ev.Trace), publishTimeout)
	defer cancel()
	if err := r.pub.Publish(ctx, e); err != nil {
		return fmt.Errorf("publish %s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}

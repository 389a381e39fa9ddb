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
	return &Relay{store: store, pub: pub, log: log, interval: interval, batch: 100, wake: make(chan struct{}, 1)}
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
	events.RelayLoop{Name: "event relay", Interval: r.interval, Batch: r.batch, Wake: r.wake, Flush: flush, Log: r.log}.Run(ctx)
}

// relayParallelism is how many products' events a flush relays at once.
// Each event costs a publisher confirm and a document update, a few
// milliseconds of waiting for each: one at a time would cap the relay at a
// few hundred events a second, while the broker and the store would take
// many more.
const relayParallelism = 16

// Flush publishes the events of one batch of products and returns how
// many events it published. Each product's events go out in order, one
// after another, and a failure stops that product's chain, so no product's
// events are ever published out of order; different products are relayed
// concurrently. A product's published events are removed from it together,
// in one write.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	pending, err := r.store.PendingEvents(ctx, r.batch)
	if err != nil {
		return 0, fmt.Errorf("load pending events: %w", err)
	}
	var (
		published atomic.Int64
		errs      = make([]error, 0, 1)
		mu        sync.Mutex
		g         errgroup.Group
	)
	g.SetLimit(relayParallelism)
	for _, u := range pending {
		g.Go(func() error {
			n, err := r.relay(ctx, u)
			published.Add(int64(n))
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return int(published.Load()), errors.Join(errs...)
}

// relay publishes one product's events in order until one fails, then
// removes those published from the product. It returns how many it
// published.
func (r *Relay) relay(ctx context.Context, u Unpublished) (int, error) {
	var n int
	var err error
	for _, ev := range u.Events {
		if err = r.publish(ctx, ev); err != nil {
			break
		}
		n++
	}
	if n > 0 {
		if merr := r.store.MarkPublished(ctx, u, n); merr != nil {
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

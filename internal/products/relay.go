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
// blocks. Looking only when told matters: a search for pending events is a
// collection scan on FerretDB.
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

// Flush publishes one batch of pending events and returns how many it
// published. Each product's events go out in order, one after another, and
// a failure stops that product's chain, so no product's events are ever
// published out of order; different products are relayed concurrently.
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
	for _, chain := range bySubject(pending) {
		g.Go(func() error {
			for _, ev := range chain {
				if err := r.relay(ctx, ev); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return nil
				}
				published.Add(1)
			}
			return nil
		})
	}
	_ = g.Wait()
	return int(published.Load()), errors.Join(errs...)
}

// relay publishes one event, then removes it from its product.
func (r *Relay) relay(ctx context.Context, ev PendingEvent) error {
	e := events.Event{ID: ev.ID, Type: ev.Type, Version: ev.Version, Source: "products",
		Time: ev.Time, Subject: ev.Subject, Sequence: ev.Seq, Data: ev.Data}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	err := r.pub.Publish(pctx, e)
	cancel()
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", ev.Type, ev.ID, err)
	}
	if err := r.store.MarkPublished(ctx, ev); err != nil {
		return fmt.Errorf("mark %s published: %w", ev.ID, err)
	}
	return nil
}

// bySubject splits events into one chain per product, each in the order
// given, the chains in the order of their first event.
func bySubject(evs []PendingEvent) [][]PendingEvent {
	index := map[string]int{}
	var chains [][]PendingEvent
	for _, ev := range evs {
		i, ok := index[ev.Subject]
		if !ok {
			i = len(chains)
			index[ev.Subject] = i
			chains = append(chains, nil)
		}
		chains[i] = append(chains[i], ev)
	}
	return chains
}

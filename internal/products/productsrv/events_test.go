package productsrv_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/products"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
)

// change is what one event announces: its type, product and version.
type change struct {
	Type    string
	Subject string
	Seq     int64
}

func (c change) String() string { return fmt.Sprintf("%s %s@%d", c.Type, c.Subject, c.Seq) }

// about keeps the events of the given products.
func about(evs []events.Event, productIDs ...string) []events.Event {
	var out []events.Event
	for _, ev := range evs {
		if slices.Contains(productIDs, ev.Subject) {
			out = append(out, ev)
		}
	}
	return out
}

// checkExactlyOnceEffective checks that evs, de-duplicated by event id,
// announce each wanted change once, each product's in version order, and
// that a change never arrived under two ids.
func checkExactlyOnceEffective(t *testing.T, evs []events.Event, want []change) {
	t.Helper()
	idOf := map[change]string{}
	var got []change
	for _, ev := range dedupe(evs) {
		c := change{ev.Type, ev.Subject, ev.Sequence}
		if id, dup := idOf[c]; dup {
			t.Errorf("%s arrived under two ids, %s and %s: a consumer would apply it twice", c, id, ev.ID)
		}
		idOf[c] = ev.ID
		got = append(got, c)
	}
	byProduct := func(a, b change) int {
		if a.Subject != b.Subject {
			return strings.Compare(a.Subject, b.Subject)
		}
		return int(a.Seq - b.Seq)
	}
	sorted := slices.SortedStableFunc(slices.Values(got), byProduct)
	if diff := cmp.Diff(slices.SortedStableFunc(slices.Values(want), byProduct), sorted); diff != "" {
		t.Errorf("changes announced (-want +got):\n%s", diff)
	}
	last := map[string]int64{}
	for _, c := range got {
		if c.Seq <= last[c.Subject] {
			t.Errorf("%s arrived after version %d of the product", c, last[c.Subject])
		}
		last[c.Subject] = c.Seq
	}
}

// waitFor waits until the log holds n distinct events about the products.
func (l *eventLog) waitFor(t *testing.T, n int, productIDs ...string) []events.Event {
	t.Helper()
	var got []events.Event
	eventually.NoError(t, fmt.Sprintf("%d distinct events", n), func() error {
		if got = about(l.snapshot(), productIDs...); len(dedupe(got)) < n {
			return fmt.Errorf("%d arrived: %v", len(dedupe(got)), describe(got))
		}
		return nil
	})
	return got
}

// pendingCount counts the events waiting in the store's documents.
func pendingCount(t *testing.T, s products.Store) int {
	t.Helper()
	pending, err := s.PendingEvents(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range pending {
		n += len(u.Events)
	}
	return n
}

// waitNonePending waits for the relay to empty the store's outbox.
func waitNonePending(t *testing.T, s products.Store) {
	t.Helper()
	eventually.NoError(t, "no event pending", func() error {
		if n := pendingCount(t, s); n > 0 {
			return fmt.Errorf("%d pending", n)
		}
		return nil
	})
}

func TestEvents(t *testing.T) {
	t.Parallel()
	// An hour between polls: only the wake-up each write sends can deliver
	// these events in time.
	e := newEnv(t, func(c *productsrv.Config) { c.RelayInterval = time.Hour })
	log := consume(t, e.Config.Events.URL)
	runScenarios(t, e,
		scenario{"create, update and archive are announced in order", func(t *testing.T, e *testEnv) {
			testCreateUpdateAndArchiveAreAnnouncedInOrder(t, e, log)
		}},
		scenario{"rapid changes of many products lose no event", func(t *testing.T, e *testEnv) {
			testRapidChangesOfManyProductsLoseNoEvent(t, e, log)
		}},
	)
}

func testCreateUpdateAndArchiveAreAnnouncedInOrder(t *testing.T, e *testEnv, log *eventLog) {
	e.mustCategory(t, "announced", "")
	e.mustCategory(t, "announced-too", "")
	seller := e.seller(t)
	p := e.mustCreate(t, seller, productOf("announced", map[string]any{"title": "Herald lamp"}))
	e.mustPatch(t, seller, p.ID, 1, map[string]any{"title": "Herald lamp II", "price": price(2500, "EUR")})
	e.mustPatch(t, seller, p.ID, 2, map[string]any{"title": "Herald lamp II"}) // changes nothing: no event
	e.mustPatch(t, seller, p.ID, 2, map[string]any{"category": "announced-too", "attributes": map[string]any{"colour": "red"}})
	archived := e.mustArchive(t, seller, p.ID, 3)
	d := e.mustCreate(t, seller, productOf("announced", map[string]any{"title": "Herald draft", "status": "draft"}))
	e.mustPatch(t, seller, d.ID, 1, map[string]any{"status": "active"})

	got := log.waitFor(t, 6, p.ID, d.ID)
	checkExactlyOnceEffective(t, got, []change{
		{contracts.ProductCreated, p.ID, 1}, {contracts.ProductUpdated, p.ID, 2}, {contracts.ProductUpdated, p.ID, 3},
		{contracts.ProductArchived, p.ID, 4}, {contracts.ProductCreated, d.ID, 1}, {contracts.ProductUpdated, d.ID, 2},
	})
	wantChanged := map[string][]string{p.ID + "@2": {"title", "price"}, p.ID + "@3": {"category", "attributes"}, d.ID + "@2": {"status"}}
	for _, ev := range dedupe(got) {
		key := ev.Subject + "@" + strconv.FormatInt(ev.Sequence, 10)
		if ev.ID == "" || ev.Version != contracts.ProductEventVersion || ev.Source != "products" || ev.Time.IsZero() {
			t.Errorf("%s: envelope %+v", key, ev)
		}
		var payload struct {
			Changed []string            `json:"changed"`
			Product contracts.ProductV1 `json:"product"`
		}
		if err := json.Unmarshal(ev.Data, &payload); err != nil {
			t.Fatalf("%s: payload %s: %v", key, ev.Data, err)
		}
		if payload.Product.ID != ev.Subject || payload.Product.Version != ev.Sequence || payload.Product.SellerID != seller.ID {
			t.Errorf("%s: payload product %+v does not match the envelope", key, payload.Product)
		}
		switch ev.Type {
		case contracts.ProductUpdated:
			if diff := cmp.Diff(wantChanged[key], payload.Changed); diff != "" {
				t.Errorf("%s: changed fields (-want +got):\n%s", key, diff)
			}
		case contracts.ProductArchived:
			if payload.Product.Status != "archived" || !payload.Product.UpdatedAt.Equal(archived.UpdatedAt) {
				t.Errorf("archived payload %+v, want status archived at %v", payload.Product, archived.UpdatedAt)
			}
		case contracts.ProductCreated:
			if payload.Changed != nil {
				t.Errorf("%s: a created event lists changed fields %v", key, payload.Changed)
			}
		}
		if key == p.ID+"@2" && (payload.Product.Title != "Herald lamp II" || payload.Product.Price != 2500 || payload.Product.Currency != "EUR") {
			t.Errorf("update payload %+v, want the new title and price", payload.Product)
		}
	}
}

func testRapidChangesOfManyProductsLoseNoEvent(t *testing.T, e *testEnv, log *eventLog) {
	e.mustCategory(t, "rapid", "")
	seller := e.seller(t)
	const products, changes = 5, 8
	var (
		want []change
		made []string
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for i := range products {
		p := e.mustCreate(t, seller, productOf("rapid", map[string]any{"title": "Rapid " + strconv.Itoa(i)}))
		made = append(made, p.ID)
		mu.Lock()
		want = append(want, change{contracts.ProductCreated, p.ID, 1})
		mu.Unlock()
		// Each product changes in quick succession while the relay removes
		// the events it has published from the same documents.
		wg.Go(func() {
			for v := int64(1); v <= changes; v++ {
				r, err := e.request(seller, "PATCH", "/v1/products/"+p.ID, map[string]any{"price": price(1000+v, "EUR")}, "If-Match", etagOf(v))
				if err != nil || r.Status != 200 {
					t.Errorf("change %d of %s: %v %d %s", v, p.ID, err, r.Status, r.Body)
					return
				}
				mu.Lock()
				want = append(want, change{contracts.ProductUpdated, p.ID, v + 1})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got := log.waitFor(t, len(want), made...)
	checkExactlyOnceEffective(t, got, want)
	for _, id := range made {
		if p := e.mustGet(t, seller, id); p.Version != changes+1 || p.Price.Amount != 1000+changes {
			t.Errorf("%s ended at version %d price %d", id, p.Version, p.Price.Amount)
		}
	}
}

func TestNoEventIsLostWhileTheBrokerIsUnreachable(t *testing.T) {
	t.Parallel()
	cfg, issuer := testConfig(t)
	live := cfg.Events.URL
	offline := cfg
	offline.Events.URL = eventstest.DeadURL(t)
	log := consume(t, live)

	// The first instance cannot reach the broker: writes succeed and their
	// events wait in the products' documents.
	a := startEnv(t, offline, issuer)
	a.mustCategory(t, "offline", "")
	seller := a.seller(t)
	var want []change
	var made []string
	for i := range 3 {
		p := a.mustCreate(t, seller, productOf("offline", map[string]any{"title": "Offline " + strconv.Itoa(i)}))
		a.mustPatch(t, seller, p.ID, 1, map[string]any{"title": "Offline changed " + strconv.Itoa(i)})
		made = append(made, p.ID)
		want = append(want, change{contracts.ProductCreated, p.ID, 1}, change{contracts.ProductUpdated, p.ID, 2})
	}
	a.mustArchive(t, seller, made[0], 2)
	a.mustPatch(t, seller, made[1], 2, map[string]any{"price": price(5000, "EUR")})
	want = append(want, change{contracts.ProductArchived, made[0], 3}, change{contracts.ProductUpdated, made[1], 3})
	if n := pendingCount(t, a.Products.Store); n != len(want) {
		t.Fatalf("%d events pending, want %d", n, len(want))
	}
	// It dies with the events unpublished.
	a.Stop()
	if got := log.snapshot(); len(got) != 0 {
		t.Fatalf("events arrived from an instance that cannot reach the broker: %v", describe(got))
	}

	// An instance that can reach the broker delivers all of them.
	b := startEnv(t, cfg, issuer)
	log.waitFor(t, len(want), made...)
	waitNonePending(t, b.Products.Store)
	checkExactlyOnceEffective(t, log.snapshot(), want)
}

// startWithOwnRelay starts the service with its relay out of the way (its
// broker unreachable) and returns it with a publisher to the live broker,
// for a test to run relays of its own, and the log of what reaches it.
func startWithOwnRelay(t *testing.T) (*testEnv, *eventLog, *events.Publisher) {
	t.Helper()
	cfg, issuer := testConfig(t)
	live := cfg.Events.URL
	cfg.Events.URL = eventstest.DeadURL(t)
	e := startEnv(t, cfg, issuer)
	log := consume(t, live)
	pub, err := events.NewPublisher(context.Background(), events.Config{URL: live, Name: "products-test-relay"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	return e, log, pub
}

// forgetfulStore publishes but never removes: the process died between
// the broker's confirm and the removal of the published event.
type forgetfulStore struct{ products.Store }

func (forgetfulStore) MarkPublished(context.Context, products.Unpublished, int) error { return nil }

func TestARepublishedEventKeepsItsID(t *testing.T) {
	t.Parallel()
	e, log, pub := startWithOwnRelay(t)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	flush := func(t *testing.T, s products.Store) int {
		t.Helper()
		n, err := products.NewRelay(s, pub, quiet, time.Hour).Flush(ctx)
		if err != nil {
			t.Fatalf("flush: %v", err)
		}
		return n
	}

	e.mustCategory(t, "resent", "")
	seller := e.seller(t)
	p := e.mustCreate(t, seller, productOf("resent", nil))
	q := e.mustCreate(t, seller, productOf("resent", nil))
	e.mustPatch(t, seller, p.ID, 1, map[string]any{"title": "Resent"})
	want := []change{{contracts.ProductCreated, p.ID, 1}, {contracts.ProductUpdated, p.ID, 2}, {contracts.ProductCreated, q.ID, 1}}

	t.Run("a crash after publishing publishes again under the same ids", func(t *testing.T) {
		if n := flush(t, forgetfulStore{e.Products.Store}); n != 3 {
			t.Fatalf("the crashing relay published %d, want 3", n)
		}
		log.waitFor(t, 3, p.ID, q.ID)
		if n := pendingCount(t, e.Products.Store); n != 3 {
			t.Fatalf("%d events pending after the crash, want 3", n)
		}
		if n := flush(t, e.Products.Store); n != 3 {
			t.Fatalf("the restarted relay published %d, want 3", n)
		}
		waitNonePending(t, e.Products.Store)
		if n := flush(t, e.Products.Store); n != 0 {
			t.Errorf("a third flush published %d, want 0", n)
		}
		log.fence(t)
		all := about(log.snapshot(), p.ID, q.ID)
		checkIdenticalCopies(t, all, 2)
		checkExactlyOnceEffective(t, all, want)
	})
	t.Run("two relays at once duplicate events only under the same ids", func(t *testing.T) {
		r := e.mustCreate(t, seller, productOf("resent", nil))
		e.mustPatch(t, seller, r.ID, 1, map[string]any{"title": "Raced"})
		e.mustArchive(t, seller, r.ID, 2)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if _, err := products.NewRelay(e.Products.Store, pub, quiet, time.Hour).Flush(ctx); err != nil {
					t.Errorf("flush: %v", err)
				}
			})
		}
		wg.Wait()
		waitNonePending(t, e.Products.Store)
		log.fence(t) // both relays have returned: whatever they published is in the log now
		checkExactlyOnceEffective(t, about(log.snapshot(), r.ID), []change{
			{contracts.ProductCreated, r.ID, 1}, {contracts.ProductUpdated, r.ID, 2}, {contracts.ProductArchived, r.ID, 3},
		})
	})
}

// checkIdenticalCopies checks that every event arrived n times, each copy
// the same.
func checkIdenticalCopies(t *testing.T, evs []events.Event, n int) {
	t.Helper()
	byID := map[string][]events.Event{}
	for _, ev := range evs {
		byID[ev.ID] = append(byID[ev.ID], ev)
	}
	for id, copies := range byID {
		if len(copies) != n {
			t.Errorf("event %s arrived %d times, want %d", id, len(copies), n)
		}
		for _, c := range copies[1:] {
			if diff := cmp.Diff(copies[0], c); diff != "" {
				t.Errorf("copies of %s differ (-first +later):\n%s", id, diff)
			}
		}
	}
}

// gatheringPublisher holds every publish until until of them have arrived,
// so that a relay publishing fewer products' events at once stalls (and
// fails once the publish's own timeout ends it) rather than passing.
type gatheringPublisher struct {
	products.Publisher
	until   int64
	arrived atomic.Int64
	all     chan struct{} // closed when until publishes have arrived
}

func (p *gatheringPublisher) Publish(ctx context.Context, e events.Event) error {
	if p.arrived.Add(1) == p.until {
		close(p.all)
	}
	select {
	case <-p.all:
		return p.Publisher.Publish(ctx, e)
	case <-ctx.Done():
		return fmt.Errorf("%d publishes at once, want %d: %w", p.arrived.Load(), p.until, ctx.Err())
	}
}

// countingStore records the most removals of published events in flight
// at once.
type countingStore struct {
	products.Store
	mu             sync.Mutex
	inFlight, most int
}

func (s *countingStore) MarkPublished(ctx context.Context, u products.Unpublished, n int) error {
	s.mu.Lock()
	s.inFlight++
	s.most = max(s.most, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	return s.Store.MarkPublished(ctx, u, n)
}

func TestTheRelayPublishesManyProductsAtOnceButRemovesOnlyAFewAtATime(t *testing.T) {
	t.Parallel()
	e, log, pub := startWithOwnRelay(t)
	ctx := context.Background()

	e.mustCategory(t, "gathered", "")
	seller := e.seller(t)
	const n = 3 * products.RelayWritesInFlight
	var ids []string
	var want []change
	for range n {
		p := e.mustCreate(t, seller, productOf("gathered", nil))
		ids = append(ids, p.ID)
		want = append(want, change{contracts.ProductCreated, p.ID, 1})
	}

	// Twice the relay's store writes must be publishing at once: edits
	// keep the rest of the store's connections, the broker's confirms
	// still overlap.
	gather := &gatheringPublisher{Publisher: pub, until: 2 * products.RelayWritesInFlight, all: make(chan struct{})}
	store := &countingStore{Store: e.Products.Store}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	published, err := products.NewRelay(store, gather, quiet, time.Hour).Flush(ctx)
	if err != nil || published != n {
		t.Fatalf("flush = %d, %v; want %d published", published, err, n)
	}
	if store.most > products.RelayWritesInFlight {
		t.Errorf("%d removals of published events at once, want at most %d", store.most, products.RelayWritesInFlight)
	}
	waitNonePending(t, e.Products.Store)
	log.fence(t)
	checkExactlyOnceEffective(t, about(log.snapshot(), ids...), want)
}

// failingPublisher refuses every event, as a broker that is down does, and
// counts the attempts.
type failingPublisher struct{ calls atomic.Int64 }

func (p *failingPublisher) Publish(context.Context, events.Event) error {
	p.calls.Add(1)
	return errors.New("broker down")
}

func TestARelayPassEndsAtTheFirstFailureAndKeepsEveryEvent(t *testing.T) {
	t.Parallel()
	cfg, issuer := testConfig(t)
	cfg.Events.URL = eventstest.DeadURL(t) // the service's own relay stays out of the way
	e := startEnv(t, cfg, issuer)
	// A backlog many times what one pass keeps in flight, written as a
	// bulk load does.
	const backlog = 500
	now := time.Now().UTC().Truncate(time.Millisecond)
	ps, evs := make([]products.Product, backlog), make([]products.PendingEvent, backlog)
	for i := range ps {
		ps[i] = products.Product{ID: uuid.NewString(), SellerID: "seller", Title: fmt.Sprintf("Backlog %d", i), Category: "none",
			Price: products.Money{Amount: 100, Currency: "EUR"}, Images: []string{}, Attributes: map[string]any{},
			Status: products.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
		evs[i] = products.PendingEvent{ID: uuid.NewString(), Type: contracts.ProductCreated, Version: 1, Subject: ps[i].ID,
			Seq: 1, Time: now, Data: json.RawMessage(`{}`)}
	}
	if err := e.Products.Store.InsertProducts(context.Background(), ps, evs); err != nil {
		t.Fatal(err)
	}

	pub := &failingPublisher{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := products.NewRelay(e.Products.Store, pub, quiet, time.Hour).Flush(context.Background())
	if err == nil || n != 0 {
		t.Fatalf("flush = %d, %v; want 0 published and the failure", n, err)
	}
	if calls := pub.calls.Load(); calls >= backlog/2 {
		t.Errorf("%d publishes tried after the first failed, want the pass to stop long before the %d products", calls, backlog)
	}
	if got := pendingCount(t, e.Products.Store); got != backlog {
		t.Errorf("%d events pending after the failed pass, want all %d", got, backlog)
	}
}

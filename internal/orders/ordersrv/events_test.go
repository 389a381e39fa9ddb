package ordersrv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/outbox"
	"github.com/marketplace-go/marketplace/internal/platform/proxytest"
)

// orderEvents is a consumer of order events that de-duplicates through an
// inbox, as a downstream service would, and logs what its handler applied.
type orderEvents struct {
	mu      sync.Mutex
	applied []events.Event
	fences  map[string]bool // ids of the fences seen, kept out of applied
}

// fenceType is the type of the events settle publishes.
const fenceType = "order.test_fence"

func (w *world) consumeOrders(t *testing.T) *orderEvents {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), w.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c, err := events.NewConsumer(events.Config{URL: w.cfg.Events.URL, Name: "test-consumer"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	log := &orderEvents{fences: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cc := events.ConsumerConfig{Queue: "test.orders", Bindings: []string{"order.*", "suborder.*"}}
		_ = c.Consume(ctx, cc, func(ctx context.Context, e events.Event) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				seen, err := outbox.Seen(ctx, tx, "test.orders", e.ID)
				if err != nil || seen {
					return err
				}
				log.mu.Lock()
				defer log.mu.Unlock()
				if e.Type == fenceType {
					log.fences[e.ID] = true
				} else {
					log.applied = append(log.applied, e)
				}
				return nil
			})
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	// Ready says nothing before Consume has started, and events published
	// before the queue is bound are lost: fences are published until one
	// arrives.
	var sent []string
	eventually.True(t, "the test consumer bound", func() bool {
		sent = append(sent, w.publishFence(t))
		return slices.ContainsFunc(sent, log.fenced)
	})
	return log
}

// publishFence publishes a fence for the order events' consumer and
// returns its id.
func (w *world) publishFence(t *testing.T) string {
	t.Helper()
	fence, err := events.New(fenceType, "test", uuid.NewString(), 1, 1, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.pub.Publish(context.Background(), fence); err != nil {
		t.Fatal(err)
	}
	return fence.ID
}

func (l *orderEvents) fenced(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fences[id]
}

// waitFor waits until n events have been applied and returns them.
func (l *orderEvents) waitFor(t *testing.T, n int) []events.Event {
	t.Helper()
	return eventually.Value(t, fmt.Sprintf("%d events applied", n), func() ([]events.Event, bool) {
		got := l.events()
		return got, len(got) >= n
	})
}

func (l *orderEvents) events() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.applied)
}

// settle waits until every order event has been relayed (the outbox of the
// world's database is empty) and then until a fence published after that
// has been applied. The queue is FIFO, so everything the relay published,
// duplicates included, has been applied by then: what the log holds is
// final, and a test may assert that something is not there.
func (w *world) settle(t *testing.T, log *orderEvents) []events.Event {
	t.Helper()
	eventually.NoError(t, "the outbox relayed", func() error {
		if n := w.queryInt(t, `SELECT count(*) FROM outbox`); n > 0 {
			return fmt.Errorf("%d events waiting", n)
		}
		return nil
	})
	fence := w.publishFence(t)
	eventually.True(t, "the fence applied", func() bool { return log.fenced(fence) })
	return log.events()
}

func describe(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s#%d", e.Type, e.Subject[len(e.Subject)-4:], e.Sequence))
	}
	return out
}

func TestEveryOrderChangePublishesOneEventInOrder(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	log := e.consumeOrders(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 1200, "EUR", 9)
	o := e.mustCheckout(t, buyer, item(p, 1))
	o = e.mustPay(t, buyer, o.ID, "pm_card_visa")
	sub := o.SubOrders[0].ID
	e.Do(t, seller, "POST", "/v1/sub-orders/"+sub+"/ship", map[string]any{"tracking_number": "TRACK-1"}).Want(t, http.StatusOK)
	e.Do(t, seller, "POST", "/v1/sub-orders/"+sub+"/deliver", nil).Want(t, http.StatusOK)
	declined := e.mustCheckout(t, buyer, item(p, 1))
	e.mustPay(t, buyer, declined.ID, payment.DeclinedPaymentMethod)
	cancelled := e.mustCheckout(t, buyer, item(p, 1))
	e.Do(t, buyer, "POST", "/v1/orders/"+cancelled.ID+"/cancel", nil).Want(t, http.StatusOK)

	got := log.waitFor(t, 9)
	var first []string
	for _, ev := range got {
		if ev.Subject == o.ID {
			first = append(first, fmt.Sprintf("%s#%d", ev.Type, ev.Sequence))
		}
	}
	want := []string{"order.created#1", "order.paid#2", "suborder.shipped#3", "suborder.delivered#4", "order.delivered#5"}
	if !slices.Equal(first, want) {
		t.Errorf("events of the delivered order %v, want %v", first, want)
	}
	types := map[string]string{}
	for _, ev := range got {
		types[ev.Subject] += ev.Type + " "
	}
	if types[declined.ID] != "order.created order.payment_failed " || types[cancelled.ID] != "order.created order.cancelled " {
		t.Errorf("events of the declined and cancelled orders: %q, %q", types[declined.ID], types[cancelled.ID])
	}
	var shipped contracts.OrderChangedV1
	for _, ev := range got {
		if ev.Type == contracts.SubOrderShipped {
			if err := json.Unmarshal(ev.Data, &shipped); err != nil {
				t.Fatal(err)
			}
		}
	}
	if shipped.SubOrderID != sub || shipped.Order.SubOrders[0].TrackingNumber != "TRACK-1" || shipped.Order.SubOrders[0].Lines[0].ProductID != p.ID {
		t.Errorf("suborder.shipped payload %+v", shipped)
	}
}

func TestNoEventIsLostOrAppliedTwiceWhileTheBrokerIsDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	log := w.consumeOrders(t)
	down := w.cfg
	down.Events.URL = eventstest.DeadURL(t)
	gw := payment.NewSimulated(payment.SimulatedConfig{})
	a := w.startWith(t, down, gw)
	seller, buyer := w.seller(t), w.buyer(t)
	// With the broker down the projection hears nothing: products come
	// from the catalog.
	p := orders.Product{ID: "0193a6d0-0000-7000-8000-000000000001", SellerID: seller.ID, Title: "Kettle",
		Price: orders.Money{Amount: 3000, Currency: "EUR"}, Status: orders.ProductActive, Version: 1}
	w.catalog.put(p)
	a.Do(t, seller, "PUT", "/v1/stock/"+p.ID, map[string]any{"on_hand": 100}).Want(t, http.StatusOK)
	var ids []string
	for i := range 10 {
		o := a.mustCheckout(t, buyer, map[string]any{"product_id": p.ID, "quantity": 1})
		if i%2 == 0 {
			a.mustPay(t, buyer, o.ID, "pm_card_visa")
		}
		ids = append(ids, o.ID)
	}
	a.Stop()

	// The next instance reaches the broker and relays what waited.
	b := w.start(t, gw)
	log.waitFor(t, 15)
	got := w.settle(t, log)
	if len(got) != 15 {
		t.Fatalf("%d events applied, want 15 (10 created, 5 paid): %v", len(got), describe(got))
	}
	seen := map[string]bool{}
	for _, ev := range got {
		key := fmt.Sprintf("%s %s", ev.Type, ev.Subject)
		if seen[key] {
			t.Errorf("%s applied twice", key)
		}
		seen[key] = true
	}
	for i, id := range ids {
		if !seen["order.created "+id] || (i%2 == 0) != seen["order.paid "+id] {
			t.Errorf("order %d: events %v", i, describe(got))
		}
	}
	_ = b
}

func TestTheProjectionIgnoresDuplicatesAndOlderVersions(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller := e.seller(t)
	p := e.product(t, seller, 100, "EUR", 1)
	v3 := p
	v3.Title, v3.Price, v3.Version = "Third", 300, 3
	e.publishProduct(t, contracts.ProductUpdated, v3)
	e.waitProjection(t, p.ID, 3)
	v2 := p
	v2.Title, v2.Price, v2.Version = "Second", 200, 2
	e.publishProduct(t, contracts.ProductUpdated, v2) // late
	e.publishProduct(t, contracts.ProductUpdated, v3) // again
	marker := e.product(t, seller, 1, "EUR", 1)       // published after both: once it is in, they were handled
	_ = marker
	got := e.waitProjection(t, p.ID, 3)
	if got.Title != "Third" || got.Price.Amount != 300 || got.Version != 3 {
		t.Errorf("projection %+v, want version 3 kept", got)
	}
	// Archived products cannot be bought.
	archived := v3
	archived.Status, archived.Version = "archived", 4
	e.publishProduct(t, contracts.ProductUpdated, archived)
	e.waitProjection(t, p.ID, 4)
	e.checkout(t, e.buyer(t), item(v3, 1)).WantProblem(t, http.StatusUnprocessableEntity, "product_unavailable")
}

func TestProductsTheProjectionLacksAreFetchedAndABrokenCatalogFailsFast(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := orders.Product{ID: "0193a6d0-0000-7000-8000-0000000000aa", SellerID: seller.ID, Title: "Fetched",
		Price: orders.Money{Amount: 777, Currency: "GBP"}, Status: orders.ProductActive, Version: 5}
	e.catalog.put(p)
	e.Do(t, seller, "PUT", "/v1/stock/"+p.ID, map[string]any{"on_hand": 2}).Want(t, http.StatusOK)
	o := e.mustCheckout(t, buyer, map[string]any{"product_id": p.ID, "quantity": 2})
	if o.Total.Amount != 1554 || o.Total.Currency != "GBP" {
		t.Errorf("order total %+v", o.Total)
	}

	// A seller stocks its own draft before the projection hears of it:
	// the catalog is asked on the seller's behalf. A buyer still cannot
	// buy it.
	draft := orders.Product{ID: "0193a6d0-0000-7000-8000-0000000000ab", SellerID: seller.ID, Title: "Draft",
		Price: orders.Money{Amount: 100, Currency: "GBP"}, Status: "draft", Version: 1}
	e.catalog.put(draft)
	e.Do(t, seller, "PUT", "/v1/stock/"+draft.ID, map[string]any{"on_hand": 3}).Want(t, http.StatusOK)
	e.checkout(t, buyer, map[string]any{"product_id": draft.ID, "quantity": 1}).WantProblem(t, http.StatusUnprocessableEntity, "product_unavailable")

	// The catalog goes down: unknown products get 503 with Retry-After,
	// and after a few failures the breaker stops calling it at all.
	before := e.catalog.setFailing(true)
	for i := range 8 {
		r := e.checkout(t, buyer, map[string]any{"product_id": fmt.Sprintf("0193a6d0-0000-7000-8000-%012d", i), "quantity": 1})
		r.WantProblem(t, http.StatusServiceUnavailable, "catalog_unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	calls := e.catalog.setFailing(true) - before
	if calls >= 8*3 {
		t.Errorf("%d calls to a failing catalog for 8 checkouts: the breaker never opened", calls)
	}
	// Products the projection holds still sell.
	e.Do(t, seller, "PUT", "/v1/stock/"+p.ID, map[string]any{"on_hand": 5}).Want(t, http.StatusOK)
	e.mustCheckout(t, buyer, map[string]any{"product_id": p.ID, "quantity": 1})
}

func TestOrdersPlacedWhileRabbitMQIsStoppedHaveTheirEventsDeliveredOnceItIsBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	log := w.consumeOrders(t)
	u, err := url.Parse(w.cfg.Events.URL)
	if err != nil {
		t.Fatal(err)
	}
	broker := proxytest.NewProxy(t, u.Host)
	u.Host = broker.Addr()
	cfg := w.cfg
	cfg.Events.URL = u.String()
	e := w.startWith(t, cfg, payment.NewSimulated(payment.SimulatedConfig{}))
	e.waitSubscribed(t)
	seller, buyer := w.seller(t), w.buyer(t)
	p := e.product(t, seller, 250, "EUR", 100)
	before := e.mustCheckout(t, buyer, item(p, 1))
	// Its event applied is not enough: the relay deletes it from the
	// outbox only after the broker's confirm, which stopping the broker
	// now could cut off, leaving it to be published again.
	w.settle(t, log)

	broker.Stop()
	var during []string
	for i := range 6 {
		o := e.mustCheckout(t, buyer, item(p, 1))
		if i%2 == 0 {
			e.mustPay(t, buyer, o.ID, "pm_card_visa")
		}
		during = append(during, o.ID)
	}
	// Every change wrote its event to the outbox in its transaction; with
	// the broker stopped, the relay can have published none of them.
	if n := w.queryInt(t, `SELECT count(*) FROM outbox`); n != 6+3 {
		t.Errorf("%d events waiting in the outbox while the broker is stopped, want 9", n)
	}
	if got := log.events(); len(got) != 1 {
		t.Fatalf("%d events got through a stopped broker", len(got))
	}

	broker.Start(t)
	log.waitFor(t, 1+6+3)
	got := w.settle(t, log)
	seen := map[string]int{}
	for _, ev := range got {
		seen[ev.Type+" "+ev.Subject]++
	}
	for key, n := range seen {
		if n != 1 {
			t.Errorf("%s applied %d times", key, n)
		}
	}
	if len(got) != 10 || seen["order.created "+before.ID] != 1 {
		t.Errorf("%d events applied, want 10: %v", len(got), describe(got))
	}
	for i, id := range during {
		if seen["order.created "+id] != 1 || (i%2 == 0) != (seen["order.paid "+id] == 1) {
			t.Errorf("order %d placed while the broker was down: events %v", i, describe(got))
		}
	}
}

package orderdb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/orderdb"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
)

// newStore returns a store over a fresh, migrated database of the test's own.
func newStore(t *testing.T) *orderdb.Store {
	t.Helper()
	s, _ := newStoreAndPool(t)
	return s
}

// newStoreAndPool is newStore with the pool under it, for tests that look
// at the rows themselves.
func newStoreAndPool(t *testing.T) (*orderdb.Store, *pgxpool.Pool) {
	t.Helper()
	_, pool := pgtest.New(t, orderdb.Migrations())
	return orderdb.New(pool, testKeyring(t)), pool
}

func testKeyring(t *testing.T) *fieldcrypt.Keyring {
	t.Helper()
	pii, err := fieldcrypt.NewKeyring([]fieldcrypt.Key{{ID: "k1", Secret: bytes.Repeat([]byte{1}, fieldcrypt.KeySize)}})
	if err != nil {
		t.Fatal(err)
	}
	return pii
}

// newCountedStore is newStore over a pool of one connection that counts
// the round trips the store makes: the one connection also shows that a
// transaction the server refused leaves it fit for the next.
func newCountedStore(t *testing.T) (*orderdb.Store, *roundTrips) {
	t.Helper()
	s, _, trips := newCountedStoreAndPool(t)
	return s, trips
}

// newCountedStoreAndPool is newCountedStore with its pool, which a test
// can hold to make transactions queue.
func newCountedStoreAndPool(t *testing.T) (*orderdb.Store, *pgxpool.Pool, *roundTrips) {
	t.Helper()
	url, _ := pgtest.New(t, orderdb.Migrations())
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	trips := &roundTrips{}
	cfg.MaxConns = 1
	cfg.ConnConfig.Tracer = trips
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return orderdb.New(pool, testKeyring(t)), pool, trips
}

// roundTrips counts the queries and batches sent, each one round trip.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// during returns how many round trips fn made.
func (r *roundTrips) during(fn func()) int64 {
	before := r.n.Load()
	fn()
	return r.n.Load() - before
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// mustProduct stores an active product of a new seller at version 1 with
// onHand units, and returns it.
func mustProduct(t *testing.T, s *orderdb.Store, price int64, onHand int64) orders.Product {
	t.Helper()
	ctx := t.Context()
	p := orders.Product{ID: newID(), SellerID: newID(), Title: "Lamp " + newID()[:8], Price: orders.Money{Amount: price, Currency: "EUR"},
		Status: orders.ProductActive, Version: 1}
	if saved, err := s.SaveProduct(ctx, p, ""); err != nil || !saved {
		t.Fatalf("SaveProduct = %v, %v", saved, err)
	}
	inTx(t, s, func(tx orders.Tx) error {
		_, err := tx.SetStock(ctx, p.ID, onHand)
		return err
	})
	return p
}

// inTx runs fn in a transaction and fails the test on error.
func inTx(t *testing.T, s *orderdb.Store, fn func(orders.Tx) error) {
	t.Helper()
	if err := s.InTx(t.Context(), fn); err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

func mustStock(t *testing.T, s *orderdb.Store, productID string) orders.Stock {
	t.Helper()
	st, err := s.Stock(t.Context(), productID)
	if err != nil {
		t.Fatalf("Stock: %v", err)
	}
	return st
}

func TestTheProjectionKeepsTheNewestVersionOfAProduct(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p := orders.Product{ID: newID(), SellerID: newID(), Title: "v2", Price: orders.Money{Amount: 200, Currency: "EUR"}, Status: "active", Version: 2}
	steps := []struct {
		name      string
		title     string
		version   int64
		eventID   string
		wantSaved bool
		wantTitle string
	}{
		{"the first copy is stored", "v2", 2, "", true, "v2"},
		{"an older version changes nothing", "v1", 1, "", false, "v2"},
		{"the same version changes nothing", "v2 again", 2, "", false, "v2"},
		{"a newer version replaces it", "v3", 3, "e3", true, "v3"},
		{"the same event again changes nothing, even with a newer version", "v4", 4, "e3", false, "v3"},
		{"a new event with a newer version replaces it", "v4", 4, "e4", true, "v4"},
	}
	for _, st := range steps {
		p.Title, p.Version = st.title, st.version
		saved, err := s.SaveProduct(ctx, p, st.eventID)
		if err != nil || saved != st.wantSaved {
			t.Fatalf("%s: SaveProduct = %v, %v; want %v", st.name, saved, err, st.wantSaved)
		}
		got, err := s.Products(ctx, []string{p.ID})
		if err != nil || got[p.ID].Title != st.wantTitle {
			t.Fatalf("%s: Products = %+v, %v; want title %q", st.name, got, err, st.wantTitle)
		}
	}
	if got, err := s.Products(ctx, []string{newID()}); err != nil || len(got) != 0 {
		t.Errorf("Products of an unknown id = %v, %v; want it absent", got, err)
	}
}

func TestStockChangesKeepReservedWithinOnHand(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p := mustProduct(t, s, 100, 10)
	if _, err := s.Stock(ctx, newID()); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("Stock of a product never stocked: %v, want ErrNotFound", err)
	}
	item := []orders.Item{{ProductID: p.ID, Quantity: 4}}
	steps := []struct {
		name                   string
		change                 func(orders.Tx) error
		wantErr                error
		onHand, reserved, free int64
	}{
		{"reserving holds units", func(tx orders.Tx) error { return tx.Reserve(ctx, item) }, nil, 10, 4, 6},
		{"adjusting adds to on hand", func(tx orders.Tx) error { _, err := tx.AdjustStock(ctx, p.ID, 5); return err }, nil, 15, 4, 11},
		{"on hand cannot go below what is reserved", func(tx orders.Tx) error { _, err := tx.SetStock(ctx, p.ID, 3); return err },
			orders.ErrBelowReserved, 15, 4, 11},
		{"nor be adjusted below it", func(tx orders.Tx) error { _, err := tx.AdjustStock(ctx, p.ID, -12); return err },
			orders.ErrBelowReserved, 15, 4, 11},
		{"consuming sells the reserved units", func(tx orders.Tx) error { return tx.Consume(ctx, item) }, nil, 11, 0, 11},
		{"restocking puts them back on hand", func(tx orders.Tx) error { return tx.Restock(ctx, item) }, nil, 15, 0, 15},
		{"reserving again", func(tx orders.Tx) error { return tx.Reserve(ctx, item) }, nil, 15, 4, 11},
		{"releasing gives them back", func(tx orders.Tx) error { return tx.Release(ctx, item) }, nil, 15, 0, 15},
		{"setting replaces on hand", func(tx orders.Tx) error { _, err := tx.SetStock(ctx, p.ID, 7); return err }, nil, 7, 0, 7},
	}
	for _, st := range steps {
		err := s.InTx(ctx, st.change)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.wantErr)
		}
		got := mustStock(t, s, p.ID)
		if got.OnHand != st.onHand || got.Reserved != st.reserved || got.Available != st.free {
			t.Fatalf("%s: stock %+v, want on hand %d, reserved %d, available %d", st.name, got, st.onHand, st.reserved, st.free)
		}
	}
}

func TestAReservationIsAllOrNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	plenty, scarce := mustProduct(t, s, 100, 10), mustProduct(t, s, 100, 1)
	err := s.InTx(ctx, func(tx orders.Tx) error {
		return tx.Reserve(ctx, []orders.Item{{ProductID: plenty.ID, Quantity: 3}, {ProductID: scarce.ID, Quantity: 2}})
	})
	var ise *orders.InsufficientStockError
	if !errors.As(err, &ise) || ise.ProductID != scarce.ID || !errors.Is(err, orders.ErrInsufficientStock) {
		t.Fatalf("Reserve = %v, want insufficient stock of %s", err, scarce.ID)
	}
	if st := mustStock(t, s, plenty.ID); st.Reserved != 0 {
		t.Errorf("%d units of the plentiful product stayed reserved after the failed reservation", st.Reserved)
	}
}

func TestAnOrderPricedFromAProductTheProjectionNoLongerHoldsIsRefusedWholly(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p, other := mustProduct(t, s, 100, 10), mustProduct(t, s, 100, 10)
	edited := p
	edited.Price.Amount, edited.Version = 150, 2
	unknown := orders.Product{ID: newID(), Version: 1}
	cases := []struct {
		name    string
		priced  []orders.Product
		wantErr error
	}{
		{"products at the projection's versions pass", []orders.Product{p, other}, nil},
		{"a product at an older version fails it", []orders.Product{other, p}, orders.ErrProductChanged},
		{"one at the version the projection now holds passes", []orders.Product{edited, other}, nil},
		{"one at a version the projection never held fails it", []orders.Product{{ID: p.ID, Version: 3}}, orders.ErrProductChanged},
		{"one the projection lacks fails it", []orders.Product{unknown}, orders.ErrProductChanged},
	}
	for i, c := range cases {
		if i == 1 {
			if saved, err := s.SaveProduct(ctx, edited, ""); err != nil || !saved {
				t.Fatalf("SaveProduct = %v, %v", saved, err)
			}
		}
		before := mustStock(t, s, other.ID)
		err := s.InTx(ctx, func(tx orders.Tx) error {
			if err := tx.CheckProducts(ctx, c.priced); err != nil {
				return err
			}
			return tx.Reserve(ctx, []orders.Item{{ProductID: other.ID, Quantity: 1}})
		})
		if !errors.Is(err, c.wantErr) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.wantErr)
		}
		want := before.Reserved + 1
		if c.wantErr != nil {
			want = before.Reserved
		}
		if got := mustStock(t, s, other.ID).Reserved; got != want {
			t.Errorf("%s: %d units reserved, want %d", c.name, got, want)
		}
	}
}

func TestAnOrdersTransactionIsOneRoundTripAndARefusalLeavesNoTrace(t *testing.T) {
	t.Parallel()
	s, trips := newCountedStore(t)
	ctx := t.Context()
	buyer := newID()
	plenty, scarce := mustProduct(t, s, 100, 10), mustProduct(t, s, 100, 1)
	unstocked := orders.Product{ID: newID(), SellerID: newID(), Title: "Unstocked", Price: orders.Money{Amount: 100, Currency: "EUR"},
		Status: orders.ProductActive, Version: 1}
	if _, err := s.SaveProduct(ctx, unstocked, ""); err != nil {
		t.Fatal(err)
	}
	place := func(o orders.Order, items []orders.Item) func(orders.Tx) error {
		return checkout(ctx, o, orders.OrderKey{}, items)
	}
	errGaveUp := errors.New("gave up")
	cases := []struct {
		name      string
		order     orders.Order
		items     []orders.Item
		giveUp    bool
		wantErr   error
		wantTrips int64
	}{
		{"an order with units free is placed", newOrder(buyer, time.Now(), plenty), []orders.Item{{ProductID: plenty.ID, Quantity: 3}}, false, nil, 1},
		{"an order past the free units is refused", newOrder(buyer, time.Now(), plenty, scarce),
			[]orders.Item{{ProductID: plenty.ID, Quantity: 1}, {ProductID: scarce.ID, Quantity: 2}}, false, orders.ErrInsufficientStock, 2},
		{"an order of a product never stocked is refused", newOrder(buyer, time.Now(), unstocked),
			[]orders.Item{{ProductID: unstocked.ID, Quantity: 1}}, false, orders.ErrInsufficientStock, 2},
		{"a transaction given up before it commits sends nothing", newOrder(buyer, time.Now(), plenty),
			[]orders.Item{{ProductID: plenty.ID, Quantity: 1}}, true, errGaveUp, 0},
	}
	for _, c := range cases {
		var err error
		trips := trips.during(func() {
			err = s.InTx(ctx, func(tx orders.Tx) error {
				if err := place(c.order, c.items)(tx); err != nil || !c.giveUp {
					return err
				}
				return errGaveUp
			})
		})
		if !errors.Is(err, c.wantErr) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.wantErr)
		}
		if trips != c.wantTrips {
			t.Errorf("%s: %d round trips, want %d (a refusal adds its ROLLBACK)", c.name, trips, c.wantTrips)
		}
		if _, err := s.Order(ctx, c.order.ID); (c.wantErr == nil) != (err == nil) {
			t.Errorf("%s: reading the order back: %v", c.name, err)
		}
	}
	if st := mustStock(t, s, plenty.ID); st.Reserved != 3 {
		t.Errorf("%d units of the plentiful product reserved, want the placed order's 3", st.Reserved)
	}
	var ise *orders.InsufficientStockError
	err := s.InTx(ctx, place(newOrder(buyer, time.Now(), scarce), []orders.Item{{ProductID: scarce.ID, Quantity: 2}}))
	if !errors.As(err, &ise) || ise.ProductID != scarce.ID {
		t.Errorf("a refused reservation: %v, want it to name product %s", err, scarce.ID)
	}
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	cases := []struct {
		name string
		run  func(context.Context, func(orders.Tx) error) error
	}{
		{"each in a transaction of its own", s.InTx},
		{"in groups that commit together", s.InGroupTx},
	}
	for _, c := range cases {
		const units, buyers = 7, 30
		a, b := mustProduct(t, s, 100, units), mustProduct(t, s, 100, units)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			granted int
		)
		start := make(chan struct{})
		for i := range buyers {
			// Half ask in one order, half in the other: the store must lock
			// in its own order or two transactions would deadlock.
			items := []orders.Item{{ProductID: a.ID, Quantity: 1}, {ProductID: b.ID, Quantity: 1}}
			if i%2 == 1 {
				items[0], items[1] = items[1], items[0]
			}
			wg.Go(func() {
				<-start
				err := c.run(ctx, func(tx orders.Tx) error { return tx.Reserve(ctx, items) })
				switch {
				case err == nil:
					mu.Lock()
					granted++
					mu.Unlock()
				case !errors.Is(err, orders.ErrInsufficientStock):
					t.Errorf("%s: Reserve: %v", c.name, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if granted != units {
			t.Errorf("%s: %d of %d reservations granted on %d units, want %d", c.name, granted, buyers, units, units)
		}
		for _, p := range []orders.Product{a, b} {
			if st := mustStock(t, s, p.ID); st.Reserved != units || st.Available != 0 {
				t.Errorf("%s: stock %+v, want all %d units reserved", c.name, st, units)
			}
		}
	}
}

func TestACartKeepsItsLinesInTheOrderAddedWithCurrentAvailability(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	buyer := newID()
	first, second := mustProduct(t, s, 100, 5), mustProduct(t, s, 250, 0)
	mustSetCartItem(t, s, buyer, first.ID, 2)
	mustSetCartItem(t, s, buyer, second.ID, 1)
	mustSetCartItem(t, s, buyer, first.ID, 3) // a change keeps the line's place
	mustSetCartItem(t, s, newID(), first.ID, 9)

	got, err := s.Cart(ctx, buyer)
	if err != nil {
		t.Fatal(err)
	}
	want := []orders.CartLine{{Product: first, Quantity: 3, Available: 5}, {Product: second, Quantity: 1, Available: 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cart (-want +got):\n%s", diff)
	}

	if err := s.RemoveCartItem(ctx, buyer, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveCartItem(ctx, buyer, newID()); err != nil {
		t.Errorf("removing a product that is not in the cart: %v", err)
	}
	if got, _ := s.Cart(ctx, buyer); len(got) != 1 || got[0].Product.ID != second.ID {
		t.Errorf("cart after a removal: %+v", got)
	}
	if err := s.ClearCart(ctx, buyer); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Cart(ctx, buyer); err != nil || len(got) != 0 || got == nil {
		t.Errorf("cleared cart = %#v, %v; want empty and not nil", got, err)
	}
}

func TestACartHoldsAtMostAHundredLinesEvenUnderConcurrentAdds(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	buyer := newID()
	var ps []orders.Product
	for range 110 {
		ps = append(ps, mustProduct(t, s, 1, 1))
	}
	for _, p := range ps[:95] {
		mustSetCartItem(t, s, buyer, p.ID, 1)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		full int
	)
	for _, p := range ps[95:] {
		wg.Go(func() {
			err := setCartItem(t.Context(), s, buyer, p.ID, 1)
			switch {
			case errors.Is(err, orders.ErrCartFull):
				mu.Lock()
				full++
				mu.Unlock()
			case err != nil:
				t.Errorf("SetCartItem: %v", err)
			}
		})
	}
	wg.Wait()
	lines, err := s.Cart(t.Context(), buyer)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 100 || full != 10 {
		t.Errorf("%d lines, %d refused as full; want 100 and 10", len(lines), full)
	}
	// A line already in a full cart may still change its quantity.
	mustSetCartItem(t, s, buyer, ps[0].ID, 4)
}

// setCartItem adds a line under a cap of 100 lines, the service's.
func setCartItem(ctx context.Context, s *orderdb.Store, buyer, productID string, quantity int) error {
	return s.SetCartItem(ctx, buyer, productID, quantity, 100)
}

func mustSetCartItem(t *testing.T, s *orderdb.Store, buyer, productID string, quantity int) {
	t.Helper()
	if err := setCartItem(t.Context(), s, buyer, productID, quantity); err != nil {
		t.Fatalf("SetCartItem: %v", err)
	}
}

// at is a time as PostgreSQL keeps it.
func at(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// newOrder builds an unpaid order of buyer for one unit of each product,
// one sub-order per product, created at created.
func newOrder(buyer string, created time.Time, ps ...orders.Product) orders.Order {
	created = at(created)
	o := orders.Order{ID: newID(), BuyerID: buyer, Status: orders.PendingPayment, Version: 1, Total: orders.Money{Currency: "EUR"},
		ReservedUntil: created.Add(15 * time.Minute), CreatedAt: created, UpdatedAt: created}
	for _, p := range ps {
		o.SubOrders = append(o.SubOrders, orders.SubOrder{ID: newID(), OrderID: o.ID, SellerID: p.SellerID, Status: orders.PendingPayment,
			Subtotal: p.Price, CreatedAt: created, UpdatedAt: created,
			Lines: []orders.Line{{ProductID: p.ID, Title: p.Title, UnitPrice: p.Price, Quantity: 1}}})
		o.Total.Amount += p.Price.Amount
	}
	o.History = []orders.Change{{To: orders.PendingPayment, Actor: buyer, Reason: "checkout", At: created}}
	return o
}

// mustCreate writes o with its history, as checkout does.
func mustCreate(t *testing.T, s *orderdb.Store, o orders.Order) {
	t.Helper()
	ctx := t.Context()
	inTx(t, s, func(tx orders.Tx) error {
		if err := tx.CreateOrder(ctx, o, orders.OrderKey{}); err != nil {
			return err
		}
		return tx.AddHistory(ctx, o.ID, o.History)
	})
}

func mustOrder(t *testing.T, s *orderdb.Store, id string) orders.Order {
	t.Helper()
	o, err := s.Order(t.Context(), id)
	if err != nil {
		t.Fatalf("Order %s: %v", id, err)
	}
	return o
}

func TestAnOrderReadsBackAsItWasWrittenAndChanged(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	buyer := newID()
	o := newOrder(buyer, time.Now(), mustProduct(t, s, 1200, 5), mustProduct(t, s, 300, 5))
	// Sub-orders come back by seller id.
	if o.SubOrders[0].SellerID > o.SubOrders[1].SellerID {
		o.SubOrders[0], o.SubOrders[1] = o.SubOrders[1], o.SubOrders[0]
	}
	mustCreate(t, s, o)
	if diff := cmp.Diff(o, mustOrder(t, s, o.ID)); diff != "" {
		t.Fatalf("order as written (-want +got):\n%s", diff)
	}

	// Paid, then the first sub-order shipped: what fulfil and move write.
	now := at(time.Now())
	pay := orders.Payment{OrderID: o.ID, Provider: "simulated", ChargeKey: "order-" + o.ID + "-charge", PaymentMethod: "pm_card_visa",
		Amount: o.Total, Status: orders.PaymentSucceeded, ChargeID: "ch_1", Attempts: 1, UpdatedAt: now}
	changes := []orders.Change{
		{From: orders.PendingPayment, To: orders.Paid, Actor: orders.ActorSystem, Reason: "payment succeeded", At: now},
		{SubOrderID: o.SubOrders[0].ID, From: orders.Paid, To: orders.Shipped, Actor: o.SubOrders[0].SellerID, Reason: "tracking number T-1", At: now},
	}
	inTx(t, s, func(tx orders.Tx) error {
		locked, err := tx.LockOrder(ctx, o.ID)
		if err != nil {
			return err
		}
		if locked.ID != o.ID || locked.History != nil {
			return fmt.Errorf("LockOrder = %+v, want the order without its history", locked)
		}
		o.Status, o.Version, o.UpdatedAt = orders.Paid, 3, now
		for i := range o.SubOrders {
			o.SubOrders[i].Status, o.SubOrders[i].UpdatedAt = orders.Paid, now
		}
		o.SubOrders[0].Status, o.SubOrders[0].TrackingNumber = orders.Shipped, "T-1"
		if err := tx.UpdateOrder(ctx, o); err != nil {
			return err
		}
		if err := tx.AddHistory(ctx, o.ID, changes); err != nil {
			return err
		}
		return tx.SavePayment(ctx, pay)
	})
	o.History = append(o.History, changes...)
	o.Payment = &pay
	// A payment's CreatedAt is the store's to set.
	if diff := cmp.Diff(o, mustOrder(t, s, o.ID), cmpopts.IgnoreFields(orders.Payment{}, "CreatedAt")); diff != "" {
		t.Errorf("order after changes (-want +got):\n%s", diff)
	}

	sub, err := s.SubOrder(ctx, o.SubOrders[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSub := o.SubOrders[0]
	wantSub.History = changes[1:]
	if diff := cmp.Diff(wantSub, sub); diff != "" {
		t.Errorf("sub-order (-want +got):\n%s", diff)
	}
	inTx(t, s, func(tx orders.Tx) error {
		id, err := tx.OrderOfSubOrder(ctx, sub.ID)
		if err == nil && id != o.ID {
			err = fmt.Errorf("OrderOfSubOrder = %s, want %s", id, o.ID)
		}
		return err
	})
}

func TestMissingOrdersAndSubOrdersAreNotFound(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.Order(ctx, newID()); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("Order: %v, want ErrNotFound", err)
	}
	if _, err := s.SubOrder(ctx, newID()); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("SubOrder: %v, want ErrNotFound", err)
	}
	err := s.InTx(ctx, func(tx orders.Tx) error {
		if _, err := tx.LockOrder(ctx, newID()); !errors.Is(err, orders.ErrNotFound) {
			return fmt.Errorf("LockOrder: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	err = s.InTx(ctx, func(tx orders.Tx) error {
		if _, err := tx.OrderOfSubOrder(ctx, newID()); !errors.Is(err, orders.ErrNotFound) {
			return fmt.Errorf("OrderOfSubOrder: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func TestAFinalPaymentOutcomeIsNeverOverwrittenByProcessing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	o := newOrder(newID(), time.Now(), mustProduct(t, s, 500, 1))
	mustCreate(t, s, o)
	pay := orders.Payment{OrderID: o.ID, Provider: "simulated", ChargeKey: "k-" + o.ID, PaymentMethod: "pm_card_visa",
		Amount: o.Total, Status: orders.PaymentProcessing, UpdatedAt: at(time.Now())}
	save := func(p orders.Payment) {
		inTx(t, s, func(tx orders.Tx) error { return tx.SavePayment(ctx, p) })
	}
	save(pay)
	succeeded := pay
	succeeded.Status, succeeded.ChargeID, succeeded.Attempts = orders.PaymentSucceeded, "ch_ok", 1
	save(succeeded)
	stale := pay // a late writer that still thinks it is processing
	stale.Attempts = 5
	save(stale)
	if got := mustOrder(t, s, o.ID).Payment; got.Status != orders.PaymentSucceeded || got.ChargeID != "ch_ok" || got.Attempts != 1 {
		t.Errorf("payment %+v, want the recorded success kept", got)
	}
	refunded := succeeded
	refunded.RefundStatus, refunded.RefundID = orders.RefundRefunded, "re_1"
	save(refunded)
	if got := mustOrder(t, s, o.ID).Payment; got.RefundStatus != orders.RefundRefunded || got.RefundID != "re_1" {
		t.Errorf("payment %+v, want the refund recorded", got)
	}
}

func TestListsPageNewestFirstWithoutSkipsOrRepeats(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p := mustProduct(t, s, 100, 100)
	buyer, other := newID(), newID()
	base := time.Now().Add(-time.Hour)
	var want []string // newest first
	for i := range 7 {
		// Two orders per instant: ties are broken by id.
		created := base.Add(time.Duration(i/2) * time.Second)
		o := newOrder(buyer, created, p)
		mustCreate(t, s, o)
		want = append([]string{o.ID}, want...)
		mustCreate(t, s, newOrder(other, created, p))
	}
	// Within one instant the larger id comes first.
	for i := 0; i+1 < len(want); i++ {
		a, b := mustOrder(t, s, want[i]), mustOrder(t, s, want[i+1])
		if a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID {
			want[i], want[i+1] = want[i+1], want[i]
		}
	}

	var got []string
	var after *orders.Cursor
	for range 10 {
		page, err := s.Orders(ctx, orders.OrderFilter{UserID: buyer, After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page {
			if o.BuyerID != buyer || len(o.SubOrders) != 1 || len(o.SubOrders[0].Lines) != 1 {
				t.Fatalf("listed order %+v", o)
			}
			got = append(got, o.ID)
		}
		if len(page) < 3 {
			break
		}
		last := page[len(page)-1]
		after = &orders.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buyer's orders over the pages (-want +got):\n%s", diff)
	}
	all, err := s.Orders(ctx, orders.OrderFilter{Limit: 100})
	if err != nil || len(all) != 14 {
		t.Errorf("everyone's orders: %d, %v; want 14", len(all), err)
	}
	subs, err := s.SubOrders(ctx, orders.OrderFilter{UserID: p.SellerID, Limit: 100})
	if err != nil || len(subs) != 14 {
		t.Errorf("the seller's sub-orders: %d, %v; want 14", len(subs), err)
	}
}

func TestExpiredOrdersAreUnpaidPastTheirReservationWithNoChargeInFlight(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p := mustProduct(t, s, 100, 100)
	now := time.Now()
	old := now.Add(-time.Hour) // reserved until 45 minutes ago
	expired := newOrder(newID(), old, p)
	fresh := newOrder(newID(), now, p)
	charging := newOrder(newID(), old, p)
	paid := newOrder(newID(), old, p)
	paid.Status = orders.Paid
	for _, o := range []orders.Order{expired, fresh, charging, paid} {
		mustCreate(t, s, o)
	}
	inTx(t, s, func(tx orders.Tx) error {
		return tx.SavePayment(ctx, orders.Payment{OrderID: charging.ID, Provider: "simulated", ChargeKey: "k-" + charging.ID,
			PaymentMethod: "pm_card_visa", Amount: charging.Total, Status: orders.PaymentProcessing, UpdatedAt: now})
	})
	got, err := s.ExpiredOrders(ctx, now, orders.Expiry{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].OrderID != expired.ID {
		t.Fatalf("expired orders %v, want %s alone", got, expired.ID)
	}
	if got, err := s.ExpiredOrders(ctx, now, got[0], 10); err != nil || len(got) != 0 {
		t.Errorf("expired orders after the one expired: %v, %v; want none", got, err)
	}
}

func TestExpiredOrdersComeInPagesInTheOrderTheyRanOut(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p := mustProduct(t, s, 100, 100)
	now := time.Now()
	// Two orders ran out at the same moment: the id orders them.
	var want []string
	for _, ago := range []time.Duration{3 * time.Hour, 2 * time.Hour, 2 * time.Hour, time.Hour} {
		o := newOrder(newID(), now.Add(-ago), p)
		mustCreate(t, s, o)
		want = append(want, o.ID)
	}
	slices.Sort(want[1:3])
	var got []string
	var after orders.Expiry
	for range len(want) + 1 {
		page, err := s.ExpiredOrders(ctx, now, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got, after = append(got, page[0].OrderID), page[0]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("expired orders page by page (-want +got):\n%s", diff)
	}
}

func TestUnresolvedPaymentsAreClaimedSoAnotherResolverLeavesThemAlone(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p := mustProduct(t, s, 100, 100)
	long := at(time.Now().Add(-time.Minute))
	pays := map[string]orders.Payment{}
	for _, status := range []string{"processing", "refund pending", "settled", "recent"} {
		o := newOrder(newID(), time.Now(), p)
		mustCreate(t, s, o)
		pay := orders.Payment{OrderID: o.ID, Provider: "simulated", ChargeKey: "k-" + o.ID, PaymentMethod: "pm_card_visa",
			Amount: o.Total, Status: orders.PaymentProcessing, UpdatedAt: long}
		switch status {
		case "refund pending":
			pay.Status, pay.ChargeID, pay.RefundStatus = orders.PaymentSucceeded, "ch_1", orders.RefundPending
		case "settled":
			pay.Status, pay.ChargeID = orders.PaymentSucceeded, "ch_2"
		case "recent":
			pay.UpdatedAt = at(time.Now())
		}
		inTx(t, s, func(tx orders.Tx) error { return tx.SavePayment(ctx, pay) })
		pays[status] = pay
	}
	before := time.Now().Add(-10 * time.Second)
	got, err := s.UnresolvedPayments(ctx, before, 10)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, p := range got {
		ids[p.OrderID] = true
	}
	if len(got) != 2 || !ids[pays["processing"].OrderID] || !ids[pays["refund pending"].OrderID] {
		t.Errorf("unresolved payments %+v, want the processing charge and the pending refund", got)
	}
	if again, err := s.UnresolvedPayments(ctx, before, 10); err != nil || len(again) != 0 {
		t.Errorf("a second resolver got %+v, %v; want nothing while the first one's claim holds", again, err)
	}
}

func TestTheResolverAsksAgainOnlyUnderKeysTheProviderStillKeeps(t *testing.T) {
	t.Parallel()
	s, pool := newStoreAndPool(t)
	ctx := t.Context()
	p := mustProduct(t, s, 100, 100)
	const day = 24 * time.Hour
	cases := []struct {
		name           string
		refund         bool
		chargedAgo     time.Duration
		refundAskedAgo time.Duration
		want           bool
	}{
		{name: "a charge asked for an hour ago", chargedAgo: time.Hour, want: true},
		{name: "a charge asked for two days ago", chargedAgo: 2 * day, want: false},
		{name: "a refund asked for now of a charge two days old", refund: true, chargedAgo: 2 * day, want: true},
		{name: "a refund asked for two days ago", refund: true, chargedAgo: 3 * day, refundAskedAgo: 2 * day, want: false},
	}
	ids := map[string]string{}
	for _, c := range cases {
		o := newOrder(newID(), time.Now(), p)
		mustCreate(t, s, o)
		pay := orders.Payment{OrderID: o.ID, Provider: "simulated", ChargeKey: "k-" + o.ID, PaymentMethod: "pm_card_visa",
			Amount: o.Total, Status: orders.PaymentProcessing, UpdatedAt: at(time.Now().Add(-time.Minute))}
		if c.refund {
			pay.Status, pay.ChargeID, pay.RefundStatus = orders.PaymentSucceeded, "ch-"+o.ID, orders.RefundPending
		}
		inTx(t, s, func(tx orders.Tx) error { return tx.SavePayment(ctx, pay) })
		if _, err := pool.Exec(ctx, `UPDATE payments SET created_at = now() - make_interval(secs => $2),
			refund_requested_at = refund_requested_at - make_interval(secs => $3) WHERE order_id = $1`,
			o.ID, c.chargedAgo.Seconds(), c.refundAskedAgo.Seconds()); err != nil {
			t.Fatal(err)
		}
		ids[o.ID] = c.name
	}
	got, err := s.UnresolvedPayments(ctx, time.Now().Add(-10*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	returned := map[string]bool{}
	for _, p := range got {
		returned[ids[p.OrderID]] = true
	}
	for _, c := range cases {
		if returned[c.name] != c.want {
			t.Errorf("%s: returned %v, want %v", c.name, returned[c.name], c.want)
		}
	}
}

func TestUnsettledPaymentsCountTheChargesAndRefundsThatWaitOnTheProvider(t *testing.T) {
	t.Parallel()
	s, pool := newStoreAndPool(t)
	ctx := t.Context()
	if charges, refunds, err := s.UnsettledPayments(ctx); err != nil || charges != (orderdb.Backlog{}) || refunds != (orderdb.Backlog{}) {
		t.Fatalf("with no payments: %+v, %+v, %v; want two empty backlogs", charges, refunds, err)
	}
	p := mustProduct(t, s, 100, 100)
	const day = 24 * time.Hour
	payments := []struct {
		status                     orders.PaymentStatus
		refund                     string
		chargedAgo, refundAskedAgo time.Duration
	}{
		{status: orders.PaymentProcessing, chargedAgo: 10 * time.Minute},
		{status: orders.PaymentProcessing},
		{status: orders.PaymentProcessing, chargedAgo: 2 * day}, // past the key window
		{status: orders.PaymentSucceeded, refund: orders.RefundPending, chargedAgo: 3 * day, refundAskedAgo: 2 * time.Hour},
		{status: orders.PaymentSucceeded, refund: orders.RefundPending, chargedAgo: 2 * day},
		{status: orders.PaymentSucceeded, refund: orders.RefundPending, chargedAgo: 4 * day, refundAskedAgo: 2 * day}, // past it
		{status: orders.PaymentSucceeded, refund: orders.RefundRefunded, chargedAgo: 4 * day, refundAskedAgo: 3 * day},
		{status: orders.PaymentSucceeded, refund: orders.RefundFailed, chargedAgo: 4 * day, refundAskedAgo: 3 * day},
		{status: orders.PaymentSucceeded, chargedAgo: 4 * day},
		{status: orders.PaymentDeclined, chargedAgo: 4 * day},
	}
	for _, c := range payments {
		o := newOrder(newID(), time.Now(), p)
		mustCreate(t, s, o)
		pay := orders.Payment{OrderID: o.ID, Provider: "simulated", ChargeKey: "k-" + o.ID, PaymentMethod: "pm_card_visa",
			Amount: o.Total, Status: c.status, RefundStatus: c.refund, UpdatedAt: at(time.Now())}
		if c.status != orders.PaymentProcessing {
			pay.ChargeID = "ch-" + o.ID
		}
		inTx(t, s, func(tx orders.Tx) error { return tx.SavePayment(ctx, pay) })
		if _, err := pool.Exec(ctx, `UPDATE payments SET created_at = now() - make_interval(secs => $2),
			refund_requested_at = refund_requested_at - make_interval(secs => $3) WHERE order_id = $1`,
			o.ID, c.chargedAgo.Seconds(), c.refundAskedAgo.Seconds()); err != nil {
			t.Fatal(err)
		}
	}
	charges, refunds, err := s.UnsettledPayments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		name   string
		got    orderdb.Backlog
		oldest time.Duration
	}{{"charges", charges, 10 * time.Minute}, {"refunds", refunds, 2 * time.Hour}} {
		if b.got.Count != 2 || b.got.Oldest < b.oldest || b.got.Oldest > b.oldest+time.Minute || b.got.Unreconciled != 1 {
			t.Errorf("%s %+v, want 2 retried, the oldest %v old, and 1 given up on", b.name, b.got, b.oldest)
		}
	}
	// A refund without the date the resolver and the metric go by would
	// be stuck unseen: the table refuses it.
	if _, err := pool.Exec(ctx, `UPDATE payments SET refund_requested_at = NULL WHERE refund_status = 'pending'`); !isCheckViolation(err) {
		t.Errorf("a pending refund without its request's date: %v, want a check violation", err)
	}
}

func isCheckViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514"
}

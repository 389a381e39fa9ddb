package orderdb_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/orderdb"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// checkout is the transaction of a checkout: o under key, reserving items.
func checkout(ctx context.Context, o orders.Order, key orders.OrderKey, items []orders.Item) func(orders.Tx) error {
	return func(tx orders.Tx) error {
		if err := tx.CreateOrder(ctx, o, key); err != nil {
			return err
		}
		if err := tx.AddHistory(ctx, o.ID, o.History); err != nil {
			return err
		}
		return tx.Reserve(ctx, items)
	}
}

// queuedBehind runs each fn in InGroupTx in a goroutine of its own while
// the test holds the store's one connection, so that all of them queue
// and go as one group once it lets go; it returns their errors and the
// round trips the group took.
func queuedBehind(t *testing.T, s *orderdb.Store, pool *pgxpool.Pool, trips *roundTrips, fns []func(orders.Tx) error) ([]error, int64) {
	t.Helper()
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = s.InGroupTx(t.Context(), fn) })
	}
	eventually.True(t, "every transaction queued", func() bool { return s.Queued() == len(fns) })
	n := trips.during(func() {
		conn.Release()
		wg.Wait()
	})
	return errs, n
}

func TestAGroupCommitsTogetherAndAnswersEachRefusedOrderAsIfAlone(t *testing.T) {
	t.Parallel()
	s, pool, trips := newCountedStoreAndPool(t)
	ctx := t.Context()
	// last's id sorts before soldOut's, so that in a group the last unit
	// is reserved before anything refuses the order of both.
	last := mustProduct(t, s, 100, 1)
	plenty, scarce, soldOut := mustProduct(t, s, 100, 100), mustProduct(t, s, 100, 1), mustProduct(t, s, 100, 0)
	buyer := newID()
	taken := orders.KeyAnswer{Operation: "checkout", RequestHash: []byte("h"), Status: 201, Body: []byte(`{}`)}
	if recorded, err := s.AnswerKey(ctx, buyer, "taken", taken); err != nil || !recorded {
		t.Fatalf("AnswerKey = %v, %v", recorded, err)
	}
	one := func(p orders.Product, n int) []orders.Item { return []orders.Item{{ProductID: p.ID, Quantity: n}} }
	both := []orders.Item{{ProductID: last.ID, Quantity: 1}, {ProductID: soldOut.ID, Quantity: 1}}
	type order struct {
		key     string
		items   []orders.Item
		wantErr error
	}
	cases := []struct {
		name      string
		orders    []order
		wantTrips int64
	}{
		{"five orders with units free commit in one round trip", []order{
			{"", one(plenty, 1), nil}, {"", one(plenty, 2), nil}, {"a", one(plenty, 1), nil}, {"", one(plenty, 1), nil}, {"b", one(plenty, 1), nil},
		}, 1},
		// The group, refused, then ROLLBACK before each member sent alone
		// after a refusal, and after the last: 1 + 5 + 3.
		{"each refused order gets its own refusal and the rest commit", []order{
			{"", one(plenty, 1), nil}, {"", one(scarce, 2), orders.ErrInsufficientStock}, {"c", one(plenty, 1), nil},
			{"taken", one(plenty, 1), orders.ErrKeyTaken}, {"", one(plenty, 1), nil},
		}, 9},
		// In the group, whichever reserves the last unit first refuses the
		// other; alone, only the order of a product sold out is refused.
		{"an order is not refused for units that a refused order held", []order{
			{"", both, orders.ErrInsufficientStock}, {"", one(last, 1), nil},
		}, 5},
	}
	for _, c := range cases {
		before := mustStock(t, s, plenty.ID).Reserved
		placed := make([]orders.Order, len(c.orders))
		fns := make([]func(orders.Tx) error, len(c.orders))
		var wantReserved int64
		for i, o := range c.orders {
			placed[i] = newOrder(buyer, time.Now(), plenty)
			key := orders.OrderKey{Name: o.key}
			if o.key != "" {
				key.Answer = &taken
			}
			fns[i] = checkout(ctx, placed[i], key, o.items)
			if o.wantErr == nil && o.items[0].ProductID == plenty.ID {
				wantReserved += int64(o.items[0].Quantity)
			}
		}
		errs, n := queuedBehind(t, s, pool, trips, fns)
		for i, o := range c.orders {
			if !errors.Is(errs[i], o.wantErr) {
				t.Errorf("%s: order %d: %v, want %v", c.name, i, errs[i], o.wantErr)
			}
			if _, err := s.Order(ctx, placed[i].ID); (o.wantErr == nil) != (err == nil) {
				t.Errorf("%s: order %d read back: %v", c.name, i, err)
			}
		}
		if n != c.wantTrips {
			t.Errorf("%s: %d round trips, want %d", c.name, n, c.wantTrips)
		}
		if got := mustStock(t, s, plenty.ID).Reserved - before; got != wantReserved {
			t.Errorf("%s: %d units reserved, want %d", c.name, got, wantReserved)
		}
		for _, p := range []orders.Product{scarce, soldOut} {
			if st := mustStock(t, s, p.ID); st.Reserved != 0 {
				t.Errorf("%s: %d units of %s reserved by a refused order", c.name, st.Reserved, p.Title)
			}
		}
	}
	if st := mustStock(t, s, last.ID); st.Reserved != 1 {
		t.Errorf("the last unit of %s: %d reserved, want 1", last.Title, st.Reserved)
	}
}

func TestOfTwoOrdersUnderOneKeyInAGroupOneIsPlacedAndTheOtherFindsTheKeyTaken(t *testing.T) {
	t.Parallel()
	s, pool, trips := newCountedStoreAndPool(t)
	ctx := t.Context()
	p := mustProduct(t, s, 100, 10)
	buyer := newID()
	answer := &orders.KeyAnswer{Operation: "checkout", RequestHash: []byte("h"), Status: 201, Body: []byte(`{}`)}
	items := []orders.Item{{ProductID: p.ID, Quantity: 1}}
	placed := []orders.Order{newOrder(buyer, time.Now(), p), newOrder(buyer, time.Now(), p)}
	fns := make([]func(orders.Tx) error, len(placed))
	for i, o := range placed {
		fns[i] = checkout(ctx, o, orders.OrderKey{Name: "k", Answer: answer}, items)
	}
	errs, _ := queuedBehind(t, s, pool, trips, fns)
	var made []string
	for i, err := range errs {
		switch {
		case err == nil:
			made = append(made, placed[i].ID)
		case !errors.Is(err, orders.ErrKeyTaken):
			t.Errorf("order %d: %v, want it placed or the key taken", i, err)
		}
	}
	if len(made) != 1 {
		t.Fatalf("%d orders placed under one key, want 1", len(made))
	}
	mustOrder(t, s, made[0])
	if st := mustStock(t, s, p.ID); st.Reserved != 1 {
		t.Errorf("%d units reserved, want the one order's 1", st.Reserved)
	}
}

func TestACallerThatGivesUpBeforeItsGroupIsSentWritesNothing(t *testing.T) {
	t.Parallel()
	s, pool, _ := newCountedStoreAndPool(t)
	ctx := t.Context()
	p := mustProduct(t, s, 100, 10)
	items := []orders.Item{{ProductID: p.ID, Quantity: 1}}
	cases := []struct {
		name string
		// leaderGivesUp: the caller that gives up is the first, which holds
		// the one slot while it waits for the connection; otherwise it is
		// the second, queued behind it.
		leaderGivesUp bool
	}{
		{"a caller queued behind the one sending", false},
		{"the caller sending, while it waits for a connection", true},
	}
	for _, c := range cases {
		before := mustStock(t, s, p.ID).Reserved
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kept, dropped := newOrder(newID(), time.Now(), p), newOrder(newID(), time.Now(), p)
		gaveUp, cancel := context.WithCancel(ctx)
		first, second := ctx, gaveUp
		firstOrder, secondOrder := kept, dropped
		if c.leaderGivesUp {
			first, second = second, first
			firstOrder, secondOrder = secondOrder, firstOrder
		}
		answers := map[string]chan error{kept.ID: make(chan error, 1), dropped.ID: make(chan error, 1)}
		go func() {
			answers[firstOrder.ID] <- s.InGroupTx(first, checkout(ctx, firstOrder, orders.OrderKey{}, items))
		}()
		eventually.True(t, "the first caller sending", func() bool { return s.Sending() == 1 })
		go func() {
			answers[secondOrder.ID] <- s.InGroupTx(second, checkout(ctx, secondOrder, orders.OrderKey{}, items))
		}()
		eventually.True(t, "both transactions queued", func() bool { return s.Queued() == 2 })
		cancel()
		if !c.leaderGivesUp {
			// Queued, it leaves at once.
			if err := eventually.Receive(t, "the answer of the caller that gave up", answers[dropped.ID]); !errors.Is(err, context.Canceled) {
				t.Errorf("%s: the caller that gave up: %v, want context.Canceled", c.name, err)
			}
		}
		conn.Release()
		if err := eventually.Receive(t, "the answer of the caller that waited", answers[kept.ID]); err != nil {
			t.Fatalf("%s: the caller that waited: %v", c.name, err)
		}
		if c.leaderGivesUp {
			if err := eventually.Receive(t, "the answer of the caller that gave up", answers[dropped.ID]); !errors.Is(err, context.Canceled) {
				t.Errorf("%s: the caller that gave up: %v, want context.Canceled", c.name, err)
			}
		}
		mustOrder(t, s, kept.ID)
		if _, err := s.Order(ctx, dropped.ID); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("%s: the order of the caller that gave up: %v, want not found", c.name, err)
		}
		if got := mustStock(t, s, p.ID).Reserved - before; got != 1 {
			t.Errorf("%s: %d units reserved, want the one order's 1", c.name, got)
		}
	}
}

func TestAGroupsTransactionCannotRead(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p := mustProduct(t, s, 100, 10)
	err := s.InGroupTx(ctx, func(tx orders.Tx) error {
		if err := tx.Reserve(ctx, []orders.Item{{ProductID: p.ID, Quantity: 1}}); err != nil {
			return err
		}
		_, err := tx.AdjustStock(ctx, p.ID, 1)
		return err
	})
	if !errors.Is(err, orderdb.ErrGroupRead) {
		t.Fatalf("a read in a group's transaction: %v, want ErrGroupRead", err)
	}
	if st := mustStock(t, s, p.ID); st.Reserved != 0 || st.OnHand != 10 {
		t.Errorf("stock %+v after a group's transaction that failed, want it untouched", st)
	}
}

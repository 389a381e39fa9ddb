package orderdb_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/orders"
)

func TestAnIdempotencyKeyIsOwnedOnceThenAnswersWithItsStoredResponse(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	user, hash := newID(), []byte("request-hash")
	claim := func(op string, h []byte, holder string) orders.KeyClaim {
		t.Helper()
		c, err := s.ClaimKey(ctx, user, "key-1", op, h, holder, time.Minute)
		if err != nil {
			t.Fatalf("ClaimKey: %v", err)
		}
		return c
	}

	if c := claim("checkout", hash, holder("first")); !c.Owned {
		t.Fatal("the first claim is not owned")
	}
	if c := claim("checkout", hash, holder("retry")); c.Owned || c.Mismatch || c.Status != 0 {
		t.Errorf("a retry while the first runs: %+v; want it told to wait", c)
	}
	if c := claim("checkout", []byte("another body"), holder("other")); !c.Mismatch {
		t.Error("the key reused for another request is not a mismatch")
	}
	if c := claim("pay", hash, holder("other")); !c.Mismatch {
		t.Error("the key reused for another operation is not a mismatch")
	}
	if err := s.CompleteKey(ctx, user, "key-1", holder("first"), 201, []byte(`{"id":"o-1"}`)); err != nil {
		t.Fatal(err)
	}
	if c := claim("checkout", hash, holder("retry")); c.Owned || c.Mismatch || c.Status != 201 || string(c.Body) != `{"id":"o-1"}` {
		t.Errorf("a retry after the answer: %+v; want the stored 201", c)
	}
	if c, err := s.ClaimKey(ctx, newID(), "key-1", "checkout", hash, holder("elsewhere"), time.Minute); err != nil || !c.Owned {
		t.Errorf("another user's claim of the same key = %+v, %v; want it owned: keys are per user", c, err)
	}
}

func TestAReleasedKeyOrAnExpiredLeaseMayBeClaimedAgain(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	user, hash := newID(), []byte("h")
	mustOwn := func(key, holder string, lease time.Duration, want bool) {
		t.Helper()
		c, err := s.ClaimKey(ctx, user, key, "pay", hash, holder, lease)
		if err != nil || c.Owned != want {
			t.Fatalf("ClaimKey(%s) by %s = %+v, %v; want owned %v", key, holder, c, err, want)
		}
	}
	mustOwn("released", holder("a"), time.Minute, true)
	if err := s.ReleaseKey(ctx, user, "released", holder("a")); err != nil {
		t.Fatal(err)
	}
	mustOwn("released", holder("b"), time.Minute, true)

	// A holder whose lease ran out died: its key may be taken over. The
	// lease is in the database's time, so a lease in the past has run out.
	mustOwn("crashed", holder("dead"), -time.Second, true)
	mustOwn("crashed", holder("alive"), time.Minute, true)
	mustOwn("crashed", holder("late"), time.Minute, false)
}

func TestAHolderThatLostItsKeyCanNeitherRenewCompleteNorReleaseIt(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	user, hash := newID(), []byte("h")
	if c, err := s.ClaimKey(ctx, user, "k", "checkout", hash, holder("slow"), -time.Second); err != nil || !c.Owned {
		t.Fatalf("ClaimKey = %+v, %v", c, err)
	}
	if ok, err := s.RenewKey(ctx, user, "k", holder("slow"), time.Minute); err != nil || ok {
		t.Errorf("renewing a lease that ran out = %v, %v; want false", ok, err)
	}
	if c, err := s.ClaimKey(ctx, user, "k", "checkout", hash, holder("taker"), time.Minute); err != nil || !c.Owned {
		t.Fatalf("taking the key over = %+v, %v", c, err)
	}
	if ok, err := s.RenewKey(ctx, user, "k", holder("taker"), time.Minute); err != nil || !ok {
		t.Errorf("the new holder's renewal = %v, %v; want true", ok, err)
	}
	// The slow holder comes back: what it does must not touch the key.
	if err := s.CompleteKey(ctx, user, "k", holder("slow"), 500, []byte("stale")); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseKey(ctx, user, "k", holder("slow")); err != nil {
		t.Fatal(err)
	}
	if c, err := s.ClaimKey(ctx, user, "k", "checkout", hash, holder("third"), time.Minute); err != nil || c.Owned || c.Status != 0 {
		t.Errorf("after the lost holder's complete and release: %+v, %v; want the key still the taker's, unanswered", c, err)
	}
	if err := s.CompleteKey(ctx, user, "k", holder("taker"), 201, []byte("fresh")); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ClaimKey(ctx, user, "k", "checkout", hash, holder("third"), time.Minute); c.Status != 201 || string(c.Body) != "fresh" {
		t.Errorf("the key's answer %d %q, want the taker's 201", c.Status, c.Body)
	}
}

func TestAKeyLinkedToTheOrderItMadeIsNeitherReleasedNorTakenOver(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	buyer := newID()
	if c, err := s.ClaimKey(ctx, buyer, "checkout-1", "checkout", []byte("h"), holder("first"), -time.Second); err != nil || !c.Owned {
		t.Fatalf("ClaimKey = %+v, %v", c, err)
	}
	o := newOrder(buyer, time.Now(), mustProduct(t, s, 100, 1))
	inTx(t, s, func(tx orders.Tx) error { return tx.CreateOrder(ctx, o, orders.OrderKey{Name: "checkout-1"}) })
	if err := s.ReleaseKey(ctx, buyer, "checkout-1", holder("first")); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimKey(ctx, buyer, "checkout-1", "checkout", []byte("h"), holder("retry"), time.Minute)
	if err != nil || c.Owned || c.ResourceID != o.ID {
		t.Errorf("ClaimKey after the order was made = %+v, %v; want it to point at order %s", c, err, o.ID)
	}
}

func TestAnOrderRecordsItsUnclaimedKeyAnsweredInItsOneRoundTrip(t *testing.T) {
	t.Parallel()
	s, trips := newCountedStore(t)
	ctx := t.Context()
	buyer, hash := newID(), []byte("request-hash")
	p := mustProduct(t, s, 100, 10)
	o := newOrder(buyer, time.Now(), p)
	key := orders.OrderKey{Name: "fresh-1", Answer: &orders.KeyAnswer{Operation: "checkout", RequestHash: hash,
		Status: 201, Body: []byte(`{"id":"` + o.ID + `"}`)}}

	n := trips.during(func() {
		inTx(t, s, func(tx orders.Tx) error {
			if err := tx.CreateOrder(ctx, o, key); err != nil {
				return err
			}
			return tx.Reserve(ctx, []orders.Item{{ProductID: p.ID, Quantity: 1}})
		})
	})
	if n != 1 {
		t.Errorf("the order and its key took %d round trips, want 1", n)
	}
	c, err := s.ClaimKey(ctx, buyer, "fresh-1", "checkout", hash, holder("retry"), time.Minute)
	if err != nil || c.Owned || c.Status != 201 || string(c.Body) != string(key.Answer.Body) || c.ResourceID != o.ID {
		t.Errorf("a retry's claim = %+v, %v; want the recorded 201 naming order %s", c, err, o.ID)
	}
}

func TestAnOrderUnderAKeyThatExistsIsNotMade(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	hash := []byte("request-hash")
	answer := func(status int) *orders.KeyAnswer {
		return &orders.KeyAnswer{Operation: "checkout", RequestHash: hash, Status: status, Body: []byte(`{}`)}
	}
	cases := []struct {
		name  string
		exist func(buyer string, p orders.Product) error // makes the key exist
	}{
		{"a key a running request claimed", func(buyer string, _ orders.Product) error {
			_, err := s.ClaimKey(ctx, buyer, "k", "checkout", hash, holder("running"), time.Minute)
			return err
		}},
		{"a key an order recorded", func(buyer string, p orders.Product) error {
			return s.InTx(ctx, func(tx orders.Tx) error {
				return tx.CreateOrder(ctx, newOrder(buyer, time.Now(), p), orders.OrderKey{Name: "k", Answer: answer(201)})
			})
		}},
		{"a key answered with a refusal", func(buyer string, _ orders.Product) error {
			_, err := s.AnswerKey(ctx, buyer, "k", *answer(409))
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buyer, p := newID(), mustProduct(t, s, 100, 10)
			if err := c.exist(buyer, p); err != nil {
				t.Fatal(err)
			}
			o := newOrder(buyer, time.Now(), p)
			err := s.InTx(ctx, func(tx orders.Tx) error {
				if err := tx.CreateOrder(ctx, o, orders.OrderKey{Name: "k", Answer: answer(201)}); err != nil {
					return err
				}
				return tx.Reserve(ctx, []orders.Item{{ProductID: p.ID, Quantity: 1}})
			})
			if !errors.Is(err, orders.ErrKeyTaken) {
				t.Fatalf("the order under the existing key: %v, want ErrKeyTaken", err)
			}
			if _, err := s.Order(ctx, o.ID); !errors.Is(err, orders.ErrNotFound) {
				t.Errorf("the refused order reads back: %v", err)
			}
			if st := mustStock(t, s, p.ID); st.Reserved != 0 {
				t.Errorf("%d units reserved by the refused order", st.Reserved)
			}
			if recorded, err := s.AnswerKey(ctx, buyer, "k", *answer(409)); err != nil || recorded {
				t.Errorf("AnswerKey on the existing key = %v, %v; want false", recorded, err)
			}
		})
	}
}

func TestARefusalIsNotKeptUnderAKeyThatAnotherRequestsOrderNames(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	buyer, hash := newID(), []byte("h")
	// The stalled holder's lease is over the moment it is taken, a retry
	// takes the key over, and the stalled holder's order commits after all.
	if c, err := s.ClaimKey(ctx, buyer, "k", "checkout", hash, holder("stalled"), 0); err != nil || !c.Owned {
		t.Fatalf("first claim: %+v, %v", c, err)
	}
	if c, err := s.ClaimKey(ctx, buyer, "k", "checkout", hash, holder("taker"), time.Minute); err != nil || !c.Owned {
		t.Fatalf("takeover: %+v, %v", c, err)
	}
	o := newOrder(buyer, time.Now(), mustProduct(t, s, 100, 1))
	inTx(t, s, func(tx orders.Tx) error { return tx.CreateOrder(ctx, o, orders.OrderKey{Name: "k"}) })

	// The taker's own order fails to link, and its 409 is not kept.
	if err := s.CompleteKey(ctx, buyer, "k", holder("taker"), 409, []byte(`{"code":"idempotency_key_in_use"}`)); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimKey(ctx, buyer, "k", "checkout", hash, holder("retry"), time.Minute)
	if err != nil || c.Owned || c.Status != 0 || c.ResourceID != o.ID {
		t.Errorf("a retry's claim = %+v, %v; want it to point at order %s, with no answer kept", c, err, o.ID)
	}
}

func TestOfManyConcurrentClaimsOfOneKeyExactlyOneOwnsIt(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	user := newID()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		owned int
	)
	start := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-start
			c, err := s.ClaimKey(t.Context(), user, "contested", "checkout", []byte("h"), newID(), time.Minute)
			if err != nil {
				t.Errorf("ClaimKey: %v", err)
				return
			}
			if c.Owned {
				mu.Lock()
				owned++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if owned != 1 {
		t.Errorf("%d of 20 concurrent claims owned the key, want 1", owned)
	}
}

func TestPruneKeysDeletesOnlyOldKeys(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.ClaimKey(ctx, newID(), "k", "checkout", []byte("h"), holder("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneKeys(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("PruneKeys(1h) = %d, %v; want nothing pruned", n, err)
	}
	if n, err := s.PruneKeys(ctx, -time.Second); err != nil || n != 1 {
		t.Errorf("PruneKeys of everything = %d, %v; want 1", n, err)
	}
}

// holders gives each name used in these tests its own request id, as a
// holder of a key is.
var holders sync.Map

func holder(name string) string {
	id, _ := holders.LoadOrStore(name, newID())
	return id.(string)
}

package orderdb_test

import (
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
	inTx(t, s, func(tx orders.Tx) error { return tx.CreateOrder(ctx, o, "checkout-1") })
	if err := s.ReleaseKey(ctx, buyer, "checkout-1", holder("first")); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimKey(ctx, buyer, "checkout-1", "checkout", []byte("h"), holder("retry"), time.Minute)
	if err != nil || c.Owned || c.ResourceID != o.ID {
		t.Errorf("ClaimKey after the order was made = %+v, %v; want it to point at order %s", c, err, o.ID)
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

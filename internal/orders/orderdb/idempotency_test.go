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
	claim := func(op string, h []byte, lease time.Duration) (owned, mismatch bool, status int, body string, resource string) {
		t.Helper()
		c, err := s.ClaimKey(ctx, user, "key-1", op, h, lease)
		if err != nil {
			t.Fatalf("ClaimKey: %v", err)
		}
		return c.Owned, c.Mismatch, c.Status, string(c.Body), c.ResourceID
	}

	if owned, _, _, _, _ := claim("checkout", hash, time.Minute); !owned {
		t.Fatal("the first claim is not owned")
	}
	if owned, mismatch, status, _, _ := claim("checkout", hash, time.Minute); owned || mismatch || status != 0 {
		t.Errorf("a retry while the first runs: owned %v, mismatch %v, status %d; want it told to wait", owned, mismatch, status)
	}
	if _, mismatch, _, _, _ := claim("checkout", []byte("another body"), time.Minute); !mismatch {
		t.Error("the key reused for another request is not a mismatch")
	}
	if _, mismatch, _, _, _ := claim("pay", hash, time.Minute); !mismatch {
		t.Error("the key reused for another operation is not a mismatch")
	}
	if err := s.CompleteKey(ctx, user, "key-1", 201, []byte(`{"id":"o-1"}`)); err != nil {
		t.Fatal(err)
	}
	if owned, mismatch, status, body, _ := claim("checkout", hash, time.Minute); owned || mismatch || status != 201 || body != `{"id":"o-1"}` {
		t.Errorf("a retry after the answer: owned %v, mismatch %v, %d %s; want the stored 201", owned, mismatch, status, body)
	}
	if c, err := s.ClaimKey(ctx, newID(), "key-1", "checkout", hash, time.Minute); err != nil || !c.Owned {
		t.Errorf("another user's claim of the same key = %+v, %v; want it owned: keys are per user", c, err)
	}
}

func TestAReleasedKeyOrAnExpiredLeaseMayBeClaimedAgain(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	user, hash := newID(), []byte("h")
	mustOwn := func(key string, lease time.Duration, want bool) {
		t.Helper()
		c, err := s.ClaimKey(ctx, user, key, "pay", hash, lease)
		if err != nil || c.Owned != want {
			t.Fatalf("ClaimKey(%s) = %+v, %v; want owned %v", key, c, err, want)
		}
	}
	mustOwn("released", time.Minute, true)
	if err := s.ReleaseKey(ctx, user, "released"); err != nil {
		t.Fatal(err)
	}
	mustOwn("released", time.Minute, true)

	// A holder whose lease ran out died: its key may be taken over. The
	// lease is in the database's time, so a lease in the past has run out.
	mustOwn("crashed", -time.Second, true)
	mustOwn("crashed", time.Minute, true)
	mustOwn("crashed", time.Minute, false)
}

func TestAKeyLinkedToTheOrderItMadeIsNeitherReleasedNorTakenOver(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	buyer := newID()
	if c, err := s.ClaimKey(ctx, buyer, "checkout-1", "checkout", []byte("h"), -time.Second); err != nil || !c.Owned {
		t.Fatalf("ClaimKey = %+v, %v", c, err)
	}
	o := newOrder(buyer, time.Now(), mustProduct(t, s, 100, 1))
	inTx(t, s, func(tx orders.Tx) error { return tx.CreateOrder(ctx, o, "checkout-1") })
	if err := s.ReleaseKey(ctx, buyer, "checkout-1"); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimKey(ctx, buyer, "checkout-1", "checkout", []byte("h"), time.Minute)
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
			c, err := s.ClaimKey(t.Context(), user, "contested", "checkout", []byte("h"), time.Minute)
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
	user := newID()
	if _, err := s.ClaimKey(ctx, user, "k", "checkout", []byte("h"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneKeys(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("PruneKeys(1h) = %d, %v; want nothing pruned", n, err)
	}
	if n, err := s.PruneKeys(ctx, -time.Second); err != nil || n != 1 {
		t.Errorf("PruneKeys of everything = %d, %v; want 1", n, err)
	}
}

package userdb_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/users"
)

// claim claims order's confirmation to a buyer who may be mailed, and
// fails the test on an error.
func (e env) claim(t *testing.T, order uuid.UUID, lease time.Duration) (users.ClaimOutcome, uuid.UUID) {
	t.Helper()
	if e.buyer == nil {
		t.Fatal("claim needs an env with a buyer: newEnv(t).withBuyer(t)")
	}
	c := e.claimOne(t, order, e.buyer.ID, lease)
	if b := e.buyer; c.Outcome == users.ClaimGranted &&
		(c.Buyer.Email != b.Email || c.Buyer.DisplayName != b.DisplayName || string(c.Buyer.Preferences) != string(b.Preferences)) {
		t.Fatalf("a granted claim's buyer is %+v, want %s, %s, %s", c.Buyer, b.Email, b.DisplayName, b.Preferences)
	}
	return c.Outcome, c.ID
}

// claimOne claims one order's confirmation and fails the test on an error.
func (e env) claimOne(t *testing.T, order, buyer uuid.UUID, lease time.Duration) users.Claim {
	t.Helper()
	cs, err := e.ClaimConfirmations(t.Context(), []users.OrderOfBuyer{{Order: order, Buyer: buyer}}, lease)
	if err != nil || len(cs) != 1 {
		t.Fatalf("ClaimConfirmations: %v, %v", cs, err)
	}
	return cs[0]
}

// sent marks the claim of order sent, or releases it, and fails the test
// on an error.
func (e env) settle(t *testing.T, order, claim uuid.UUID, sent bool) {
	t.Helper()
	c := []users.Claim{{Order: order, ID: claim}}
	settle := e.ReleaseConfirmations
	if sent {
		settle = e.ConfirmationsSent
	}
	if err := settle(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

// withBuyer is e with a buyer to mail confirmations to.
func (e env) withBuyer(t *testing.T) env {
	t.Helper()
	u := e.mustUser(t, "buyer-"+uuid.NewString()[:8]+"@example.com")
	e.buyer = &u
	return e
}

func TestNoConfirmationIsClaimedForABuyerWhoCannotBeMailed(t *testing.T) {
	e := newEnv(t).withBuyer(t)
	if _, err := e.SetDisabled(t.Context(), e.buyer.ID, true); err != nil {
		t.Fatal(err)
	}
	for name, buyer := range map[string]uuid.UUID{"unknown": uuid.New(), "disabled": e.buyer.ID} {
		order := uuid.New()
		if c := e.claimOne(t, order, buyer, time.Hour); c.Outcome != users.ClaimSkipped {
			t.Errorf("claim for an %s buyer: %+v; want skipped", name, c)
		}
		var claims int
		if err := e.db.QueryRow(t.Context(), `SELECT count(*) FROM order_confirmations WHERE order_id = $1`, order).Scan(&claims); err != nil || claims != 0 {
			t.Errorf("claim for an %s buyer left %d claims (%v), want none", name, claims, err)
		}
	}
}

func TestAConfirmationIsClaimedByOneDeliveryAndDoneOnceSent(t *testing.T) {
	e, order := newEnv(t).withBuyer(t), uuid.New()
	got, abandoned := e.claim(t, order, time.Hour)
	if got != users.ClaimGranted {
		t.Fatalf("first claim: %v, want granted", got)
	}
	if got, _ := e.claim(t, order, time.Hour); got != users.ClaimBusy {
		t.Fatalf("claim while another holds a live one: %v, want busy", got)
	}
	// The holder's lease has run out (a lease of 0 has): the claim is
	// taken over, and the old holder can no longer release or finish it.
	got, taken := e.claim(t, order, 0)
	if got != users.ClaimGranted || taken == abandoned {
		t.Fatalf("claim past the lease: %v, want granted with a new claim", got)
	}
	e.settle(t, order, abandoned, false)
	e.settle(t, order, abandoned, true)
	if got, _ := e.claim(t, order, time.Hour); got != users.ClaimBusy {
		t.Fatalf("claim after the old holder released and finished: %v, want busy (the new holder's)", got)
	}
	e.settle(t, order, taken, true)
	if got, _ := e.claim(t, order, 0); got != users.ClaimSent {
		t.Fatalf("claim once sent: %v, want sent, whatever the lease", got)
	}
}

func TestAReleasedConfirmationIsClaimedAgain(t *testing.T) {
	e, order := newEnv(t).withBuyer(t), uuid.New()
	_, claim := e.claim(t, order, time.Hour)
	e.settle(t, order, claim, false)
	if got, _ := e.claim(t, order, time.Hour); got != users.ClaimGranted {
		t.Fatalf("claim after release: %v, want granted", got)
	}
}

func TestOneStatementClaimsABatchOfConfirmationsEachByItsOwnState(t *testing.T) {
	e := newEnv(t).withBuyer(t)
	disabled := e.mustUser(t, "disabled-"+uuid.NewString()[:8]+"@example.com")
	if _, err := e.SetDisabled(t.Context(), disabled.ID, true); err != nil {
		t.Fatal(err)
	}
	sentOrder, busyOrder := uuid.New(), uuid.New()
	_, sentClaim := e.claim(t, sentOrder, time.Hour)
	e.settle(t, sentOrder, sentClaim, true)
	e.claim(t, busyOrder, time.Hour)

	batch := []struct {
		name  string
		order users.OrderOfBuyer
		want  users.ClaimOutcome
	}{
		{"a fresh order", users.OrderOfBuyer{Order: uuid.New(), Buyer: e.buyer.ID}, users.ClaimGranted},
		{"an order mailed before", users.OrderOfBuyer{Order: sentOrder, Buyer: e.buyer.ID}, users.ClaimSent},
		{"an unknown buyer's order", users.OrderOfBuyer{Order: uuid.New(), Buyer: uuid.New()}, users.ClaimSkipped},
		{"an order another delivery holds", users.OrderOfBuyer{Order: busyOrder, Buyer: e.buyer.ID}, users.ClaimBusy},
		{"a disabled buyer's order", users.OrderOfBuyer{Order: uuid.New(), Buyer: disabled.ID}, users.ClaimSkipped},
		{"another fresh order", users.OrderOfBuyer{Order: uuid.New(), Buyer: e.buyer.ID}, users.ClaimGranted},
	}
	orders := make([]users.OrderOfBuyer, len(batch))
	for i, b := range batch {
		orders[i] = b.order
	}
	claims, err := e.ClaimConfirmations(t.Context(), orders, time.Hour)
	if err != nil || len(claims) != len(batch) {
		t.Fatalf("ClaimConfirmations: %d claims, %v; want %d", len(claims), err, len(batch))
	}
	for i, b := range batch {
		c := claims[i]
		if c.Order != b.order.Order || c.Outcome != b.want {
			t.Errorf("%s: claim for order %s is %v, want %v for order %s", b.name, c.Order, c.Outcome, b.want, b.order.Order)
		}
		if c.Outcome == users.ClaimGranted && (c.ID == uuid.Nil || c.Buyer.Email != e.buyer.Email) {
			t.Errorf("%s: a granted claim %+v lacks its id or buyer", b.name, c)
		}
	}
	if err := e.ConfirmationsSent(t.Context(), []users.Claim{claims[0], claims[5]}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 5} {
		if got, _ := e.claim(t, batch[i].order.Order, 0); got != users.ClaimSent {
			t.Errorf("%s after its batch was marked sent: %v, want sent", batch[i].name, got)
		}
	}
}

func TestConcurrentBatchesSharingOrdersGrantEachClaimOnceAndNeverDeadlock(t *testing.T) {
	e := newEnv(t).withBuyer(t)
	orders := e.orders(200)
	const batches = 16
	var (
		mu      sync.Mutex
		granted = map[uuid.UUID]int{}
		wg      sync.WaitGroup
	)
	for b := range batches {
		batch := shuffled(orders, b)
		wg.Go(func() {
			claims, err := e.ClaimConfirmations(context.Background(), batch, time.Hour)
			if err != nil {
				t.Errorf("a batch failed: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for i, c := range claims {
				if c.Order != batch[i].Order {
					t.Errorf("claim %d is for order %s, want %s", i, c.Order, batch[i].Order)
				}
				if c.Outcome == users.ClaimGranted {
					granted[c.Order]++
				}
			}
		})
	}
	wg.Wait()
	for _, o := range orders {
		if granted[o.Order] != 1 {
			t.Errorf("order %s was granted %d times, want once", o.Order, granted[o.Order])
		}
	}
}

func TestClaimsRacingSentMarksAndReleasesOfTheSameOrdersNeverDeadlock(t *testing.T) {
	e := newEnv(t).withBuyer(t)
	orders := e.orders(100)
	var wg sync.WaitGroup
	for b := range 12 {
		batch := shuffled(orders, b)
		wg.Go(func() {
			for range 5 {
				// A lease of 0 takes over every unsent claim, so each
				// round locks rows that other batches mark or release.
				claims, err := e.ClaimConfirmations(context.Background(), batch, 0)
				if err != nil {
					t.Errorf("a claim failed: %v", err)
					return
				}
				var mine []users.Claim // in the batch's shuffled order
				for _, c := range claims {
					if c.Outcome == users.ClaimGranted {
						mine = append(mine, c)
					}
				}
				half := len(mine) / 2
				if err := e.ReleaseConfirmations(context.Background(), mine[:half]); err != nil {
					t.Errorf("a release failed: %v", err)
				}
				if err := e.ConfirmationsSent(context.Background(), mine[half:]); err != nil {
					t.Errorf("a sent mark failed: %v", err)
				}
			}
		})
	}
	wg.Wait()
}

// orders are n fresh orders of e's buyer.
func (e env) orders(n int) []users.OrderOfBuyer {
	orders := make([]users.OrderOfBuyer, n)
	for i := range orders {
		orders[i] = users.OrderOfBuyer{Order: uuid.New(), Buyer: e.buyer.ID}
	}
	return orders
}

// shuffled is a copy of orders in an order of its own for seed, as
// redeliveries of a burst can come.
func shuffled(orders []users.OrderOfBuyer, seed int) []users.OrderOfBuyer {
	batch := slices.Clone(orders)
	rand.New(rand.NewPCG(uint64(seed), 1)).Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
	return batch
}

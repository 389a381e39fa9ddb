package userdb_test

import (
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
	c, err := e.ClaimConfirmation(t.Context(), order, e.buyer.ID, lease)
	if err != nil {
		t.Fatalf("ClaimConfirmation: %v", err)
	}
	if b := e.buyer; c.Outcome == users.ClaimGranted &&
		(c.Buyer.Email != b.Email || c.Buyer.DisplayName != b.DisplayName || string(c.Buyer.Preferences) != string(b.Preferences)) {
		t.Fatalf("a granted claim's buyer is %+v, want %s, %s, %s", c.Buyer, b.Email, b.DisplayName, b.Preferences)
	}
	return c.Outcome, c.ID
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
		c, err := e.ClaimConfirmation(t.Context(), order, buyer, time.Hour)
		if err != nil || c.Outcome != users.ClaimSkipped {
			t.Errorf("claim for an %s buyer: %+v, %v; want skipped", name, c, err)
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
	if err := e.ReleaseConfirmation(t.Context(), order, abandoned); err != nil {
		t.Fatal(err)
	}
	if err := e.ConfirmationSent(t.Context(), order, abandoned); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.claim(t, order, time.Hour); got != users.ClaimBusy {
		t.Fatalf("claim after the old holder released and finished: %v, want busy (the new holder's)", got)
	}
	if err := e.ConfirmationSent(t.Context(), order, taken); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.claim(t, order, 0); got != users.ClaimSent {
		t.Fatalf("claim once sent: %v, want sent, whatever the lease", got)
	}
}

func TestAReleasedConfirmationIsClaimedAgain(t *testing.T) {
	e, order := newEnv(t).withBuyer(t), uuid.New()
	_, claim := e.claim(t, order, time.Hour)
	if err := e.ReleaseConfirmation(t.Context(), order, claim); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.claim(t, order, time.Hour); got != users.ClaimGranted {
		t.Fatalf("claim after release: %v, want granted", got)
	}
}

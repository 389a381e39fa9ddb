package userdb_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/users"
)

// claim claims order's confirmation and fails the test on an error.
func (e env) claim(t *testing.T, order uuid.UUID, lease time.Duration) (users.ClaimOutcome, uuid.UUID) {
	t.Helper()
	outcome, claim, err := e.ClaimConfirmation(t.Context(), order, uuid.New(), lease)
	if err != nil {
		t.Fatalf("ClaimConfirmation: %v", err)
	}
	return outcome, claim
}

func TestAConfirmationIsClaimedByOneDeliveryAndDoneOnceSent(t *testing.T) {
	e, order := newEnv(t), uuid.New()
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
	e, order := newEnv(t), uuid.New()
	_, claim := e.claim(t, order, time.Hour)
	if err := e.ReleaseConfirmation(t.Context(), order, claim); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.claim(t, order, time.Hour); got != users.ClaimGranted {
		t.Fatalf("claim after release: %v, want granted", got)
	}
}

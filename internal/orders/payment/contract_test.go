package payment_test

import (
	"context"
	"errors"
	"testing"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/orders/payment/stripemocktest"
)

// gatewayUnderContract is one implementation of orders.PaymentGateway, as
// the contract suite drives it. A provider's test mode may answer every
// charge alike (stripe-mock answers from fixed fixtures), so the suite
// takes one gateway that approves the test card and one that declines the
// test card for declines; they may be the same.
type gatewayUnderContract struct {
	// approving charges pm_card_visa successfully.
	approving orders.PaymentGateway
	// declining declines payment.DeclinedPaymentMethod.
	declining orders.PaymentGateway
	// statelessIDs is set for a mock that makes up a new id on every
	// answer (stripe-mock keeps nothing): a repeat then shows the same
	// outcome under another id. That the adapter sends the key, so that
	// Stripe itself replays the answer, is TestStripeChargeRequests' part.
	statelessIDs bool
}

func TestSimulatedKeepsThePaymentGatewayContract(t *testing.T) {
	t.Parallel()
	g := payment.NewSimulated(payment.SimulatedConfig{Seed: 11})
	testPaymentGatewayContract(t, gatewayUnderContract{approving: g, declining: g})
}

func TestStripeAgainstStripeMockKeepsThePaymentGatewayContract(t *testing.T) {
	t.Parallel()
	// Stock stripe-mock answers every payment intent with a failed attempt;
	// this fixture makes them succeed.
	succeeding := stripemocktest.StartStripeMock(t, stripemocktest.WithFixture("payment_intent", map[string]any{
		"status": "succeeded", "last_payment_error": nil,
	}))
	declining := stripemocktest.StartStripeMock(t)
	testPaymentGatewayContract(t, gatewayUnderContract{
		approving:    newStripe(t, payment.StripeConfig{APIBase: succeeding}),
		declining:    newStripe(t, payment.StripeConfig{APIBase: declining}),
		statelessIDs: true,
	})
}

// testPaymentGatewayContract checks what the orders service relies on from
// any payment gateway: outcomes (succeeded or declined, never an error) come
// with the provider's id; a key always means the same charge or refund;
// requests that can never succeed are refused as such before anything
// moves; anything else that fails leaves the outcome unknown.
func testPaymentGatewayContract(t *testing.T, g gatewayUnderContract) {
	t.Run("a charge that goes through succeeds with the provider's id", func(t *testing.T) {
		got, err := g.approving.Charge(t.Context(), chargeRequest("contract-ok", "pm_card_visa"))
		if err != nil || got.Status != orders.ChargeSucceeded || got.ID == "" || got.DeclineReason != "" {
			t.Fatalf("Charge = %+v, %v; want succeeded with an id", got, err)
		}
	})
	t.Run("a repeat under the same key returns the first outcome", func(t *testing.T) {
		for _, gw := range []orders.PaymentGateway{g.approving, g.declining} {
			req := chargeRequest("contract-repeat", "pm_card_visa")
			if gw == g.declining {
				req.PaymentMethod = payment.DeclinedPaymentMethod
			}
			first, err := gw.Charge(t.Context(), req)
			if err != nil {
				t.Fatalf("first Charge: %v", err)
			}
			again, err := gw.Charge(t.Context(), req)
			if g.statelessIDs {
				again.ID = first.ID
			}
			if err != nil || again != first {
				t.Errorf("repeated Charge = %+v, %v; want the first outcome %+v", again, err, first)
			}
		}
	})
	t.Run("a declined charge is an outcome with a reason, not an error", func(t *testing.T) {
		got, err := g.declining.Charge(t.Context(), chargeRequest("contract-declined", payment.DeclinedPaymentMethod))
		if err != nil || got.Status != orders.ChargeDeclined || got.DeclineReason == "" || got.ID == "" {
			t.Fatalf("Charge = %+v, %v; want declined with an id and a reason", got, err)
		}
	})
	t.Run("charges that can never go through are refused as such", func(t *testing.T) {
		tests := []struct {
			name   string
			change func(*orders.ChargeRequest)
			want   error
		}{
			{"no idempotency key", func(r *orders.ChargeRequest) { r.Key = "" }, orders.ErrPaymentRejected},
			{"a zero amount", func(r *orders.ChargeRequest) { r.Amount = 0 }, orders.ErrPaymentRejected},
			{"a negative amount", func(r *orders.ChargeRequest) { r.Amount = -100 }, orders.ErrPaymentRejected},
			{"no payment method", func(r *orders.ChargeRequest) { r.PaymentMethod = "" }, orders.ErrPaymentMethodInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := chargeRequest("contract-refused-"+tt.name, "pm_card_visa")
				tt.change(&req)
				if got, err := g.approving.Charge(t.Context(), req); !errors.Is(err, tt.want) {
					t.Errorf("Charge = %+v, %v; want an error wrapping %v", got, err, tt.want)
				}
			})
		}
	})
	t.Run("a charge whose context has ended leaves the outcome unknown", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		got, err := g.approving.Charge(ctx, chargeRequest("contract-cancelled", "pm_card_visa"))
		if !errors.Is(err, context.Canceled) || errors.Is(err, orders.ErrPaymentRejected) || errors.Is(err, orders.ErrPaymentMethodInvalid) {
			t.Fatalf("Charge = %+v, %v; want an unknown outcome carrying the context's error", got, err)
		}
	})
	t.Run("a refund of a charge returns the provider's id, and a repeat the same refund", func(t *testing.T) {
		ch, err := g.approving.Charge(t.Context(), chargeRequest("contract-to-refund", "pm_card_visa"))
		if err != nil || ch.Status != orders.ChargeSucceeded {
			t.Fatalf("Charge = %+v, %v", ch, err)
		}
		req := orders.RefundRequest{Key: "contract-refund", ChargeID: ch.ID, Amount: 2599, Currency: "EUR"}
		first, err := g.approving.Refund(t.Context(), req)
		if err != nil || first.ID == "" {
			t.Fatalf("Refund = %+v, %v; want a refund with an id", first, err)
		}
		again, err := g.approving.Refund(t.Context(), req)
		if g.statelessIDs && again.ID != "" {
			again.ID = first.ID
		}
		if err != nil || again != first {
			t.Errorf("repeated Refund = %+v, %v; want the first refund %+v", again, err, first)
		}
	})
	t.Run("refunds that can never go through are refused as such", func(t *testing.T) {
		tests := []struct {
			name string
			req  orders.RefundRequest
		}{
			{"no idempotency key", orders.RefundRequest{ChargeID: "pi_contract", Amount: 100, Currency: "EUR"}},
			{"a negative amount", orders.RefundRequest{Key: "contract-refund-negative", ChargeID: "pi_contract", Amount: -1, Currency: "EUR"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got, err := g.approving.Refund(t.Context(), tt.req); !errors.Is(err, orders.ErrPaymentRejected) {
					t.Errorf("Refund = %+v, %v; want an error wrapping ErrPaymentRejected", got, err)
				}
			})
		}
	})
}

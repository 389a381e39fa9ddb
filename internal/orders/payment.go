package orders

import (
	"context"
	"errors"
	"time"
)

// KeyWindow is how long a payment provider is trusted to remember an
// idempotency key after its first use: Stripe keeps keys 24 hours, less an
// hour's margin. A charge or refund whose outcome is still unknown past it
// is not asked for again, by the resolver or by a buyer's retry, since the
// provider could make it a second time: it waits for an operator to
// reconcile it (ADR 0018).
const KeyWindow = 23 * time.Hour

// PaymentGateway charges buyers and refunds them at a payment provider.
//
// Every call carries an idempotency key derived from the order, so a call
// repeated after a timeout or a crash returns the first call's outcome and
// never moves money twice. A declined charge is an outcome, not an error:
// an error means the outcome is unknown, and the caller must resolve it by
// repeating the call with the same key, never by charging under a new one.
type PaymentGateway interface {
	// Charge takes the order's amount from the buyer's payment method.
	Charge(ctx context.Context, req ChargeRequest) (Charge, error)
	// Refund returns a charge's money to the buyer.
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
}

// ChargeRequest asks for one charge.
type ChargeRequest struct {
	// Key makes the charge idempotent: the same key always means the same
	// charge.
	Key string
	// OrderID is recorded with the charge, so the provider's dashboard and
	// webhooks lead back to the order.
	OrderID string
	// Amount is in the currency's minor units.
	Amount int64
	// Currency is an ISO 4217 code in upper case, such as "EUR".
	Currency string
	// PaymentMethod is the provider's token for the buyer's card or wallet,
	// such as Stripe's "pm_card_visa".
	PaymentMethod string
}

// ChargeStatus is a charge's outcome.
type ChargeStatus string

// Charge outcomes.
const (
	// ChargeSucceeded means the money was taken (captured).
	ChargeSucceeded ChargeStatus = "succeeded"
	// ChargeDeclined means the provider refused; nothing was taken.
	ChargeDeclined ChargeStatus = "declined"
)

// Charge is what the provider did with a ChargeRequest.
type Charge struct {
	// ID is the provider's reference, such as a PaymentIntent id.
	ID     string
	Status ChargeStatus
	// DeclineReason is the provider's reason code when Status is declined.
	DeclineReason string
}

// RefundRequest asks to give a charge's money back.
type RefundRequest struct {
	// Key makes the refund idempotent.
	Key string
	// ChargeID is Charge.ID of the charge to refund.
	ChargeID string
	Amount   int64
	Currency string
}

// Refund is the provider's record of a refund.
type Refund struct {
	ID string
}

// ErrPaymentMethodInvalid is returned when the provider rejects the payment
// method itself (unknown token, malformed): the caller's fault, not an
// unknown outcome, and nothing was charged.
var ErrPaymentMethodInvalid = errors.New("payment method invalid")

// ErrPaymentRejected is returned when the provider refused the request
// before any money could move (a bad amount, a refund of an unknown charge).
// Asking again under the same key gets the same answer, so it is final, not
// an unknown outcome. A refused API key is not this: it says nothing of
// what an earlier attempt under the key did, so it is an unknown outcome.
var ErrPaymentRejected = errors.New("payment request rejected")

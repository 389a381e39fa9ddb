// Package payment holds the adapters behind orders.PaymentGateway: Stripe,
// for production and for tests against stripe-mock, and Simulated, for local
// runs and load tests that must not reach a payment provider.
//
// Both follow the contract of orders.PaymentGateway: a decline is an outcome,
// not an error, and any error not listed below means the outcome is unknown,
// to be resolved by repeating the call with the same key.
package payment

import (
	"errors"

	"github.com/marketplace-go/marketplace/internal/orders"
)

// Errors that say more than "outcome unknown". Besides these, a charge whose
// payment method is refused wraps orders.ErrPaymentMethodInvalid.
var (
	// ErrRejected means the request was refused before any money could move
	// (for example a non-positive amount, an empty idempotency key, or a
	// refund of an unknown charge; not a bad API key, which says nothing of
	// what an earlier attempt under the same key did). Repeating it with the same key
	// gets the same answer, so the caller should give up rather than retry.
	// It is orders.ErrPaymentRejected, which the orders service acts on.
	ErrRejected = orders.ErrPaymentRejected

	// ErrKeyReused means an idempotency key was sent again with different
	// parameters. The provider did not run this request, but the key's first
	// request may have moved money: its outcome is still unknown, and only a
	// repeat with the original parameters can learn it.
	ErrKeyReused = errors.New("idempotency key reused with different parameters")

	// ErrWebhookSignature means a webhook's Stripe-Signature header is
	// missing, malformed, made with another secret, does not match the
	// payload, or is older than the tolerance: the request did not come from
	// Stripe, or is a stale replay, and must be refused.
	ErrWebhookSignature = errors.New("webhook signature invalid")

	// ErrWebhookPayload means a correctly signed webhook payload could not be
	// read as a Stripe event.
	ErrWebhookPayload = errors.New("webhook payload malformed")
)

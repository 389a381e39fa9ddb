package payment

import (
	"context"
	"net/http"

	"github.com/stripe/stripe-go/v82"
)

// stripeAPI calls the four Stripe endpoints the adapter uses through
// stripe-go's Backend, as stripe-go's own services do.
//
// It stands in for stripe.Client on purpose: stripe.NewClient builds every
// one of Stripe's ~200 services, and the linker keeps all their methods and
// parameter types, about 5 MB of the release binary (docs/deploy.md,
// "Size"), for four calls.
type stripeAPI struct {
	backend stripe.Backend
	key     string
}

// createPaymentIntent is POST /v1/payment_intents.
func (a stripeAPI) createPaymentIntent(ctx context.Context, params *stripe.PaymentIntentCreateParams) (*stripe.PaymentIntent, error) {
	params.Context = ctx
	pi := &stripe.PaymentIntent{}
	err := a.backend.Call(http.MethodPost, "/v1/payment_intents", a.key, params, pi)
	return pi, err
}

// capturePaymentIntent is POST /v1/payment_intents/{id}/capture.
func (a stripeAPI) capturePaymentIntent(ctx context.Context, id string, params *stripe.PaymentIntentCaptureParams) (*stripe.PaymentIntent, error) {
	params.Context = ctx
	pi := &stripe.PaymentIntent{}
	err := a.backend.Call(http.MethodPost, stripe.FormatURLPath("/v1/payment_intents/%s/capture", id), a.key, params, pi)
	return pi, err
}

// retrievePaymentIntent is GET /v1/payment_intents/{id}.
func (a stripeAPI) retrievePaymentIntent(ctx context.Context, id string) (*stripe.PaymentIntent, error) {
	params := &stripe.PaymentIntentRetrieveParams{}
	params.Context = ctx
	pi := &stripe.PaymentIntent{}
	err := a.backend.Call(http.MethodGet, stripe.FormatURLPath("/v1/payment_intents/%s", id), a.key, params, pi)
	return pi, err
}

// createRefund is POST /v1/refunds.
func (a stripeAPI) createRefund(ctx context.Context, params *stripe.RefundCreateParams) (*stripe.Refund, error) {
	params.Context = ctx
	refund := &stripe.Refund{}
	err := a.backend.Call(http.MethodPost, "/v1/refunds", a.key, params, refund)
	return refund, err
}

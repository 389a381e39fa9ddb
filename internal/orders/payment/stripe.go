package payment

import (
	"context"
	"errors"
	"fmt"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
	"go.opentelemetry.io/otel/trace"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/marketplace-go/marketplace/internal/orders"
)

const (
	// defaultStripeTimeout bounds one HTTP attempt when the caller brings no
	// client. stripe-go's own default (80s) would hold an order's checkout
	// far longer than a buyer waits; a timed-out charge is resolved later by
	// repeating it with the same key.
	defaultStripeTimeout = 30 * time.Second

	// maxIdempotencyKeyLen is Stripe's limit; stripe-go refuses longer keys.
	maxIdempotencyKeyLen = 255

	// Suffixes turn the order's one key into a key per Stripe request, since
	// Stripe binds a key to one endpoint and one set of parameters.
	createKeySuffix  = ":create"
	captureKeySuffix = ":capture"

	// reasonAuthenticationRequired is the decline reason when the card needs
	// the buyer's authentication (3-D Secure), which a server-side charge
	// cannot give.
	reasonAuthenticationRequired = "authentication_required"
)

// StripeConfig configures a Stripe adapter.
type StripeConfig struct {
	// SecretKey is the API secret key (sk_live_..., sk_test_...; stripe-mock
	// accepts any non-empty key).
	SecretKey string
	// APIBase is the API's base URL, such as stripe-mock's
	// "http://127.0.0.1:12111". Empty means Stripe's real API.
	APIBase string
	// WebhookSecret is the webhook endpoint's signing secret (whsec_...).
	// VerifyWebhook refuses every event while it is empty.
	WebhookSecret string
	// Tracer makes a client span of each request to the API; nil makes
	// none.
	Tracer trace.TracerProvider
	// HTTPClient sends the requests. Nil means a client of the adapter's own
	// whose timeout is Timeout.
	HTTPClient *http.Client
	// Timeout bounds one HTTP attempt when HTTPClient is nil; zero means 30s.
	// The caller's context bounds the whole call either way.
	Timeout time.Duration
	// MaxNetworkRetries is how often stripe-go itself repeats a request that
	// failed in transit (a dropped connection, a response it cannot decode)
	// or hit a lock timeout; stripe-go v82 does not repeat Stripe's error
	// answers, 5xx included. Each repeat carries the same idempotency key,
	// so it cannot charge twice. Zero (the default) means none: the orders
	// service already resolves unknown outcomes by repeating the whole call
	// with the same key, and stripe-go's back-off sleeps without watching the
	// context.
	MaxNetworkRetries int
	// Logger receives stripe-go's own log lines; nil discards them, because
	// stripe-go's default logger writes plain text to stderr.
	Logger *slog.Logger
}

// Stripe charges and refunds through Stripe's PaymentIntents API. Each
// instance has its own client and configuration, so several can live in one
// process (the tests run a real one and a fake side by side). It is safe for
// concurrent use.
type Stripe struct {
	api           stripeAPI
	webhookSecret string
}

// Stripe must stay usable as the orders service's gateway.
var _ orders.PaymentGateway = (*Stripe)(nil)

// NewStripe returns a Stripe adapter for cfg.
func NewStripe(cfg StripeConfig) (*Stripe, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("payment: stripe secret key is empty")
	}
	if cfg.MaxNetworkRetries < 0 {
		return nil, fmt.Errorf("payment: stripe max network retries is %d, want 0 or more", cfg.MaxNetworkRetries)
	}

	httpClient := cfg.HTTPClient
	if httpClient == nil {
		timeout := cfg.Timeout
		if timeout <= 0 {
			timeout = defaultStripeTimeout
		}
		httpClient = &http.Client{Timeout: timeout}
	}
	httpClient = tracing.Client(httpClient, cfg.Tracer)

	var logger stripe.LeveledLoggerInterface = &stripe.LeveledLogger{Level: stripe.LevelNull}
	if cfg.Logger != nil {
		logger = slogLogger{l: cfg.Logger}
	}

	backendCfg := &stripe.BackendConfig{
		HTTPClient:        httpClient,
		LeveledLogger:     logger,
		MaxNetworkRetries: stripe.Int64(int64(cfg.MaxNetworkRetries)),
	}
	if cfg.APIBase != "" {
		u, err := url.Parse(cfg.APIBase)
		if err != nil {
			return nil, fmt.Errorf("payment: stripe API base %q: %w", cfg.APIBase, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("payment: stripe API base %q is not an http(s) URL", cfg.APIBase)
		}
		backendCfg.URL = stripe.String(cfg.APIBase)
	}

	// Backends of our own, rather than stripe-go's package-level ones, keep
	// this instance's URL, client and retries from leaking into any other
	// user of stripe-go in the process.
	api := stripeAPI{backend: stripe.GetBackendWithConfig(stripe.APIBackend, backendCfg), key: cfg.SecretKey}
	return &Stripe{api: api, webhookSecret: cfg.WebhookSecret}, nil
}

// Charge authorises req.Amount on req.PaymentMethod and captures it.
//
// It creates a confirmed PaymentIntent with manual capture, then captures it.
// Authorising and capturing in two steps, each with its own idempotency key
// derived from req.Key, means a repeat after a timeout replays whichever step
// already happened instead of doing it again. Stripe keeps idempotency keys
// for 24 hours: a repeat later than that would create a second
// PaymentIntent, so an older unknown outcome must be reconciled through the
// PaymentIntent's order_id metadata instead.
//
// A refusal by the card issuer returns a Charge with Status ChargeDeclined
// and a nil error. A payment method that Stripe rejects as such returns an
// error wrapping orders.ErrPaymentMethodInvalid; a request Stripe refuses
// for another reason wraps ErrRejected, and a key reused with other
// parameters wraps ErrKeyReused. Any other error (timeout, network failure,
// 5xx, rate limit) means the outcome is unknown.
func (s *Stripe) Charge(ctx context.Context, req orders.ChargeRequest) (orders.Charge, error) {
	if err := validateStripeCharge(req); err != nil {
		return orders.Charge{}, err
	}

	params := &stripe.PaymentIntentCreateParams{
		Amount:        stripe.Int64(req.Amount),
		Currency:      stripe.String(strings.ToLower(req.Currency)),
		PaymentMethod: stripe.String(req.PaymentMethod),
		Confirm:       stripe.Bool(true),
		CaptureMethod: stripe.String(string(stripe.PaymentIntentCaptureMethodManual)),
		// Without this Stripe asks for a return_url, in case the account
		// has redirect-based methods enabled; a server-side charge has no
		// page to return to, so those methods are ruled out.
		AutomaticPaymentMethods: &stripe.PaymentIntentCreateAutomaticPaymentMethodsParams{
			Enabled:        stripe.Bool(true),
			AllowRedirects: stripe.String("never"),
		},
	}
	if req.OrderID != "" {
		params.AddMetadata("order_id", req.OrderID)
	}
	params.SetIdempotencyKey(req.Key + createKeySuffix)

	pi, err := s.api.createPaymentIntent(ctx, params)
	if err != nil {
		return chargeFailure("create payment intent", err)
	}
	return s.settle(ctx, req, pi, true)
}

// settle turns a PaymentIntent's status into the charge's outcome, capturing
// an authorised one. mayRetrieve allows one fresh read of the PaymentIntent,
// needed because a repeated create returns Stripe's stored first response,
// whose status may be long out of date.
func (s *Stripe) settle(ctx context.Context, req orders.ChargeRequest, pi *stripe.PaymentIntent, mayRetrieve bool) (orders.Charge, error) {
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		return orders.Charge{ID: pi.ID, Status: orders.ChargeSucceeded}, nil

	case stripe.PaymentIntentStatusRequiresCapture:
		params := &stripe.PaymentIntentCaptureParams{}
		params.SetIdempotencyKey(req.Key + captureKeySuffix)
		captured, err := s.api.capturePaymentIntent(ctx, pi.ID, params)
		if err != nil {
			return chargeFailure("capture payment intent "+pi.ID, err)
		}
		if captured.Status == stripe.PaymentIntentStatusSucceeded {
			return orders.Charge{ID: captured.ID, Status: orders.ChargeSucceeded}, nil
		}
		return orders.Charge{}, fmt.Errorf("stripe: payment intent %s is %q after capture: outcome unknown", pi.ID, captured.Status)

	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		// Confirmed with a payment method, the only way back to this status
		// is a failed attempt, which Stripe describes in last_payment_error.
		if pi.LastPaymentError != nil {
			return orders.Charge{ID: pi.ID, Status: orders.ChargeDeclined, DeclineReason: declineReason(pi.LastPaymentError)}, nil
		}

	case stripe.PaymentIntentStatusRequiresAction:
		// Nothing was authorised, and nobody is there to authenticate.
		return orders.Charge{ID: pi.ID, Status: orders.ChargeDeclined, DeclineReason: reasonAuthenticationRequired}, nil

	case stripe.PaymentIntentStatusCanceled:
		reason := string(pi.CancellationReason)
		if reason == "" {
			reason = string(stripe.PaymentIntentStatusCanceled)
		}
		return orders.Charge{ID: pi.ID, Status: orders.ChargeDeclined, DeclineReason: reason}, nil

	case stripe.PaymentIntentStatusProcessing:
		if mayRetrieve {
			fresh, err := s.api.retrievePaymentIntent(ctx, pi.ID)
			if err != nil {
				return chargeFailure("retrieve payment intent "+pi.ID, err)
			}
			return s.settle(ctx, req, fresh, false)
		}
	}
	return orders.Charge{}, fmt.Errorf("stripe: payment intent %s is %q: outcome unknown", pi.ID, pi.Status)
}

// Refund refunds req.Amount of the PaymentIntent req.ChargeID, or all that is
// left of it when req.Amount is zero. req.Key is the refund's idempotency
// key, so a repeat returns the first refund. Errors mean the same as
// Charge's; a refund Stripe reports as failed or canceled wraps ErrRejected.
func (s *Stripe) Refund(ctx context.Context, req orders.RefundRequest) (orders.Refund, error) {
	switch {
	case req.Key == "":
		// stripe-go would make up a random key, and a repeat would refund
		// twice.
		return orders.Refund{}, fmt.Errorf("stripe: refund: %w: empty idempotency key", ErrRejected)
	case len(req.Key) > maxIdempotencyKeyLen:
		return orders.Refund{}, fmt.Errorf("stripe: refund: %w: idempotency key longer than %d bytes", ErrRejected, maxIdempotencyKeyLen)
	case req.ChargeID == "":
		return orders.Refund{}, fmt.Errorf("stripe: refund: %w: empty charge id", ErrRejected)
	case req.Amount < 0:
		return orders.Refund{}, fmt.Errorf("stripe: refund: %w: negative amount %d", ErrRejected, req.Amount)
	}

	params := &stripe.RefundCreateParams{PaymentIntent: stripe.String(req.ChargeID)}
	if req.Amount > 0 {
		params.Amount = stripe.Int64(req.Amount)
	}
	params.SetIdempotencyKey(req.Key)

	refund, err := s.api.createRefund(ctx, params)
	if err != nil {
		return orders.Refund{}, classify("create refund for "+req.ChargeID, err)
	}
	switch refund.Status {
	case stripe.RefundStatusFailed, stripe.RefundStatusCanceled:
		return orders.Refund{}, fmt.Errorf("stripe: refund %s for %s: %w: status %q, reason %q",
			refund.ID, req.ChargeID, ErrRejected, refund.Status, refund.FailureReason)
	}
	return orders.Refund{ID: refund.ID}, nil
}

// validateStripeCharge refuses, before anything is sent, requests that Stripe
// would refuse or that would lose idempotency.
func validateStripeCharge(req orders.ChargeRequest) error {
	switch {
	case req.Key == "":
		// stripe-go would make up a random key, and a repeat would charge
		// twice.
		return fmt.Errorf("stripe: charge: %w: empty idempotency key", ErrRejected)
	case len(req.Key)+len(captureKeySuffix) > maxIdempotencyKeyLen:
		return fmt.Errorf("stripe: charge: %w: idempotency key longer than %d bytes", ErrRejected, maxIdempotencyKeyLen-len(captureKeySuffix))
	case req.PaymentMethod == "":
		return fmt.Errorf("stripe: charge: %w: empty payment method", orders.ErrPaymentMethodInvalid)
	case req.Amount <= 0:
		return fmt.Errorf("stripe: charge: %w: amount %d is not positive", ErrRejected, req.Amount)
	case len(req.Currency) != 3:
		return fmt.Errorf("stripe: charge: %w: currency %q is not an ISO 4217 code", ErrRejected, req.Currency)
	}
	return nil
}

// chargeFailure maps a failed charge request: a card error is a decline, an
// outcome like any other; everything else is an error.
func chargeFailure(op string, err error) (orders.Charge, error) {
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
		var id string
		if se.PaymentIntent != nil {
			id = se.PaymentIntent.ID
		}
		return orders.Charge{ID: id, Status: orders.ChargeDeclined, DeclineReason: declineReason(se)}, nil
	}
	return orders.Charge{}, classify(op, err)
}

// classify sorts a failed request into the errors the caller can act on.
func classify(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		// Timeouts, cancelled contexts, broken connections and unreadable
		// responses: the request may well have been carried out.
		return fmt.Errorf("stripe: %s: outcome unknown: %w", op, err)
	}
	switch {
	case se.HTTPStatusCode == http.StatusTooManyRequests,
		se.HTTPStatusCode == http.StatusConflict, // the same key is in flight
		// A rotated or revoked key says nothing of what an earlier attempt
		// under this idempotency key did.
		se.HTTPStatusCode == http.StatusUnauthorized, se.HTTPStatusCode == http.StatusForbidden,
		se.HTTPStatusCode >= http.StatusInternalServerError,
		se.Type == stripe.ErrorTypeAPI:
		return &apiError{op: op, se: se}
	case se.Type == stripe.ErrorTypeIdempotency:
		return &apiError{op: op, kind: ErrKeyReused, se: se}
	case aboutPaymentMethod(se):
		return &apiError{op: op, kind: orders.ErrPaymentMethodInvalid, se: se}
	case se.HTTPStatusCode >= http.StatusBadRequest:
		return &apiError{op: op, kind: ErrRejected, se: se}
	}
	return &apiError{op: op, se: se}
}

// aboutPaymentMethod reports whether Stripe refused the request because of
// the payment method itself (unknown, detached, unusable for this payment).
func aboutPaymentMethod(se *stripe.Error) bool {
	if se.Type != stripe.ErrorTypeInvalidRequest {
		return false
	}
	if strings.HasPrefix(se.Param, "payment_method") {
		return true
	}
	switch se.Code {
	case stripe.ErrorCodePaymentMethodProviderTimeout:
		// A provider's hiccup, not a fault of the payment method.
		return false
	case stripe.ErrorCodePaymentIntentIncompatiblePaymentMethod:
		return true
	}
	return strings.HasPrefix(string(se.Code), "payment_method_")
}

// declineReason picks the most specific reason Stripe gave: the issuer's
// decline_code, else Stripe's code, else the error's type, so that a decline
// always says something.
func declineReason(se *stripe.Error) string {
	switch {
	case se.DeclineCode != "":
		return string(se.DeclineCode)
	case se.Code != "":
		return string(se.Code)
	}
	return string(se.Type)
}

// apiError is an error response from Stripe. It keeps the message short
// (stripe.Error's own text is its whole JSON, payment intent included) while
// errors.Is and errors.As still reach both kind and the *stripe.Error.
type apiError struct {
	op   string
	kind error // nil when the outcome is unknown
	se   *stripe.Error
}

func (e *apiError) Error() string {
	kind := "outcome unknown"
	if e.kind != nil {
		kind = e.kind.Error()
	}
	detail := string(e.se.Type)
	if e.se.Code != "" {
		detail += " " + string(e.se.Code)
	}
	if e.se.Param != "" {
		detail += " (param " + e.se.Param + ")"
	}
	if e.se.RequestID != "" {
		detail += ", request " + e.se.RequestID
	}
	return fmt.Sprintf("stripe: %s: %s: HTTP %d %s: %s", e.op, kind, e.se.HTTPStatusCode, detail, e.se.Msg)
}

func (e *apiError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.se}
	}
	return []error{e.kind, e.se}
}

// slogLogger hands stripe-go's printf-style log lines to slog, so that they
// come out as the service's JSON lines.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Debugf(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s slogLogger) Infof(format string, v ...any)  { s.l.Info(fmt.Sprintf(format, v...)) }
func (s slogLogger) Warnf(format string, v ...any)  { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s slogLogger) Errorf(format string, v ...any) { s.l.Error(fmt.Sprintf(format, v...)) }

package payment

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/marketplace-go/marketplace/internal/orders"
)

// webhookTolerance is how old a signature may be. Stripe's recommended
// five minutes: long enough for clock skew and queueing, short enough that a
// captured request cannot be replayed much later.
const webhookTolerance = 5 * time.Minute

// Stripe event types that carry a charge's outcome.
const (
	eventPaymentIntentSucceeded = "payment_intent.succeeded"
	eventPaymentIntentFailed    = "payment_intent.payment_failed"
)

// WebhookEvent is what VerifyWebhook read from a verified Stripe event.
type WebhookEvent struct {
	// ID is Stripe's event id, the key for de-duplicating deliveries.
	ID string
	// Type is Stripe's event type, such as "payment_intent.succeeded".
	Type string
	// PaymentIntentID is the PaymentIntent the event is about, that is
	// orders.Charge.ID; set for payment_intent.succeeded and
	// payment_intent.payment_failed only.
	PaymentIntentID string
	// OrderID is the PaymentIntent's order_id metadata, as Charge recorded
	// it; set for the same events as PaymentIntentID.
	OrderID string
	// Status is ChargeSucceeded for payment_intent.succeeded,
	// ChargeDeclined for payment_intent.payment_failed, and empty otherwise.
	Status orders.ChargeStatus
}

// VerifyWebhook checks that payload was signed by Stripe with the endpoint's
// secret (StripeConfig.WebhookSecret) no more than five minutes before now,
// and reads the event. A zero now means the current time; tests pass a fixed
// one.
//
// A missing, malformed, mismatched or stale signature returns an error
// wrapping ErrWebhookSignature (and stripe-go's webhook error saying which);
// a signed payload that is not a readable event returns one wrapping
// ErrWebhookPayload.
//
// Stripe delivers each event at least once and repeats deliveries that were
// not acknowledged, so the same event can arrive several times within the
// tolerance: VerifyWebhook only verifies, and the caller must de-duplicate on
// WebhookEvent.ID before acting on it.
//
// The event's API version is not checked, unlike stripe-go's ConstructEvent:
// only the few fields that every version has are read, and checking would
// refuse events from endpoints pinned to another version and stripe-mock's
// fixtures, which have none.
func (s *Stripe) VerifyWebhook(payload []byte, signatureHeader string, now time.Time) (WebhookEvent, error) {
	if s.webhookSecret == "" {
		return WebhookEvent{}, fmt.Errorf("stripe webhook: %w: no webhook secret configured", ErrWebhookSignature)
	}
	// stripe-go measures the tolerance against the wall clock, so it only
	// checks the HMAC here, and the age is checked against now below.
	if err := webhook.ValidatePayloadIgnoringTolerance(payload, signatureHeader, s.webhookSecret); err != nil {
		return WebhookEvent{}, fmt.Errorf("stripe webhook: %w: %w", ErrWebhookSignature, err)
	}
	signedAt, err := signatureTimestamp(signatureHeader)
	if err != nil {
		return WebhookEvent{}, fmt.Errorf("stripe webhook: %w: %w", ErrWebhookSignature, err)
	}
	if now.IsZero() {
		now = time.Now()
	}
	if age := now.Sub(signedAt); age > webhookTolerance {
		return WebhookEvent{}, fmt.Errorf("stripe webhook: %w: signed %s before %s, tolerance %s: %w",
			ErrWebhookSignature, age.Round(time.Second), now.UTC().Format(time.RFC3339), webhookTolerance, webhook.ErrTooOld)
	}
	return parseEvent(payload)
}

// parseEvent reads the fields VerifyWebhook returns. It decodes into small
// structs of its own rather than stripe.Event, so that fields it does not
// use cannot fail decoding when the event's API version differs.
func parseEvent(payload []byte) (WebhookEvent, error) {
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return WebhookEvent{}, fmt.Errorf("stripe webhook: %w: %w", ErrWebhookPayload, err)
	}
	if ev.ID == "" || ev.Type == "" {
		return WebhookEvent{}, fmt.Errorf("stripe webhook: %w: event without id or type", ErrWebhookPayload)
	}
	out := WebhookEvent{ID: ev.ID, Type: ev.Type}

	switch ev.Type {
	case eventPaymentIntentSucceeded:
		out.Status = orders.ChargeSucceeded
	case eventPaymentIntentFailed:
		out.Status = orders.ChargeDeclined
	default:
		return out, nil
	}

	var pi struct {
		ID       string            `json:"id"`
		Object   string            `json:"object"`
		Metadata map[string]string `json:"metadata"`
	}
	if len(ev.Data.Object) == 0 {
		return WebhookEvent{}, fmt.Errorf("stripe webhook: %w: event %s has no data.object", ErrWebhookPayload, ev.ID)
	}
	if err := json.Unmarshal(ev.Data.Object, &pi); err != nil {
		return WebhookEvent{}, fmt.Errorf("stripe webhook: %w: event %s: %w", ErrWebhookPayload, ev.ID, err)
	}
	if pi.ID == "" || pi.Object != "payment_intent" {
		return WebhookEvent{}, fmt.Errorf("stripe webhook: %w: event %s of type %s does not carry a payment intent", ErrWebhookPayload, ev.ID, ev.Type)
	}
	out.PaymentIntentID = pi.ID
	out.OrderID = pi.Metadata["order_id"]
	return out, nil
}

// signatureTimestamp reads the t= element of a Stripe-Signature header, the
// last one winning as in stripe-go's own parser.
func signatureTimestamp(header string) (time.Time, error) {
	var ts string
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(part, "t="); ok {
			ts = v
		}
	}
	if ts == "" {
		return time.Time{}, fmt.Errorf("%w: no timestamp", webhook.ErrInvalidHeader)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: timestamp %q: %w", webhook.ErrInvalidHeader, ts, err)
	}
	return time.Unix(sec, 0), nil
}

package orderapi

import (
	"io"
	"net/http"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// maxWebhookBody caps a provider's webhook call; Stripe's events are a few
// kilobytes.
const maxWebhookBody = 256 << 10

var errBadSignature = errs.New(errs.Invalid, "invalid_signature", "the webhook signature does not verify")

// paymentWebhook takes a payment provider's report of a charge. Its
// signature is checked before anything else is read. A replayed call is
// harmless: an outcome already recorded is never changed.
func (a *API) paymentWebhook(w http.ResponseWriter, r *http.Request) {
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		a.respond.Fail(w, r, errs.New(errs.TooLarge, "body_too_large", "the body exceeds %d bytes", maxWebhookBody))
		return
	}
	n, ok, err := a.webhook(payload, r.Header.Get("Stripe-Signature"))
	if err != nil {
		a.log.WarnContext(r.Context(), "payment webhook rejected", "err", err)
		a.respond.Fail(w, r, errBadSignature)
		return
	}
	if ok {
		if err := a.svc.RecordPaymentNotice(r.Context(), n); err != nil {
			a.respond.Fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

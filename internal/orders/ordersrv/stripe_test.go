package ordersrv_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment/stripemocktest"
)

const webhookSecret = "whsec_ordersrv_test"

// withStripe starts an instance whose gateway is the Stripe adapter with
// its API at base.
func (w *world) withStripe(t *testing.T, base string) *testEnv {
	t.Helper()
	cfg := w.cfg
	cfg.Gateway = "stripe"
	cfg.Stripe.SecretKey = "sk_test_ordersrv"
	cfg.Stripe.APIBase = base
	cfg.Stripe.WebhookSecret = webhookSecret
	return w.startWith(t, cfg, nil)
}

func TestPaymentsThroughStripeMock(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	base := stripemocktest.StartStripeMock(t, stripemocktest.WithFixture("payment_intent", map[string]any{
		"status": "succeeded", "last_payment_error": nil,
	}))
	e := w.withStripe(t, base)
	seller, buyer := w.seller(t), w.buyer(t)
	p := e.product(t, seller, 4999, "EUR", 3)
	o := e.mustCheckout(t, buyer, item(p, 1))
	o = e.mustPay(t, buyer, o.ID, "pm_card_visa")
	if o.Status != orders.Paid || o.Payment.Provider != "stripe" {
		t.Fatalf("order %s paid through %q", o.Status, o.Payment.Provider)
	}
	var c orderBody
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/cancel", nil).Want(t, http.StatusOK).Decode(t, &c)
	if c.Payment.RefundStatus != orders.RefundRefunded {
		t.Errorf("refund %q after cancelling a Stripe-paid order", c.Payment.RefundStatus)
	}
}

func TestAStripeWebhookSettlesAPaymentWhoseAnswerNeverCame(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// A Stripe that takes the charge and never answers in time.
	hush := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hush:
		}
	}))
	t.Cleanup(func() { close(hush); silent.Close() })
	e := w.withStripe(t, silent.URL)
	seller, buyer := w.seller(t), w.buyer(t)
	p := e.product(t, seller, 1000, "EUR", 3)
	o := e.mustCheckout(t, buyer, item(p, 2))
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"}).Want(t, http.StatusAccepted)

	event := []byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1700000000,
		"data":{"object":{"id":"pi_123","object":"payment_intent","status":"succeeded","metadata":{"order_id":"` + o.ID + `"}}}}`)
	sign := func(secret string, at time.Time) string {
		return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: event, Secret: secret, Timestamp: at}).Header
	}
	tests := []struct {
		name      string
		signature string
		body      string
		status    int
	}{
		{"a forged signature is refused", sign("whsec_wrong", time.Now()), string(event), http.StatusBadRequest},
		{"a stale signature is refused", sign(webhookSecret, time.Now().Add(-10*time.Minute)), string(event), http.StatusBadRequest},
		{"a tampered payload is refused", sign(webhookSecret, time.Now()), string(event) + " ", http.StatusBadRequest},
		{"no signature is refused", "", string(event), http.StatusBadRequest},
	}
	for _, tt := range tests {
		e.Do(t, anonymous, "POST", "/v1/payments/webhook", tt.body, "Stripe-Signature", tt.signature).Want(t, tt.status)
	}
	if got := e.mustOrder(t, buyer, o.ID); got.Status != orders.PendingPayment {
		t.Fatalf("a refused webhook moved the order to %s", got.Status)
	}

	for range 3 { // Stripe delivers at least once: replays change nothing
		e.Do(t, anonymous, "POST", "/v1/payments/webhook", string(event), "Stripe-Signature", sign(webhookSecret, time.Now())).
			Want(t, http.StatusNoContent)
	}
	got := e.mustOrder(t, buyer, o.ID)
	if got.Status != orders.Paid {
		t.Fatalf("order %s after the webhook, want paid", got.Status)
	}
	paid := 0
	for _, h := range got.History {
		if h.SubOrderID == "" && h.To == orders.Paid {
			paid++
		}
	}
	if paid != 1 {
		t.Errorf("%d paid entries in the history after replays", paid)
	}
	if st := e.stock(t, p.ID); st.OnHand != 1 || st.Reserved != 0 {
		t.Errorf("stock %+v, want the 2 units sold once", st)
	}
}

// Package orderapi is the HTTP transport of the orders service.
package orderapi

import (
	"log/slog"
	"net/http"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// maxBody caps request bodies: the largest, a checkout of 100 lines, is
// well under it.
const maxBody = 32 << 10

// WebhookVerifier checks a payment provider's webhook signature and says
// what the call reports; ok is false for events that concern no charge.
type WebhookVerifier func(payload []byte, signature string) (n orders.PaymentNotice, ok bool, err error)

// API serves the orders endpoints.
type API struct {
	svc     *orders.Service
	keys    orders.IdempotencyKeys
	respond auth.Responder
	webhook WebhookVerifier
	log     *slog.Logger
}

// New returns the API; keys stores idempotency keys. webhook may be nil
// when the payment provider sends none.
func New(svc *orders.Service, keys orders.IdempotencyKeys, verifier *auth.Verifier, webhook WebhookVerifier, log *slog.Logger) *API {
	return &API{svc: svc, keys: keys, respond: auth.NewResponder(verifier, log), webhook: webhook, log: log}
}

// Routes registers every endpoint on rt.
func (a *API) Routes(rt *httpx.Router) {
	rt.HandleFunc("GET /v1/cart", a.respond.Authed(a.cart))
	rt.HandleFunc("DELETE /v1/cart", a.respond.Authed(a.clearCart))
	rt.HandleFunc("PUT /v1/cart/items/{product_id}", a.respond.Authed(a.setCartItem))
	rt.HandleFunc("DELETE /v1/cart/items/{product_id}", a.respond.Authed(a.removeCartItem))
	rt.HandleFunc("POST /v1/orders", a.respond.Authed(a.checkout))
	rt.HandleFunc("GET /v1/orders", a.respond.Authed(a.listOrders))
	rt.HandleFunc("GET /v1/orders/{id}", a.respond.Authed(a.order))
	rt.HandleFunc("POST /v1/orders/{id}/payment", a.respond.Authed(a.pay))
	rt.HandleFunc("POST /v1/orders/{id}/cancel", a.respond.Authed(a.cancel))
	rt.HandleFunc("GET /v1/sub-orders", a.respond.Authed(a.listSubOrders))
	rt.HandleFunc("GET /v1/sub-orders/{id}", a.respond.Authed(a.subOrder))
	rt.HandleFunc("POST /v1/sub-orders/{id}/ship", a.respond.Authed(a.ship))
	rt.HandleFunc("POST /v1/sub-orders/{id}/deliver", a.respond.Authed(a.deliver))
	rt.HandleFunc("GET /v1/stock/{product_id}", a.respond.Authed(a.stock))
	rt.HandleFunc("GET /v1/stock/{product_id}/availability", a.availability)
	rt.HandleFunc("PUT /v1/stock/{product_id}", a.respond.Authed(a.setStock))
	rt.HandleFunc("POST /v1/stock/{product_id}/adjustments", a.respond.Authed(a.adjustStock))
	if a.webhook != nil {
		rt.HandleFunc("POST /v1/payments/webhook", a.paymentWebhook)
	}
}

// listParams reads limit, cursor and scope=all from the query string.
func listParams(r *http.Request) (limit int, cursor string, all bool, err error) {
	q := r.URL.Query()
	if limit, err = page.Limit(q.Get("limit")); err != nil {
		return 0, "", false, err
	}
	switch q.Get("scope") {
	case "", "mine":
	case "all":
		all = true
	default:
		return 0, "", false, errs.Validation(map[string]string{"scope": "must be mine or all"})
	}
	return limit, q.Get("cursor"), all, nil
}

func fieldRequired(field string) error {
	return errs.Validation(map[string]string{field: "is required"})
}

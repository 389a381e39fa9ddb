// Package orderapi is the HTTP transport of the orders service.
package orderapi

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/orderdb"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

// maxBody caps request bodies: the largest, a checkout of 100 lines, is
// well under it.
const maxBody = 32 << 10

// WebhookVerifier checks a payment provider's webhook signature and says
// what the call reports; ok is false for events that concern no charge.
type WebhookVerifier func(payload []byte, signature string) (n orders.PaymentNotice, ok bool, err error)

// API serves the orders endpoints.
type API struct {
	svc      *orders.Service
	keys     *orderdb.Store
	verifier *auth.Verifier
	webhook  WebhookVerifier
	log      *slog.Logger
}

// New returns the API; keys stores idempotency keys. webhook may be nil
// when the payment provider sends none.
func New(svc *orders.Service, keys *orderdb.Store, verifier *auth.Verifier, webhook WebhookVerifier, log *slog.Logger) *API {
	return &API{svc: svc, keys: keys, verifier: verifier, webhook: webhook, log: log}
}

// Routes registers every endpoint on rt.
func (a *API) Routes(rt *httpx.Router) {
	rt.HandleFunc("GET /v1/cart", a.authed(a.cart))
	rt.HandleFunc("DELETE /v1/cart", a.authed(a.clearCart))
	rt.HandleFunc("PUT /v1/cart/items/{product_id}", a.authed(a.setCartItem))
	rt.HandleFunc("DELETE /v1/cart/items/{product_id}", a.authed(a.removeCartItem))
	rt.HandleFunc("POST /v1/orders", a.authed(a.checkout))
	rt.HandleFunc("GET /v1/orders", a.authed(a.listOrders))
	rt.HandleFunc("GET /v1/orders/{id}", a.authed(a.order))
	rt.HandleFunc("POST /v1/orders/{id}/payment", a.authed(a.pay))
	rt.HandleFunc("POST /v1/orders/{id}/cancel", a.authed(a.cancel))
	rt.HandleFunc("GET /v1/sub-orders", a.authed(a.listSubOrders))
	rt.HandleFunc("GET /v1/sub-orders/{id}", a.authed(a.subOrder))
	rt.HandleFunc("POST /v1/sub-orders/{id}/ship", a.authed(a.ship))
	rt.HandleFunc("POST /v1/sub-orders/{id}/deliver", a.authed(a.deliver))
	rt.HandleFunc("GET /v1/stock/{product_id}", a.authed(a.stock))
	rt.HandleFunc("PUT /v1/stock/{product_id}", a.authed(a.setStock))
	rt.HandleFunc("POST /v1/stock/{product_id}/adjustments", a.authed(a.adjustStock))
	if a.webhook != nil {
		rt.HandleFunc("POST /v1/payments/webhook", a.paymentWebhook)
	}
}

// fail answers with the problem err describes, and the RFC 6750 challenge
// when a token was missing or rejected.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	auth.SetChallenge(w, err)
	httpx.Error(w, r, a.log, err)
}

// authed wraps a handler that needs a verified access token.
func (a *API) authed(h func(http.ResponseWriter, *http.Request, auth.Claims)) http.HandlerFunc {
	return a.verifier.Require(a.fail, h)
}

// reply writes v, or the problem err describes.
func (a *API) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.JSON(w, status, v)
}

// listPage is one page of a list, with the cursor of the next one.
type listPage[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

var errBadCursor = errs.New(errs.Invalid, "invalid_cursor", "the cursor is not one this list returned")

// pageParams reads limit, cursor and scope=all from the query string.
func pageParams(r *http.Request) (after *orders.Cursor, limit int, all bool, err error) {
	q := r.URL.Query()
	limit = orders.DefaultPageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > orders.MaxPageSize {
			return nil, 0, false, errs.Validation(map[string]string{"limit": "must be an integer from 1 to 100"})
		}
		limit = n
	}
	switch q.Get("scope") {
	case "", "mine":
	case "all":
		all = true
	default:
		return nil, 0, false, errs.Validation(map[string]string{"scope": "must be mine or all"})
	}
	if s := q.Get("cursor"); s != "" {
		c, ok := decodeCursor(s)
		if !ok {
			return nil, 0, false, errBadCursor
		}
		after = &c
	}
	return after, limit, all, nil
}

// maxCursorMicros is the year 9999 in Unix microseconds.
const maxCursorMicros = 253402300799999999

// A cursor is the creation time and id of the last item of a page.
func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "." + id))
}

func decodeCursor(s string) (orders.Cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return orders.Cursor{}, false
	}
	micros, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	u, uerr := uuid.Parse(id)
	// Only what encodeCursor makes: a time PostgreSQL can hold and an id
	// in canonical form.
	if !ok || err != nil || n < 0 || n > maxCursorMicros || uerr != nil || u.String() != id {
		return orders.Cursor{}, false
	}
	return orders.Cursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, true
}

func newPage[T any](items []T, limit int, key func(T) (time.Time, string)) listPage[T] {
	p := listPage[T]{Items: items}
	if p.Items == nil {
		p.Items = []T{}
	}
	if len(items) == limit {
		t, id := key(items[len(items)-1])
		p.NextCursor = encodeCursor(t, id)
	}
	return p
}

func fieldRequired(field string) error {
	return errs.Validation(map[string]string{field: "is required"})
}

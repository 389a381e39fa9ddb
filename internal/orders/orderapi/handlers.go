package orderapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

// The request bodies are named types so the fuzz test decodes each one.

// cartItemRequest is the body of PUT /v1/cart/items/{product_id}.
type cartItemRequest struct {
	Quantity int `json:"quantity"`
}

// checkoutRequest is the body of POST /v1/orders; without items, the cart
// is the order.
type checkoutRequest struct {
	Items httpx.Optional[[]orders.Item] `json:"items"`
	// ShippingAddress is required (ADR 0041); absent or null is refused by
	// the orders service, as an empty body is.
	ShippingAddress *orders.Address `json:"shipping_address"`
}

// paymentRequest is the body of POST /v1/orders/{id}/payment.
type paymentRequest struct {
	PaymentMethod string `json:"payment_method"`
}

// cancelRequest is the body of POST /v1/orders/{id}/cancel (optional).
type cancelRequest struct {
	Reason string `json:"reason"`
}

// shipRequest is the body of POST /v1/sub-orders/{id}/ship.
type shipRequest struct {
	TrackingNumber string `json:"tracking_number"`
}

// setStockRequest is the body of PUT /v1/stock/{product_id}.
type setStockRequest struct {
	OnHand httpx.Optional[int64] `json:"on_hand"`
}

// adjustStockRequest is the body of POST /v1/stock/{product_id}/adjustments.
type adjustStockRequest struct {
	Delta int64 `json:"delta"`
}

func (a *API) cart(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	cart, err := a.svc.Cart(r.Context(), c)
	a.respond.Reply(w, r, http.StatusOK, cart, err)
}

func (a *API) clearCart(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	if err := a.svc.ClearCart(r.Context(), c); err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setCartItem(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var body cartItemRequest
	if err := httpx.Decode(w, r, &body, maxBody); err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	cart, err := a.svc.SetCartItem(r.Context(), c, r.PathValue("product_id"), body.Quantity)
	a.respond.Reply(w, r, http.StatusOK, cart, err)
}

func (a *API) removeCartItem(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	cart, err := a.svc.RemoveCartItem(r.Context(), c, r.PathValue("product_id"))
	a.respond.Reply(w, r, http.StatusOK, cart, err)
}

func (a *API) checkout(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	k, err := readKey(w, r)
	switch {
	case err != nil:
		a.respond.Fail(w, r, err)
	case k == nil:
		a.placeOrder(w, r, c, orders.CheckoutRequest{})
	case !a.checkoutUnclaimed(w, r, c, k):
		// The key exists: this is a retry, or it raced one.
		k.rewind(r)
		a.claimAndRun(w, r, c, "checkout", k, func(w http.ResponseWriter, r *http.Request, key string) {
			a.placeOrder(w, r, c, orders.CheckoutRequest{IdempotencyKey: key})
		})
	}
}

// checkoutUnclaimed places the order of a checkout under a key without
// claiming the key first: the order's transaction records the key with
// the answer (ADR 0055), so a fresh key costs the checkout no statement of
// its own, and a refusal kept under it one. It answers and reports true,
// or answers nothing and reports false when the key may exist: the caller
// then answers as the key says.
func (a *API) checkoutUnclaimed(w http.ResponseWriter, r *http.Request, c auth.Claims, k *keyedRequest) bool {
	var answer []byte
	first := &orders.FirstUse{Operation: "checkout", RequestHash: k.hash[:],
		Answer: func(o orders.Order) (int, []byte, error) {
			var err error
			answer, err = encodeJSON(o)
			return http.StatusCreated, answer, err
		}}
	o, err := a.checkoutOrder(w, r, c, orders.CheckoutRequest{IdempotencyKey: k.key, FirstUse: first})
	switch {
	case errors.Is(err, orders.ErrKeyTaken):
		return false
	case err == nil:
		w.Header().Set("Location", orderLocation(o.ID))
		writeBody(w, http.StatusCreated, answer)
		return true
	}
	rec := newRecorder()
	a.respond.Fail(rec, r, err)
	switch {
	case rec.status == http.StatusBadRequest:
		// Not kept, but a key that exists answers first (a reused key
		// with another body is 422): the claim finds out, cheaply.
		return false
	case kept(rec):
		ctx := context.WithoutCancel(r.Context()) // its retry wants it, even if the client has gone
		recorded, err := a.keys.AnswerKey(ctx, c.UserID, k.key, orders.KeyAnswer{
			Operation: "checkout", RequestHash: k.hash[:], Status: rec.status, Body: rec.body.Bytes()})
		if err != nil {
			// Unrecorded, the refusal must not be seen: a retry would run
			// again, and this may be the retry of an order made.
			a.respond.Fail(w, r, err)
			return true
		}
		if !recorded {
			return false // a request that raced this one has the key: its answer is the key's
		}
	}
	rec.send(w)
	return true
}

// orderLocation is the URL of an order made, for the Location header.
func orderLocation(id string) string { return "/v1/orders/" + id }

// placeOrder places the order req and the body of r ask for, and answers
// with it.
func (a *API) placeOrder(w http.ResponseWriter, r *http.Request, c auth.Claims, req orders.CheckoutRequest) {
	o, err := a.checkoutOrder(w, r, c, req)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	w.Header().Set("Location", orderLocation(o.ID))
	httpx.JSON(w, http.StatusCreated, o)
}

// checkoutOrder completes req with the body of r and places the order.
func (a *API) checkoutOrder(w http.ResponseWriter, r *http.Request, c auth.Claims, req orders.CheckoutRequest) (orders.Order, error) {
	var body checkoutRequest
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, &body, maxBody); err != nil {
			return orders.Order{}, err
		}
	}
	req.ShippingAddress = body.ShippingAddress
	if body.Items.Set {
		// Present, even null or empty, the items are the order: only
		// their absence means the cart.
		req.Items = body.Items.Value
		if req.Items == nil {
			req.Items = []orders.Item{}
		}
	}
	return a.svc.Checkout(r.Context(), c, req)
}

func (a *API) listOrders(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	limit, cursor, all, err := listParams(r)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	p, err := a.svc.Orders(r.Context(), c, all, cursor, limit)
	a.respond.Reply(w, r, http.StatusOK, p, err)
}

func (a *API) order(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	o, err := a.svc.Order(r.Context(), c, r.PathValue("id"))
	a.respond.Reply(w, r, http.StatusOK, o, err)
}

// pay answers 200 with the order once the provider's answer is recorded
// (paid or payment_failed), and 202 while it is not known yet.
func (a *API) pay(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	// The id names the key's operation: it is checked before the key is
	// claimed, so a bad id leaves nothing behind.
	if err := orders.CheckOrderID(r.PathValue("id")); err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	a.idempotent(w, r, c, "pay:"+r.PathValue("id"), func(w http.ResponseWriter, r *http.Request, _ string) {
		var body paymentRequest
		if err := httpx.Decode(w, r, &body, maxBody); err != nil {
			a.respond.Fail(w, r, err)
			return
		}
		o, err := a.svc.Pay(r.Context(), c, r.PathValue("id"), body.PaymentMethod)
		status := http.StatusOK
		if err == nil && o.Status == orders.PendingPayment {
			status = http.StatusAccepted
		}
		a.respond.Reply(w, r, status, o, err)
	})
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var body cancelRequest
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, &body, maxBody); err != nil {
			a.respond.Fail(w, r, err)
			return
		}
	}
	o, err := a.svc.Cancel(r.Context(), c, r.PathValue("id"), body.Reason)
	a.respond.Reply(w, r, http.StatusOK, o, err)
}

func (a *API) listSubOrders(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	limit, cursor, all, err := listParams(r)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	p, err := a.svc.SubOrders(r.Context(), c, all, cursor, limit)
	a.respond.Reply(w, r, http.StatusOK, p, err)
}

func (a *API) subOrder(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	s, err := a.svc.SubOrder(r.Context(), c, r.PathValue("id"))
	a.respond.Reply(w, r, http.StatusOK, s, err)
}

func (a *API) ship(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var body shipRequest
	if err := httpx.Decode(w, r, &body, maxBody); err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	s, err := a.svc.Ship(r.Context(), c, r.PathValue("id"), body.TrackingNumber)
	a.respond.Reply(w, r, http.StatusOK, s, err)
}

func (a *API) deliver(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	s, err := a.svc.Deliver(r.Context(), c, r.PathValue("id"))
	a.respond.Reply(w, r, http.StatusOK, s, err)
}

func (a *API) stock(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	st, err := a.svc.Stock(r.Context(), c, r.PathValue("product_id"))
	a.respond.Reply(w, r, http.StatusOK, st, err)
}

// availability needs no token: what may be bought is public, as the
// product is.
func (a *API) availability(w http.ResponseWriter, r *http.Request) {
	av, err := a.svc.Availability(r.Context(), r.PathValue("product_id"))
	a.respond.Reply(w, r, http.StatusOK, av, err)
}

func (a *API) setStock(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var body setStockRequest
	if err := httpx.Decode(w, r, &body, maxBody); err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	if !body.OnHand.Set || body.OnHand.Null {
		a.respond.Fail(w, r, fieldRequired("on_hand"))
		return
	}
	st, err := a.svc.SetStock(r.Context(), c, r.PathValue("product_id"), body.OnHand.Value)
	a.respond.Reply(w, r, http.StatusOK, st, err)
}

func (a *API) adjustStock(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var body adjustStockRequest
	if err := httpx.Decode(w, r, &body, maxBody); err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	st, err := a.svc.AdjustStock(r.Context(), c, r.PathValue("product_id"), body.Delta)
	a.respond.Reply(w, r, http.StatusOK, st, err)
}

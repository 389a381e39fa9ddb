package ordersrv_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// orderState is what a request could change about an order.
type orderState struct {
	BuyerID   string
	Status    orders.Status
	Version   int64
	SubOrders map[string]string // status and tracking number, by id
	History   int
	Payment   string // status and refund status
}

// serviceState is the whole of what the service keeps that bad input could
// change: every order, the stock of the products named, carts and charges.
type serviceState struct {
	Orders  map[string]orderState
	Stock   map[string][2]int64 // on hand, reserved
	Carts   map[string][]string // "product x quantity", by buyer
	Charges int
}

func (e *testEnv) serviceState(t *testing.T, gw *payment.Simulated, products []contracts.ProductV1, buyers ...caller) serviceState {
	t.Helper()
	ctx := context.Background()
	all, err := e.Orders.Store.Orders(ctx, orders.OrderFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	s := serviceState{Orders: map[string]orderState{}, Stock: map[string][2]int64{}, Carts: map[string][]string{}, Charges: gw.ChargeCount()}
	for _, listed := range all {
		o, err := e.Orders.Store.Order(ctx, listed.ID)
		if err != nil {
			t.Fatal(err)
		}
		st := orderState{BuyerID: o.BuyerID, Status: o.Status, Version: o.Version, SubOrders: map[string]string{}, History: len(o.History)}
		for _, sub := range o.SubOrders {
			st.SubOrders[sub.ID] = string(sub.Status) + " " + sub.TrackingNumber
		}
		if o.Payment != nil {
			st.Payment = string(o.Payment.Status) + " " + o.Payment.RefundStatus
		}
		s.Orders[o.ID] = st
	}
	for _, p := range products {
		st := e.stock(t, p.ID)
		s.Stock[p.ID] = [2]int64{st.OnHand, st.Reserved}
	}
	for _, b := range buyers {
		var cart orders.Cart
		e.Do(t, b, "GET", "/v1/cart", nil).Want(t, http.StatusOK).Decode(t, &cart)
		lines := []string{}
		for _, l := range cart.Lines {
			lines = append(lines, fmt.Sprintf("%s x %d", l.Product.ID, l.Quantity))
		}
		s.Carts[b.ID] = lines
	}
	return s
}

// draftProduct makes a product of seller's that is not for sale, with
// stock, known to the instance.
func (e *testEnv) draftProduct(t *testing.T, seller caller) contracts.ProductV1 {
	t.Helper()
	p := contracts.ProductV1{ID: uuid.Must(uuid.NewV7()).String(), SellerID: seller.ID, Title: "Draft " + uuid.NewString()[:8],
		Category: "test", Price: 100, Currency: "EUR", Status: "draft", Version: 1, UpdatedAt: time.Now().UTC()}
	e.publishProduct(t, contracts.ProductCreated, p)
	e.waitProjection(t, p.ID, p.Version)
	e.Do(t, seller, "PUT", "/v1/stock/"+p.ID, map[string]any{"on_hand": 10}).Want(t, http.StatusOK)
	return p
}

// listCursor builds a list cursor as the API encodes one (see package
// page), from its parts: a time in Unix microseconds (none when empty) and
// an id.
func listCursor(micros, id string) string {
	key := fmt.Sprintf(`{"i":%q}`, id)
	if micros != "" {
		key = fmt.Sprintf(`{"t":%s,"i":%q}`, micros, id)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

// TestBadInputGetsA4xxProblemAndChangesNothing sends every kind of bad
// request one after another, then checks that the service holds exactly
// what it held before.
func TestBadInputGetsA4xxProblemAndChangesNothing(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	seller, dollarSeller := e.seller(t), e.seller(t)
	buyer, emptyCart := e.buyer(t), e.buyer(t)
	lamp := e.product(t, seller, 1999, "EUR", 10)
	scarce := e.product(t, seller, 500, "EUR", 1)
	dollars := e.product(t, dollarSeller, 700, "USD", 10)
	draft := e.draftProduct(t, seller)
	products := []contracts.ProductV1{lamp, scarce, dollars, draft}

	// The buyer has a cart, an unpaid order and a paid one.
	e.Do(t, buyer, "PUT", "/v1/cart/items/"+lamp.ID, map[string]any{"quantity": 2}).Want(t, http.StatusOK)
	pending := e.mustCheckout(t, buyer, item(lamp, 3))
	paid := e.mustCheckout(t, buyer, item(lamp, 1))
	paid = e.mustPay(t, buyer, paid.ID, "pm_card_visa")
	paidSub := paid.SubOrders[0]
	lampStock := e.stock(t, lamp.ID)
	available := int(lampStock.OnHand - lampStock.Reserved)

	before := e.serviceState(t, gw, products, buyer, emptyCart)

	var hundredAndOne []map[string]any
	for range 101 {
		hundredAndOne = append(hundredAndOne, map[string]any{"product_id": uuid.Must(uuid.NewV7()).String(), "quantity": 1})
	}
	oneLamp := checkoutBody(item(lamp, 1)) // a body that would succeed
	upper := strings.ToUpper
	longText := func(n int) string { return strings.Repeat("x", n) }
	validID := uuid.Must(uuid.NewV7()).String()
	wantReplay := func(t *testing.T, res httpxtest.Response) {
		if res.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("a retry with the same key and body was not answered from the first request's answer")
		}
	}

	tests := []struct {
		name   string
		who    caller
		method string
		path   string
		body   any
		header []string
		status int
		code   string
		check  func(t *testing.T, res httpxtest.Response)
	}{
		// Checkout: the body's shape.
		{name: "a checkout with malformed JSON", body: `{"items": [`, status: 400, code: "malformed_json"},
		{name: "a checkout with a second JSON value after the first", body: `{"items":[]} {}`, status: 400, code: "malformed_json"},
		{name: "a checkout with an empty body sent as JSON", body: ` `, status: 400, code: "malformed_json"},
		{name: "a checkout whose body is an array", body: `[{"product_id":"` + lamp.ID + `","quantity":1}]`, status: 400, code: "validation_failed"},
		{name: "a checkout sent as text/plain", body: oneLamp, header: []string{"Content-Type", "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "a checkout sent as a form", body: "items=" + lamp.ID, header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type"},
		{name: "a checkout naming its own buyer", body: map[string]any{"buyer_id": emptyCart.ID, "items": []any{item(lamp, 1)}}, status: 400, code: "validation_failed"},
		{name: "a checkout setting its own status", body: map[string]any{"status": "paid", "items": []any{item(lamp, 1)}}, status: 400, code: "validation_failed"},
		{name: "a checkout setting its own total", body: map[string]any{"total": map[string]any{"amount": 1, "currency": "EUR"}, "items": []any{item(lamp, 1)}}, status: 400, code: "validation_failed"},
		{name: "a checkout line setting its own price", body: checkoutBody(map[string]any{"product_id": lamp.ID, "quantity": 1, "price": 1}), status: 400, code: "validation_failed"},
		{name: "a checkout line setting its own seller", body: checkoutBody(map[string]any{"product_id": lamp.ID, "quantity": 1, "seller_id": buyer.ID}), status: 400, code: "validation_failed"},
		{name: "a checkout whose items are a string", body: map[string]any{"items": lamp.ID}, status: 400, code: "validation_failed"},
		{name: "a checkout whose line is a string", body: map[string]any{"items": []any{lamp.ID}}, status: 400, code: "validation_failed"},
		{name: "a checkout whose quantity is a string", body: checkoutBody(map[string]any{"product_id": lamp.ID, "quantity": "1"}), status: 400, code: "validation_failed"},
		{name: "a checkout whose product id is a number", body: checkoutBody(map[string]any{"product_id": 7, "quantity": 1}), status: 400, code: "validation_failed"},
		// Checkout: quantities and lines.
		{name: "a checkout of quantity 0", body: checkoutBody(item(lamp, 0)), status: 400, code: "validation_failed"},
		{name: "a checkout of quantity -1", body: checkoutBody(item(lamp, -1)), status: 400, code: "validation_failed"},
		{name: "a checkout of quantity 1001", body: checkoutBody(item(lamp, 1001)), status: 400, code: "validation_failed"},
		{name: "a checkout of quantity 1.5", body: `{"items":[{"product_id":"` + lamp.ID + `","quantity":1.5}]}`, status: 400, code: "validation_failed"},
		{name: "a checkout of a quantity past int64", body: `{"items":[{"product_id":"` + lamp.ID + `","quantity":99999999999999999999}]}`, status: 400, code: "validation_failed"},
		{name: "a checkout of the largest int64 quantity", body: `{"items":[{"product_id":"` + lamp.ID + `","quantity":9223372036854775807}]}`, status: 400, code: "validation_failed"},
		{name: "a checkout line without a quantity", body: checkoutBody(map[string]any{"product_id": lamp.ID}), status: 400, code: "validation_failed"},
		{name: "a checkout of 101 lines", body: checkoutBody(hundredAndOne...), status: 400, code: "validation_failed"},
		{name: "a checkout naming a product twice", body: checkoutBody(item(lamp, 1), item(lamp, 2)), status: 400, code: "validation_failed"},
		{name: "a checkout line with a null", body: map[string]any{"items": []any{nil}, "shipping_address": address()}, status: 400, code: "validation_failed"},
		// Checkout: product ids and products.
		{name: "a checkout of a product id that is not a UUID", body: checkoutBody(map[string]any{"product_id": "lamp", "quantity": 1}), status: 400, code: "validation_failed"},
		{name: "a checkout of an upper-case product id", body: checkoutBody(map[string]any{"product_id": upper(lamp.ID), "quantity": 1}), status: 400, code: "validation_failed"},
		{name: "a checkout of a braced product id", body: checkoutBody(map[string]any{"product_id": "{" + lamp.ID + "}", "quantity": 1}), status: 400, code: "validation_failed"},
		// An unknown product gets the answer a draft gets, so a hidden
		// product cannot be told from a missing one.
		{name: "a checkout of an unknown product", body: checkoutBody(map[string]any{"product_id": validID, "quantity": 1}), status: 422, code: "product_unavailable"},
		{name: "a checkout of a draft product", body: checkoutBody(item(draft, 1)), status: 422, code: "product_unavailable"},
		{name: "a checkout of an unknown product beside a good one", body: checkoutBody(item(lamp, 1), map[string]any{"product_id": validID, "quantity": 1}), status: 422, code: "product_unavailable"},
		{name: "a checkout mixing euros and dollars", body: checkoutBody(item(lamp, 1), item(dollars, 1)), status: 422, code: "mixed_currencies"},
		// Checkout: nothing to buy.
		{name: "a checkout of an empty cart", who: emptyCart, body: checkoutBody(), status: 422, code: "empty_order"},
		{name: "a checkout of no items does not fall back to the cart", body: map[string]any{"items": []any{}, "shipping_address": address()}, status: 422, code: "empty_order"},
		// Checkout: no address (see TestAnOrderWithoutAShippingAddressIsRefusedAndLeavesNoTrace).
		{name: "a checkout without a body", body: nil, status: 400, code: "validation_failed"},
		{name: "a checkout of items without an address", body: map[string]any{"items": []any{item(lamp, 1)}}, status: 400, code: "validation_failed"},
		// Checkout: stock.
		{name: "a checkout of more than is in stock", body: checkoutBody(item(scarce, 2)), status: 409, code: "insufficient_stock"},
		{name: "a checkout of one more than is available", body: checkoutBody(item(lamp, available+1)), status: 409, code: "insufficient_stock"},
		{name: "a checkout holds nothing when one of its lines is short", body: checkoutBody(item(lamp, 1), item(scarce, 2)), status: 409, code: "insufficient_stock"},
		// Body size.
		{name: "a checkout body over the limit", body: `{"items":[{"product_id":"` + longText(40<<10) + `","quantity":1}]}`, status: 413, code: "body_too_large"},
		{name: "a checkout body padded past the limit", body: `{"items":[]}` + strings.Repeat(" ", 40<<10), status: 413, code: "body_too_large"},
		{name: "a checkout body over the limit with an Idempotency-Key", body: `{"items":[{"product_id":"` + longText(40<<10) + `","quantity":1}]}`,
			header: []string{"Idempotency-Key", "big-body"}, status: 413, code: "body_too_large"},
		// Idempotency keys.
		{name: "an Idempotency-Key of 256 characters", body: oneLamp, header: []string{"Idempotency-Key", longText(256)}, status: 400, code: "validation_failed"},
		{name: "an Idempotency-Key with a space inside", body: oneLamp, header: []string{"Idempotency-Key", "two words"}, status: 400, code: "validation_failed"},
		{name: "an Idempotency-Key with a tab inside", body: oneLamp, header: []string{"Idempotency-Key", "two\twords"}, status: 400, code: "validation_failed"},
		{name: "an Idempotency-Key that is not ASCII", body: oneLamp, header: []string{"Idempotency-Key", "schlüssel"}, status: 400, code: "validation_failed"},
		{name: "a first request under a key that fails", body: checkoutBody(item(scarce, 2)), header: []string{"Idempotency-Key", "key-1"}, status: 409, code: "insufficient_stock"},
		{name: "the same key with another body", body: oneLamp, header: []string{"Idempotency-Key", "key-1"}, status: 422, code: "idempotency_key_reused"},
		{name: "the same key with the same body in another content type", body: checkoutBody(item(scarce, 2)),
			header: []string{"Idempotency-Key", "key-1", "Content-Type", "application/json; charset=utf-8"}, status: 422, code: "idempotency_key_reused"},
		{name: "the same key with the same body gets the first answer again", body: checkoutBody(item(scarce, 2)), header: []string{"Idempotency-Key", "key-1"},
			status: 409, code: "insufficient_stock", check: wantReplay},
		{name: "the same key on another operation", method: "POST", path: "/v1/orders/" + pending.ID + "/payment", body: map[string]any{"payment_method": "pm_card_visa"},
			header: []string{"Idempotency-Key", "key-1"}, status: 422, code: "idempotency_key_reused"},
		// Cart.
		{name: "a cart line of an unknown product", method: "PUT", path: "/v1/cart/items/" + validID, body: map[string]any{"quantity": 1}, status: 404, code: "product_not_found"},
		{name: "a cart line of a product id that is not a UUID", method: "PUT", path: "/v1/cart/items/lamp", body: map[string]any{"quantity": 1}, status: 404, code: "product_not_found"},
		{name: "a cart line of an upper-case product id", method: "PUT", path: "/v1/cart/items/" + upper(lamp.ID), body: map[string]any{"quantity": 1}, status: 404, code: "product_not_found"},
		{name: "a cart line of a draft product is as unknown as a missing one", method: "PUT", path: "/v1/cart/items/" + draft.ID, body: map[string]any{"quantity": 1}, status: 404, code: "product_not_found"},
		{name: "a cart line of quantity 0 leaves the line alone", method: "PUT", path: "/v1/cart/items/" + lamp.ID, body: map[string]any{"quantity": 0}, status: 400, code: "validation_failed"},
		{name: "a cart line of quantity 1001", method: "PUT", path: "/v1/cart/items/" + lamp.ID, body: map[string]any{"quantity": 1001}, status: 400, code: "validation_failed"},
		{name: "a cart line without a quantity", method: "PUT", path: "/v1/cart/items/" + lamp.ID, body: map[string]any{}, status: 400, code: "validation_failed"},
		{name: "a cart line setting its own price", method: "PUT", path: "/v1/cart/items/" + lamp.ID, body: map[string]any{"quantity": 1, "price": 1}, status: 400, code: "validation_failed"},
		{name: "removing a cart line by an id that is not a UUID", method: "DELETE", path: "/v1/cart/items/lamp", status: 404, code: "product_not_found"},
		// Payment.
		{name: "a payment with an empty payment method", method: "POST", path: "/v1/orders/" + pending.ID + "/payment", body: map[string]any{"payment_method": ""}, status: 400, code: "validation_failed"},
		{name: "a payment without a payment method", method: "POST", path: "/v1/orders/" + pending.ID + "/payment", body: map[string]any{}, status: 400, code: "validation_failed"},
		{name: "a payment with a null payment method", method: "POST", path: "/v1/orders/" + pending.ID + "/payment", body: `{"payment_method":null}`, status: 400, code: "validation_failed"},
		{name: "a payment method that is a number", method: "POST", path: "/v1/orders/" + pending.ID + "/payment", body: map[string]any{"payment_method": 4242}, status: 400, code: "validation_failed"},
		{name: "a payment method of 256 characters", method: "POST", path: "/v1/orders/" + pending.ID + "/payment", body: map[string]any{"payment_method": longText(256)}, status: 400, code: "validation_failed"},
		{name: "a payment naming its own amount", method: "POST", path: "/v1/orders/" + pending.ID + "/payment", body: map[string]any{"payment_method": "pm_card_visa", "amount": 1}, status: 400, code: "validation_failed"},
		{name: "a payment with an empty body", method: "POST", path: "/v1/orders/" + pending.ID + "/payment", body: "", status: 400, code: "malformed_json"},
		{name: "a payment of an order id that is not a UUID", method: "POST", path: "/v1/orders/42/payment", body: map[string]any{"payment_method": "pm_card_visa"}, status: 404, code: "order_not_found"},
		{name: "a payment of an upper-case order id", method: "POST", path: "/v1/orders/" + upper(pending.ID) + "/payment", body: map[string]any{"payment_method": "pm_card_visa"}, status: 404, code: "order_not_found"},
		// Cancel.
		{name: "a cancel reason of 501 characters", method: "POST", path: "/v1/orders/" + pending.ID + "/cancel", body: map[string]any{"reason": longText(501)}, status: 400, code: "validation_failed"},
		{name: "a cancel reason that is a number", method: "POST", path: "/v1/orders/" + pending.ID + "/cancel", body: map[string]any{"reason": 1}, status: 400, code: "validation_failed"},
		{name: "a cancel setting a status", method: "POST", path: "/v1/orders/" + pending.ID + "/cancel", body: map[string]any{"status": "cancelled"}, status: 400, code: "validation_failed"},
		{name: "a cancel with malformed JSON", method: "POST", path: "/v1/orders/" + pending.ID + "/cancel", body: `{"reason":`, status: 400, code: "malformed_json"},
		{name: "a cancel of an order id that is not a UUID", method: "POST", path: "/v1/orders/not-an-id/cancel", status: 404, code: "order_not_found"},
		// Ship and deliver.
		{name: "shipping without a tracking number", who: seller, method: "POST", path: "/v1/sub-orders/" + paidSub.ID + "/ship", body: map[string]any{}, status: 400, code: "validation_failed"},
		{name: "shipping with an empty tracking number", who: seller, method: "POST", path: "/v1/sub-orders/" + paidSub.ID + "/ship", body: map[string]any{"tracking_number": ""}, status: 400, code: "validation_failed"},
		{name: "shipping with a tracking number of 101 characters", who: seller, method: "POST", path: "/v1/sub-orders/" + paidSub.ID + "/ship", body: map[string]any{"tracking_number": longText(101)}, status: 400, code: "validation_failed"},
		{name: "shipping with a tracking number that is a number", who: seller, method: "POST", path: "/v1/sub-orders/" + paidSub.ID + "/ship", body: map[string]any{"tracking_number": 12345}, status: 400, code: "validation_failed"},
		{name: "shipping and setting the status", who: seller, method: "POST", path: "/v1/sub-orders/" + paidSub.ID + "/ship", body: map[string]any{"tracking_number": "1Z", "status": "delivered"}, status: 400, code: "validation_failed"},
		{name: "shipping without a body", who: seller, method: "POST", path: "/v1/sub-orders/" + paidSub.ID + "/ship", body: nil, status: 415, code: "unsupported_media_type"},
		{name: "shipping a sub-order id that is not a UUID", who: seller, method: "POST", path: "/v1/sub-orders/1/ship", body: map[string]any{"tracking_number": "1Z"}, status: 404, code: "sub_order_not_found"},
		{name: "delivering a sub-order id that is not a UUID", who: seller, method: "POST", path: "/v1/sub-orders/1/deliver", status: 404, code: "sub_order_not_found"},
		{name: "delivering an upper-case sub-order id", who: seller, method: "POST", path: "/v1/sub-orders/" + upper(paidSub.ID) + "/deliver", status: 404, code: "sub_order_not_found"},
		// Stock.
		{name: "stock on hand of -1", who: seller, method: "PUT", path: "/v1/stock/" + lamp.ID, body: map[string]any{"on_hand": -1}, status: 400, code: "validation_failed"},
		{name: "stock without on_hand", who: seller, method: "PUT", path: "/v1/stock/" + lamp.ID, body: map[string]any{}, status: 400, code: "validation_failed"},
		{name: "stock on hand of null", who: seller, method: "PUT", path: "/v1/stock/" + lamp.ID, body: `{"on_hand":null}`, status: 400, code: "validation_failed"},
		{name: "stock on hand over a billion", who: seller, method: "PUT", path: "/v1/stock/" + lamp.ID, body: map[string]any{"on_hand": 1_000_000_001}, status: 400, code: "validation_failed"},
		{name: "stock on hand of 1.5", who: seller, method: "PUT", path: "/v1/stock/" + lamp.ID, body: `{"on_hand":1.5}`, status: 400, code: "validation_failed"},
		{name: "stock on hand as a string", who: seller, method: "PUT", path: "/v1/stock/" + lamp.ID, body: `{"on_hand":"10"}`, status: 400, code: "validation_failed"},
		{name: "stock setting what is reserved", who: seller, method: "PUT", path: "/v1/stock/" + lamp.ID, body: map[string]any{"on_hand": 10, "reserved": 0}, status: 400, code: "validation_failed"},
		{name: "stock on hand below what unpaid orders hold", who: seller, method: "PUT", path: "/v1/stock/" + lamp.ID,
			body: map[string]any{"on_hand": lampStock.Reserved - 1}, status: 409, code: "stock_below_reserved"},
		{name: "a stock adjustment of 0", who: seller, method: "POST", path: "/v1/stock/" + lamp.ID + "/adjustments", body: map[string]any{"delta": 0}, status: 400, code: "validation_failed"},
		{name: "a stock adjustment without a delta", who: seller, method: "POST", path: "/v1/stock/" + lamp.ID + "/adjustments", body: map[string]any{}, status: 400, code: "validation_failed"},
		{name: "a stock adjustment over a billion", who: seller, method: "POST", path: "/v1/stock/" + lamp.ID + "/adjustments", body: map[string]any{"delta": 1_000_000_001}, status: 400, code: "validation_failed"},
		{name: "a stock adjustment under minus a billion", who: seller, method: "POST", path: "/v1/stock/" + lamp.ID + "/adjustments", body: map[string]any{"delta": -1_000_000_001}, status: 400, code: "validation_failed"},
		{name: "a stock adjustment that is a string", who: seller, method: "POST", path: "/v1/stock/" + lamp.ID + "/adjustments", body: `{"delta":"5"}`, status: 400, code: "validation_failed"},
		{name: "a stock adjustment below what unpaid orders hold", who: seller, method: "POST", path: "/v1/stock/" + lamp.ID + "/adjustments",
			body: map[string]any{"delta": -(lampStock.OnHand - lampStock.Reserved + 1)}, status: 409, code: "stock_below_reserved"},
		{name: "stock of a product id that is not a UUID", who: seller, method: "GET", path: "/v1/stock/lamp", status: 404, code: "product_not_found"},
		{name: "stock of an upper-case product id", who: seller, method: "PUT", path: "/v1/stock/" + upper(lamp.ID), body: map[string]any{"on_hand": 5}, status: 404, code: "product_not_found"},
		{name: "stock of an unknown product", who: seller, method: "PUT", path: "/v1/stock/" + validID, body: map[string]any{"on_hand": 5}, status: 404, code: "product_not_found"},
		// Lists.
		{name: "a list limit of 0", method: "GET", path: "/v1/orders?limit=0", status: 400, code: "validation_failed"},
		{name: "a list limit of -1", method: "GET", path: "/v1/orders?limit=-1", status: 400, code: "validation_failed"},
		{name: "a list limit of 101", method: "GET", path: "/v1/orders?limit=101", status: 400, code: "validation_failed"},
		{name: "a list limit that is a word", method: "GET", path: "/v1/orders?limit=ten", status: 400, code: "validation_failed"},
		{name: "a list limit of 1.5", method: "GET", path: "/v1/sub-orders?limit=1.5", status: 400, code: "validation_failed"},
		{name: "a list scope that is neither mine nor all", method: "GET", path: "/v1/orders?scope=everyone", status: 400, code: "validation_failed"},
		{name: "a sub-order list scope that is neither mine nor all", who: seller, method: "GET", path: "/v1/sub-orders?scope=ALL", status: 400, code: "validation_failed"},
		{name: "a cursor that is not base64", method: "GET", path: "/v1/orders?cursor=!!!", status: 400, code: "invalid_cursor"},
		{name: "a cursor without a time", method: "GET", path: "/v1/orders?cursor=" + listCursor("", validID), status: 400, code: "invalid_cursor"},
		{name: "a cursor whose id is not a UUID", method: "GET", path: "/v1/orders?cursor=" + listCursor("1700000000000000", "x"), status: 400, code: "invalid_cursor"},
		// The lists never hand out cursors like the next three; each must be
		// refused, not passed on to the database.
		{name: "a cursor whose id is a URN", method: "GET", path: "/v1/orders?cursor=" + listCursor("1700000000000000", "urn:uuid:"+validID), status: 400, code: "invalid_cursor"},
		{name: "a sub-order cursor whose id is a URN", who: seller, method: "GET", path: "/v1/sub-orders?cursor=" + listCursor("1700000000000000", "urn:uuid:"+validID), status: 400, code: "invalid_cursor"},
		{name: "a cursor dated before the year 1", method: "GET", path: "/v1/orders?cursor=" + listCursor("-300000000000000000", validID), status: 400, code: "invalid_cursor"},
		// This one overflows on its way to the database and wraps round to
		// the far future: it would answer with the first page again.
		{name: "a cursor at the lowest time an int64 holds", method: "GET", path: "/v1/orders?cursor=" + listCursor("-9223372036854775808", validID), status: 400, code: "invalid_cursor"},
		// Ids in paths.
		{name: "an order id that is not a UUID", method: "GET", path: "/v1/orders/123", status: 404, code: "order_not_found"},
		{name: "an upper-case order id", method: "GET", path: "/v1/orders/" + upper(pending.ID), status: 404, code: "order_not_found"},
		{name: "a sub-order id that is not a UUID", who: seller, method: "GET", path: "/v1/sub-orders/abc", status: 404, code: "sub_order_not_found"},
		{name: "a sub-order id with the hyphens left out", who: seller, method: "GET", path: "/v1/sub-orders/" + strings.ReplaceAll(paidSub.ID, "-", ""), status: 404, code: "sub_order_not_found"},
	}
	for _, tt := range tests {
		// The cases run one after another: some build on the one before
		// (an idempotency key's first use), and every one must leave the
		// service as it found it.
		t.Run(tt.name+" is refused", func(t *testing.T) {
			who, method, path := tt.who, tt.method, tt.path
			if who == (caller{}) {
				who = buyer
			}
			if method == "" {
				method, path = "POST", "/v1/orders"
			}
			res := e.Do(t, who, method, path, tt.body, tt.header...)
			res.WantProblem(t, tt.status, tt.code)
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}

	if diff := cmp.Diff(before, e.serviceState(t, gw, products, buyer, emptyCart)); diff != "" {
		t.Errorf("bad input changed the service (-before +after):\n%s", diff)
	}
}

// TestABlankIdempotencyKeyIsRefusedRatherThanIgnored: a client that sends
// the header means to be protected from duplicates; a blank key must not
// silently turn into no key.
func TestABlankIdempotencyKeyIsRefusedRatherThanIgnored(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	lamp := e.product(t, seller, 1999, "EUR", 10)
	before := e.serviceState(t, gw, []contracts.ProductV1{lamp}, buyer)
	for _, key := range []string{"", "   "} {
		t.Run(fmt.Sprintf("Idempotency-Key %q is refused", key), func(t *testing.T) {
			e.Do(t, buyer, "POST", "/v1/orders", checkoutBody(item(lamp, 1)), "Idempotency-Key", key).WantProblem(t, http.StatusBadRequest, "validation_failed")
		})
	}
	if diff := cmp.Diff(before, e.serviceState(t, gw, []contracts.ProductV1{lamp}, buyer)); diff != "" {
		t.Errorf("a refused checkout changed the service (-before +after):\n%s", diff)
	}
}

// TestCheckingOutNullItemsDoesNotBuyTheCart: "items": null is what a
// client's empty list often becomes in JSON. It asks for nothing, like
// "items": [], and must not fall back to the whole cart as a body without
// items does.
func TestCheckingOutNullItemsDoesNotBuyTheCart(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	lamp := e.product(t, seller, 1999, "EUR", 10)
	e.Do(t, buyer, "PUT", "/v1/cart/items/"+lamp.ID, map[string]any{"quantity": 2}).Want(t, http.StatusOK)
	before := e.serviceState(t, gw, []contracts.ProductV1{lamp}, buyer)
	for _, items := range []string{`null`, `[]`} {
		t.Run(`"items":`+items+" is an empty order", func(t *testing.T) {
			body := map[string]any{"items": json.RawMessage(items), "shipping_address": address()}
			e.Do(t, buyer, "POST", "/v1/orders", body).WantProblem(t, http.StatusUnprocessableEntity, "empty_order")
		})
	}
	if diff := cmp.Diff(before, e.serviceState(t, gw, []contracts.ProductV1{lamp}, buyer)); diff != "" {
		t.Errorf("a refused checkout changed the service (-before +after):\n%s", diff)
	}
}

// step brings a deal one move further, as its owner would.
type step string

const (
	stepPay      step = "pay"
	stepDecline  step = "decline"
	stepCancel   step = "cancel"
	stepShipA    step = "ship A"
	stepDeliverA step = "deliver A"
	stepShipB    step = "ship B"
	stepDeliverB step = "deliver B"
)

func (e *testEnv) take(t *testing.T, c cast, d deal, s step) {
	t.Helper()
	switch s {
	case stepPay:
		e.mustPay(t, c[buyerA], d.order.ID, "pm_card_visa")
	case stepDecline:
		e.Do(t, c[buyerA], "POST", "/v1/orders/"+d.order.ID+"/payment", map[string]any{"payment_method": payment.DeclinedPaymentMethod}).Want(t, http.StatusOK)
	case stepCancel:
		e.Do(t, c[buyerA], "POST", "/v1/orders/"+d.order.ID+"/cancel", nil).Want(t, http.StatusOK)
	case stepShipA:
		e.Do(t, c[sellerA], "POST", "/v1/sub-orders/"+d.subA.ID+"/ship", map[string]any{"tracking_number": "A-1"}).Want(t, http.StatusOK)
	case stepDeliverA:
		e.Do(t, c[sellerA], "POST", "/v1/sub-orders/"+d.subA.ID+"/deliver", nil).Want(t, http.StatusOK)
	case stepShipB:
		e.Do(t, c[sellerB], "POST", "/v1/sub-orders/"+d.subB.ID+"/ship", map[string]any{"tracking_number": "B-1"}).Want(t, http.StatusOK)
	case stepDeliverB:
		e.Do(t, c[sellerB], "POST", "/v1/sub-orders/"+d.subB.ID+"/deliver", nil).Want(t, http.StatusOK)
	default:
		t.Fatalf("no step %q", s)
	}
}

// moveFunc is a request that moves a deal's order or sub-order.
type moveFunc func(d deal) (who, string, string, any)

func payOrder(d deal) (who, string, string, any) {
	return buyerA, "POST", "/v1/orders/" + d.order.ID + "/payment", map[string]any{"payment_method": "pm_card_visa"}
}

func cancelOrder(d deal) (who, string, string, any) {
	return buyerA, "POST", "/v1/orders/" + d.order.ID + "/cancel", nil
}

func adminCancelsOrder(d deal) (who, string, string, any) {
	return theAdmin, "POST", "/v1/orders/" + d.order.ID + "/cancel", nil
}

func shipSubA(d deal) (who, string, string, any) {
	return sellerA, "POST", "/v1/sub-orders/" + d.subA.ID + "/ship", map[string]any{"tracking_number": "A-2"}
}

func deliverSubA(d deal) (who, string, string, any) {
	return sellerA, "POST", "/v1/sub-orders/" + d.subA.ID + "/deliver", nil
}

func TestIllegalMovesAreRefusedAndChangeNothing(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	c := newCast(t, e)
	const illegal = "illegal_transition"
	tests := []struct {
		name  string
		after []step
		move  moveFunc
		code  string
	}{
		{name: "shipping an unpaid sub-order", move: shipSubA, code: illegal},
		{name: "delivering an unpaid sub-order", move: deliverSubA, code: illegal},
		{name: "delivering a paid sub-order that has not shipped", after: []step{stepPay}, move: deliverSubA, code: illegal},
		{name: "shipping a sub-order twice", after: []step{stepPay, stepShipA}, move: shipSubA, code: illegal},
		{name: "delivering a sub-order twice", after: []step{stepPay, stepShipA, stepDeliverA}, move: deliverSubA, code: illegal},
		{name: "shipping a delivered sub-order", after: []step{stepPay, stepShipA, stepDeliverA}, move: shipSubA, code: illegal},
		{name: "shipping a sub-order whose payment failed", after: []step{stepDecline}, move: shipSubA, code: illegal},
		{name: "shipping a sub-order of a cancelled order", after: []step{stepCancel}, move: shipSubA, code: illegal},
		{name: "shipping a sub-order of an order cancelled after payment", after: []step{stepPay, stepCancel}, move: shipSubA, code: illegal},
		{name: "paying a cancelled order", after: []step{stepCancel}, move: payOrder, code: illegal},
		{name: "paying an order cancelled and refunded after payment", after: []step{stepPay, stepCancel}, move: payOrder, code: illegal},
		{name: "paying an order whose payment failed", after: []step{stepDecline}, move: payOrder, code: illegal},
		{name: "cancelling a cancelled order", after: []step{stepCancel}, move: cancelOrder, code: illegal},
		{name: "cancelling an order whose payment failed", after: []step{stepDecline}, move: cancelOrder, code: illegal},
		{name: "cancelling a delivered order", after: []step{stepPay, stepShipA, stepDeliverA, stepShipB, stepDeliverB}, move: cancelOrder, code: illegal},
		{name: "an admin cancelling a delivered order", after: []step{stepPay, stepShipA, stepDeliverA, stepShipB, stepDeliverB}, move: adminCancelsOrder, code: illegal},
		{name: "cancelling once one sub-order has shipped", after: []step{stepPay, stepShipA}, move: cancelOrder, code: "already_shipped"},
		{name: "cancelling once one sub-order is delivered", after: []step{stepPay, stepShipA, stepDeliverA}, move: cancelOrder, code: "already_shipped"},
		{name: "an admin cancelling once one sub-order has shipped", after: []step{stepPay, stepShipB}, move: adminCancelsOrder, code: "already_shipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is a conflict that changes nothing", func(t *testing.T) {
			t.Parallel()
			d := e.newDeal(t, c, atPending)
			for _, s := range tt.after {
				e.take(t, c, d, s)
			}
			before := e.state(t, c, d)
			w, method, path, body := tt.move(d)
			e.Do(t, c[w], method, path, body).WantProblem(t, http.StatusConflict, tt.code)
			if diff := cmp.Diff(before, e.state(t, c, d)); diff != "" {
				t.Errorf("the refused move changed the deal (-before +after):\n%s", diff)
			}
		})
	}
}

func TestPayingAPaidOrderAgainAnswersWithTheOrderAndChargesNothing(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	c := newCast(t, e)
	d := e.newDeal(t, c, atPending)
	first := e.mustPay(t, c[buyerA], d.order.ID, "pm_card_visa")
	if first.Status != orders.Paid || gw.ChargeCount() != 1 {
		t.Fatalf("the first payment left the order %s with %d charges, want paid with 1", first.Status, gw.ChargeCount())
	}
	paid := e.state(t, c, d)

	// Each retry below would, if it charged, move money a second time.
	for _, tt := range []struct {
		name   string
		method string
		header []string
	}{
		{name: "with the same payment method", method: "pm_card_visa"},
		{name: "with another payment method", method: "pm_card_mastercard"},
		{name: "with a payment method that would be declined", method: payment.DeclinedPaymentMethod},
		{name: "under a new Idempotency-Key", method: "pm_card_visa", header: []string{"Idempotency-Key", uuid.NewString()}},
	} {
		t.Run("paying again "+tt.name+" answers 200 and charges nothing", func(t *testing.T) {
			var o orderBody
			e.Do(t, c[buyerA], "POST", "/v1/orders/"+d.order.ID+"/payment", map[string]any{"payment_method": tt.method}, tt.header...).
				Want(t, http.StatusOK).Decode(t, &o)
			if o.ID != d.order.ID || o.Status != orders.Paid || o.Payment == nil || o.Payment.Status != orders.PaymentSucceeded {
				t.Errorf("answered %+v, want the paid order", o)
			}
			if n := gw.ChargeCount(); n != 1 {
				t.Errorf("%d charges, want still 1", n)
			}
			if diff := cmp.Diff(paid, e.state(t, c, d)); diff != "" {
				t.Errorf("paying again changed the order (-before +after):\n%s", diff)
			}
		})
	}

	t.Run("paying a delivered order answers 200 and charges nothing", func(t *testing.T) {
		for _, s := range []step{stepShipA, stepDeliverA, stepShipB, stepDeliverB} {
			e.take(t, c, d, s)
		}
		delivered := e.state(t, c, d)
		var o orderBody
		e.Do(t, c[buyerA], "POST", "/v1/orders/"+d.order.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"}).
			Want(t, http.StatusOK).Decode(t, &o)
		if o.Status != orders.Delivered {
			t.Errorf("answered an order %s, want delivered", o.Status)
		}
		if n := gw.ChargeCount(); n != 1 {
			t.Errorf("%d charges, want still 1", n)
		}
		if diff := cmp.Diff(delivered, e.state(t, c, d)); diff != "" {
			t.Errorf("paying a delivered order changed it (-before +after):\n%s", diff)
		}
	})
}

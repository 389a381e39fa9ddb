package storefront

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type cartView struct {
	Lines []struct {
		Product   product `json:"product"`
		Quantity  int     `json:"quantity"`
		Available int64   `json:"available"`
		Subtotal  money   `json:"subtotal"`
	} `json:"lines"`
	Totals []money `json:"totals"`
}

func (h *Handler) cart(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next=/cart", http.StatusSeeOther)
		return
	}
	var c cartView
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/cart"}, &c); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "cart", page{Title: "title.cart", Notice: r.URL.Query().Get("notice"), Data: c})
}

// setQuantity puts a product in the cart with the quantity given; 0
// removes it.
func (h *Handler) setQuantity(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	id := r.PathValue("id")
	if v.sess == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape("/products/"+id), http.StatusSeeOther)
		return
	}
	qty, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("quantity")))
	if err != nil || qty < 0 || qty > 1000 {
		h.problem(w, r, http.StatusBadRequest, "err.quantity")
		return
	}
	c := call{method: http.MethodPut, path: "/v1/cart/items/" + url.PathEscape(id), body: map[string]int{"quantity": qty}}
	if qty == 0 {
		c = call{method: http.MethodDelete, path: "/v1/cart/items/" + url.PathEscape(id)}
	}
	if _, err := v.call(c, nil); err != nil && !(qty == 0 && isAPI(err, http.StatusNotFound, "")) {
		h.cartFailed(w, r, err)
		return
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

func (h *Handler) removeLine(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	_, err := v.call(call{method: http.MethodDelete, path: "/v1/cart/items/" + url.PathEscape(r.PathValue("id"))}, nil)
	if err != nil && !isAPI(err, http.StatusNotFound, "") {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

// cartFailed explains a cart change the API refused.
func (h *Handler) cartFailed(w http.ResponseWriter, r *http.Request, err error) {
	var e *apiError
	if errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusUnprocessableEntity || e.Status == http.StatusBadRequest) {
		h.problem(w, r, e.Status, h.sentence(r, e))
		return
	}
	h.fail(w, r, err)
}

// address is a postal address, as the users API keeps it.
type address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

type me struct {
	ID              string   `json:"id"`
	Email           string   `json:"email"`
	DisplayName     string   `json:"display_name"`
	Roles           []string `json:"roles"`
	Phone           *string  `json:"phone"`
	ShippingAddress *address `json:"shipping_address"`
	ShopName        *string  `json:"shop_name"`
	Disabled        bool     `json:"disabled"`
	// Preferences are free-form for the API; the pages keep "language"
	// and "currency" in them.
	Preferences map[string]any `json:"preferences"`
	CreatedAt   time.Time      `json:"created_at"`
}

// pref is the preference named k, or "".
func (u me) pref(k string) string {
	s, _ := u.Preferences[k].(string)
	return s
}

// paymentMethods are the cards the simulated payment gateway knows: one
// that pays, one that is declined.
var paymentMethods = []struct{ Value, Label string }{
	{"pm_card_visa", "pay.visa"},
	{"pm_card_declined", "pay.declined"},
}

type checkoutData struct {
	Cart           cartView
	Address        address
	Payment        string
	IdempotencyKey string
	Methods        any
	// SaveAddress keeps the address in the profile for next time: offered
	// ticked when the profile has none.
	SaveAddress bool
	// FromProfile says the form was filled from the profile's address.
	FromProfile bool
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func (h *Handler) checkoutForm(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next=/checkout", http.StatusSeeOther)
		return
	}
	d := checkoutData{Payment: paymentMethods[0].Value, IdempotencyKey: newKey(), Methods: paymentMethods}
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/cart"}, &d.Cart); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(d.Cart.Lines) == 0 {
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
		return
	}
	var u me
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/users/me"}, &u); err != nil {
		h.fail(w, r, err)
		return
	}
	if u.ShippingAddress != nil {
		d.Address, d.FromProfile = *u.ShippingAddress, true
	} else {
		d.SaveAddress = true
	}
	h.render(w, r, http.StatusOK, "checkout", page{Title: "title.checkout", Data: d})
}

var (
	countryCode = regexp.MustCompile(`^[A-Z]{2}$`)
	keyPattern  = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// readAddress reads the checkout form's address and says what is wrong
// with it, by field.
func readAddress(r *http.Request) (address, map[string]string) {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	a := address{Name: f("name"), Line1: f("line1"), Line2: f("line2"), City: f("city"), Region: f("region"),
		PostalCode: f("postal_code"), Country: strings.ToUpper(f("country"))}
	bad := map[string]string{}
	for k, val := range map[string]string{"name": a.Name, "line1": a.Line1, "city": a.City, "postal_code": a.PostalCode} {
		if val == "" {
			bad[k] = "is required"
		}
	}
	for k, val := range map[string]string{"name": a.Name, "line1": a.Line1, "line2": a.Line2, "city": a.City, "region": a.Region, "postal_code": a.PostalCode} {
		if len([]rune(val)) > 200 {
			bad[k] = "field.too_long"
		}
	}
	if !countryCode.MatchString(a.Country) {
		bad["country"] = "field.country"
	}
	return a, bad
}

type order struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	Total           money      `json:"total"`
	CreatedAt       time.Time  `json:"created_at"`
	ShippingAddress *address   `json:"shipping_address"`
	History         []change   `json:"history"`
	SubOrders       []subOrder `json:"sub_orders"`
	Payment         *struct {
		Status        string `json:"status"`
		DeclineReason string `json:"decline_reason"`
	} `json:"payment"`
}

type change struct {
	// SubOrderID names the seller's part of the order that changed; empty
	// for the order itself.
	SubOrderID string    `json:"sub_order_id"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Actor      string    `json:"actor"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// checkout places the order from the cart, to the address in the form
// (saved to the profile too when asked), and pays it. The form's
// Idempotency-Key makes a second submit of
// the same form (a double click, a reload) find the order the first one
// placed instead of placing another; paying it again is refused, and the
// person lands on the order either way.
func (h *Handler) checkout(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next=/checkout", http.StatusSeeOther)
		return
	}
	a, bad := readAddress(r)
	d := checkoutData{Address: a, Payment: r.PostFormValue("payment_method"), IdempotencyKey: r.PostFormValue("idempotency_key"), Methods: paymentMethods,
		SaveAddress: r.PostFormValue("save_address") != ""}
	if !keyPattern.MatchString(d.IdempotencyKey) {
		h.problem(w, r, http.StatusBadRequest, "err.checkout_expired")
		return
	}
	known := false
	for _, m := range paymentMethods {
		known = known || m.Value == d.Payment
	}
	if !known {
		bad["payment_method"] = "field.choose_card"
	}
	again := func(status int, msg string, fields map[string]string) {
		_, _ = v.call(call{method: http.MethodGet, path: "/v1/cart"}, &d.Cart)
		h.render(w, r, status, "checkout", page{Title: "title.checkout", Error: msg, Fields: fields, Data: d})
	}
	if len(bad) > 0 {
		again(http.StatusBadRequest, "err.fields", bad)
		return
	}
	if d.SaveAddress {
		if _, err := v.call(call{method: http.MethodPatch, path: "/v1/users/me", body: map[string]any{"shipping_address": a}}, nil); err != nil {
			if fields, ok := addressErrors(err); ok {
				again(http.StatusBadRequest, "err.fields", fields)
				return
			}
			h.fail(w, r, err)
			return
		}
	}
	var o order
	_, err := v.call(call{method: http.MethodPost, path: "/v1/orders", hdr: []string{"Idempotency-Key", d.IdempotencyKey},
		body: map[string]any{"shipping_address": a}}, &o)
	if err != nil {
		var e *apiError
		if fields, ok := addressErrors(err); ok {
			again(http.StatusBadRequest, "err.fields", fields)
			return
		}
		if errors.As(err, &e) && (e.Status == http.StatusConflict || e.Status == http.StatusUnprocessableEntity) {
			again(e.Status, h.sentence(r, e), nil)
			return
		}
		h.fail(w, r, err)
		return
	}
	_, err = v.call(call{method: http.MethodPost, path: "/v1/orders/" + url.PathEscape(o.ID) + "/payment",
		body: map[string]string{"payment_method": d.Payment}}, nil)
	if err != nil && !isAPI(err, http.StatusConflict, "illegal_transition") {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/orders/"+url.PathEscape(o.ID), http.StatusSeeOther)
}

// addressErrors turns an API's refusal of a shipping address (400, with
// errors named shipping_address.<field>) into the form's field errors.
func addressErrors(err error) (map[string]string, bool) {
	var e *apiError
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || len(e.Errors) == 0 {
		return nil, false
	}
	fields := map[string]string{}
	for k, msg := range e.Errors {
		fields[strings.TrimPrefix(k, "shipping_address.")] = msg
	}
	return fields, true
}

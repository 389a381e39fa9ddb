package ordersrv_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

func withAddress(a map[string]any, items ...map[string]any) map[string]any {
	return map[string]any{"items": items, "shipping_address": a}
}

func TestTheShippingAddressIsShownToTheBuyerAndToTheSellersOfTheOrderOnly(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	sellerA, sellerB, stranger := e.seller(t), e.seller(t), e.seller(t)
	buyer, otherBuyer := e.buyer(t), e.buyer(t)
	lamp, vase := e.product(t, sellerA, 1999, "EUR", 5), e.product(t, sellerB, 900, "EUR", 5)
	strangers := e.product(t, stranger, 100, "EUR", 5)
	// The stranger sells to someone else, who lives elsewhere, so it has
	// sub-orders (and an address) of its own.
	elsewhere := address()
	elsewhere["line1"] = "Amselgasse 3"
	e.Do(t, otherBuyer, "POST", "/v1/orders", withAddress(elsewhere, item(strangers, 1))).Want(t, http.StatusCreated)

	var placed orderBody
	e.Do(t, buyer, "POST", "/v1/orders", withAddress(address(), item(lamp, 1), item(vase, 2))).Want(t, http.StatusCreated).Decode(t, &placed)
	if diff := cmp.Diff(theAddress, placed.ShippingAddress); diff != "" {
		t.Fatalf("the placed order's address (-want +got):\n%s", diff)
	}
	subOf := map[string]string{}
	for _, s := range placed.SubOrders {
		subOf[s.SellerID] = s.ID
	}

	sees := func(t *testing.T, who caller, path string) *orders.Address {
		t.Helper()
		var s subOrderBody
		e.Do(t, who, "GET", path, nil).Want(t, http.StatusOK).Decode(t, &s)
		return s.ShippingAddress
	}
	t.Run("the buyer sees it on the order", func(t *testing.T) {
		if diff := cmp.Diff(theAddress, e.mustOrder(t, buyer, placed.ID).ShippingAddress); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("each seller of the order sees it on its own sub-order", func(t *testing.T) {
		for _, s := range []caller{sellerA, sellerB} {
			if diff := cmp.Diff(theAddress, sees(t, s, "/v1/sub-orders/"+subOf[s.ID])); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}
	})
	t.Run("a seller sees it in its list of sub-orders", func(t *testing.T) {
		var p struct{ Items []subOrderBody }
		e.Do(t, sellerA, "GET", "/v1/sub-orders", nil).Want(t, http.StatusOK).Decode(t, &p)
		if len(p.Items) != 1 || cmp.Diff(theAddress, p.Items[0].ShippingAddress) != "" {
			t.Errorf("seller A's list: %+v", p.Items)
		}
	})
	t.Run("a seller of the order does not read another seller's sub-order", func(t *testing.T) {
		e.Do(t, sellerA, "GET", "/v1/sub-orders/"+subOf[sellerB.ID], nil).WantProblem(t, http.StatusNotFound, "sub_order_not_found")
	})
	t.Run("a seller not in the order sees it nowhere", func(t *testing.T) {
		e.Do(t, stranger, "GET", "/v1/sub-orders/"+subOf[sellerA.ID], nil).WantProblem(t, http.StatusNotFound, "sub_order_not_found")
		e.Do(t, stranger, "GET", "/v1/orders/"+placed.ID, nil).WantProblem(t, http.StatusNotFound, "order_not_found")
		res := e.Do(t, stranger, "GET", "/v1/sub-orders", nil).Want(t, http.StatusOK)
		if strings.Contains(string(res.Body), "Zaunk") {
			t.Errorf("the stranger's list of sub-orders holds the address: %s", res.Body)
		}
	})
	t.Run("another buyer does not see the order", func(t *testing.T) {
		e.Do(t, otherBuyer, "GET", "/v1/orders/"+placed.ID, nil).WantProblem(t, http.StatusNotFound, "order_not_found")
	})
}

func TestAnAddressIsTrimmed(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	lamp := e.product(t, seller, 1999, "EUR", 5)
	padded := map[string]any{"name": "  Ada Lovelace ", "line1": "Zaunkönigweg 17\u00a0", "city": "Berlin", "postal_code": " 10115", "country": "DE",
		"line2": "  ", "region": ""}
	var o orderBody
	e.Do(t, buyer, "POST", "/v1/orders", withAddress(padded, item(lamp, 1))).Want(t, http.StatusCreated).Decode(t, &o)
	want := &orders.Address{Name: "Ada Lovelace", Line1: "Zaunkönigweg 17", City: "Berlin", PostalCode: "10115", Country: "DE"}
	if diff := cmp.Diff(want, o.ShippingAddress); diff != "" {
		t.Errorf("trimmed address (-want +got):\n%s", diff)
	}
}

// TestAnOrderWithoutAShippingAddressIsRefusedAndLeavesNoTrace: since ADR
// 0041 an order needs somewhere to go. Each request is sent under an
// Idempotency-Key, and the buyer's cart could be bought, so that a refusal
// which reserved stock, emptied the cart or kept the key would show.
func TestAnOrderWithoutAShippingAddressIsRefusedAndLeavesNoTrace(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	lamp := e.product(t, seller, 1999, "EUR", 5)
	products := []contracts.ProductV1{lamp}
	e.Do(t, buyer, "PUT", "/v1/cart/items/"+lamp.ID, map[string]any{"quantity": 2}).Want(t, http.StatusOK)
	before := e.serviceState(t, gw, products, buyer)
	missing := []string{"shipping_address"}
	tests := []struct {
		name   string
		body   any
		fields []string // the errors members named
	}{
		{"no body, which buys the cart", nil, missing},
		{"an empty object, which buys the cart", map[string]any{}, missing},
		{"items without an address", map[string]any{"items": []any{item(lamp, 1)}}, missing},
		{"a null address", map[string]any{"items": []any{item(lamp, 1)}, "shipping_address": nil}, missing},
		{"a null address for the cart", map[string]any{"shipping_address": nil}, missing},
		{"an empty address object", map[string]any{"items": []any{item(lamp, 1)}, "shipping_address": map[string]any{}},
			[]string{"shipping_address.city", "shipping_address.country", "shipping_address.line1", "shipping_address.name", "shipping_address.postal_code"}},
	}
	for i, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			res := e.Do(t, buyer, "POST", "/v1/orders", tt.body, "Idempotency-Key", fmt.Sprintf("no-address-%d", i))
			res.WantProblem(t, http.StatusBadRequest, "validation_failed")
			var p struct{ Errors map[string]string }
			res.Decode(t, &p)
			if got := slices.Sorted(maps.Keys(p.Errors)); !slices.Equal(got, tt.fields) {
				t.Errorf("errors %v, want entries for %v", p.Errors, tt.fields)
			}
		})
	}
	if diff := cmp.Diff(before, e.serviceState(t, gw, products, buyer)); diff != "" {
		t.Errorf("a checkout without an address changed the service (-before +after):\n%s", diff)
	}
	if n := e.queryInt(t, `SELECT count(*) FROM idempotency_keys`); n != 0 {
		t.Errorf("%d idempotency keys kept for refused checkouts, want none", n)
	}
	t.Run("the key of a refused checkout is free for the corrected one", func(t *testing.T) {
		var o orderBody
		e.Do(t, buyer, "POST", "/v1/orders", checkoutBody(), "Idempotency-Key", "no-address-0").Want(t, http.StatusCreated).Decode(t, &o)
		if cmp.Diff(theAddress, o.ShippingAddress) != "" || len(o.SubOrders) != 1 || o.SubOrders[0].Lines[0].Quantity != 2 {
			t.Errorf("the corrected checkout placed %+v", o)
		}
	})
}

func TestABadShippingAddressIsRefusedFieldByFieldAndPlacesNothing(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	lamp := e.product(t, seller, 1999, "EUR", 5)
	before := e.serviceState(t, gw, nil, buyer)
	with := func(field string, v any) map[string]any {
		a := address()
		if v == nil {
			delete(a, field)
		} else {
			a[field] = v
		}
		return a
	}
	long := strings.Repeat("x", 201)
	tests := []struct {
		name    string
		address any
		field   string // the errors member named, or "" for a refusal of the body's shape
	}{
		{"no recipient", with("name", nil), "shipping_address.name"},
		{"a blank recipient", with("name", "   "), "shipping_address.name"},
		{"no street", with("line1", nil), "shipping_address.line1"},
		{"no city", with("city", nil), "shipping_address.city"},
		{"no postal code", with("postal_code", nil), "shipping_address.postal_code"},
		{"no country", with("country", nil), "shipping_address.country"},
		{"a recipient of 201 characters", with("name", long), "shipping_address.name"},
		{"a second line of 201 characters", with("line2", long), "shipping_address.line2"},
		{"a region of 201 characters", with("region", long), "shipping_address.region"},
		{"a city of 201 characters", with("city", long), "shipping_address.city"},
		{"a street with a NUL", with("line1", "Main St\u0000 1"), "shipping_address.line1"},
		{"a street with a line break", with("line1", "Main St 1\nX-Injected: yes"), "shipping_address.line1"},
		{"a postal code with an escape character", with("postal_code", "10115\u001b[2J"), "shipping_address.postal_code"},
		{"a region with a DEL", with("region", "BE\u007f"), "shipping_address.region"},
		{"a country in lower case", with("country", "de"), "shipping_address.country"},
		{"a three-letter country", with("country", "DEU"), "shipping_address.country"},
		{"a country code no country has", with("country", "ZZ"), "shipping_address.country"},
		{"a grouping of countries", with("country", "EU"), "shipping_address.country"},
		{"a withdrawn country code", with("country", "DD"), "shipping_address.country"},
		{"a country as a number", with("country", 276), ""},
		{"an unknown member", with("phone", "+4930123456"), ""},
		{"an address as a string", "Zaunkönigweg 17, Berlin", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Do(t, buyer, "POST", "/v1/orders", map[string]any{"items": []any{item(lamp, 1)}, "shipping_address": tt.address})
			res.WantProblem(t, http.StatusBadRequest, "validation_failed")
			if tt.field == "" {
				return
			}
			var p struct{ Errors map[string]string }
			res.Decode(t, &p)
			if _, ok := p.Errors[tt.field]; !ok || len(p.Errors) != 1 {
				t.Errorf("errors %v, want one for %s", p.Errors, tt.field)
			}
		})
	}
	t.Run("every bad field is reported at once", func(t *testing.T) {
		bad := map[string]any{"name": "", "line1": "", "city": "", "postal_code": "", "country": "xx"}
		var p struct{ Errors map[string]string }
		res := e.Do(t, buyer, "POST", "/v1/orders", withAddress(bad, item(lamp, 1)))
		res.WantProblem(t, http.StatusBadRequest, "validation_failed")
		res.Decode(t, &p)
		if len(p.Errors) != 5 {
			t.Errorf("errors %v, want the five fields", p.Errors)
		}
	})
	if diff := cmp.Diff(before, e.serviceState(t, gw, nil, buyer)); diff != "" {
		t.Errorf("bad addresses changed the service (-before +after):\n%s", diff)
	}
}

func TestAnIdempotencyKeyReusedWithAnotherAddressIsRefused(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	lamp := e.product(t, seller, 1999, "EUR", 5)
	elsewhere := address()
	elsewhere["line1"] = "Amselgasse 3"
	send := func(a map[string]any) httpxtest.Response {
		return e.Do(t, buyer, "POST", "/v1/orders", withAddress(a, item(lamp, 1)), "Idempotency-Key", "ship-1")
	}
	var first orderBody
	send(address()).Want(t, http.StatusCreated).Decode(t, &first)
	if res := send(address()).Want(t, http.StatusCreated); res.Header.Get("Idempotent-Replayed") != "true" {
		t.Error("the same key with the same address was not answered from the first answer")
	}
	send(elsewhere).WantProblem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
	if got := e.mustOrder(t, buyer, first.ID).ShippingAddress; cmp.Diff(theAddress, got) != "" {
		t.Errorf("the order's address became %+v", got)
	}
}

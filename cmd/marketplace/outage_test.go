package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/loadgen"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/mongo/mongotest"
)

// TestWhileProductsIsDownEveryRequestOfTheMixedLoadIsAnsweredOrGetsA503
// runs the platform in split mode, as the fault suite's kill rows do
// (issue 14), kills the products process and sends each kind of request
// of the fault suite's mixed load and ledger once. A client that sent a
// valid request must never get a 4xx for our outage: each is answered as
// usual by the services that do not need products, or gets a 503 with
// Retry-After, and a request refused changes nothing.
//
// The category listed is one the search service has not yet read in its
// category tree (it reads the tree every SEARCH_CATEGORIES_INTERVAL, and
// at once for a listing naming a category it does not know): the fault
// suite's kill of products came within that interval of the category's
// creation, and such listings got 400 validation_failed.
func TestWhileProductsIsDownEveryRequestOfTheMixedLoadIsAnsweredOrGetsA503(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	vars := testVars(t, map[string]string{"SHUTDOWN_DELAY": "500ms", "SEARCH_CATEGORIES_INTERVAL": "1h",
		"MONGODB_URI": mongotest.URI(t), "MONGODB_DATABASE": mongotest.Name(t)})
	base, procs := startSplit(t, vars)

	// A seller (an admin, for the category) lists and stocks a lamp; a
	// buyer will shop for it.
	e := loadContract(t).edge(strings.TrimPrefix(base, "http://"))
	seller, refresh := e.signUp(t, "outage-seller@example.com")
	e.openShop(t, seller, "Outage Lamps")
	seller.Token = e.refresh(t, refresh)
	if err := run(context.Background(), []string{"grant-role", "--email=outage-seller@example.com", "--role=admin"}, lookup(vars), io.Discard, nil); err != nil {
		t.Fatalf("grant-role: %v", err)
	}
	e.must(t, "putCategory", httpxtest.Caller{Token: e.refreshAgain(t, "outage-seller@example.com")}, "PUT /v1/categories/lamps",
		map[string]any{"name": "Lamps", "facets": []string{"colour"}}, http.StatusCreated)
	lamp := e.listProduct(t, seller, "Outage Lamp", "EUR", "active")
	e.must(t, "putStock", seller, "PUT /v1/stock/"+lamp, map[string]any{"on_hand": 100}, http.StatusOK)
	buyer, _ := e.signUp(t, "outage-buyer@example.com")
	api := httpxtest.Client{BaseURL: base}
	eventually.True(t, "the lamp is listed", func() bool {
		res, err := api.Request(httpxtest.Anonymous, "GET", "/v1/products?q=outage", nil)
		return err == nil && res.Status == http.StatusOK && slices.Contains(itemIDs(t, res), lamp)
	})

	procs["products"].kill()

	unknown := uuid.Must(uuid.NewV7()).String() // a product orders has not heard of
	address := map[string]any{"name": "Out Age", "line1": "Hauptstrasse 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}
	var order struct {
		ID string `json:"id"`
	}
	steps := []struct {
		name   string
		who    httpxtest.Caller
		method string
		path   func() string
		body   any
		want   int // 0: 503 with Retry-After
	}{
		{"the category tree needs products", httpxtest.Anonymous, "GET", fixed("/v1/categories"), nil, 0},
		{"a product page needs products", httpxtest.Anonymous, "GET", fixed("/v1/products/" + lamp), nil, 0},
		{"a listing is the search service's", httpxtest.Anonymous, "GET", fixed("/v1/products?sort=newest"), nil, http.StatusOK},
		{"a search is the search service's", httpxtest.Anonymous, "GET", fixed("/v1/products?q=lamp"), nil, http.StatusOK},
		{"a listing of a category search has not read yet cannot tell whether it exists",
			httpxtest.Anonymous, "GET", fixed("/v1/products?" + url.Values{"category": {"lamps"}, "sort": {"price_asc"}}.Encode()), nil, 0},
		{"a search within that category cannot either",
			httpxtest.Anonymous, "GET", fixed("/v1/products?" + url.Values{"category": {"lamps"}, "q": {"lamp"}, "max_price": {"9000"}}.Encode()), nil, 0},
		{"a product orders knows goes in the cart", buyer, "PUT", fixed("/v1/cart/items/" + lamp), map[string]any{"quantity": 2}, http.StatusOK},
		{"a product orders has not heard of cannot be looked up", buyer, "PUT", fixed("/v1/cart/items/" + unknown), map[string]any{"quantity": 1}, 0},
		{"a cart quantity changes", buyer, "PUT", fixed("/v1/cart/items/" + lamp), map[string]any{"quantity": 1}, http.StatusOK},
		{"removing what is not in the cart is no error", buyer, "DELETE", fixed("/v1/cart/items/" + unknown), nil, http.StatusOK},
		{"the cart is read", buyer, "GET", fixed("/v1/cart"), nil, http.StatusOK},
		{"the cart is checked out", buyer, "POST", fixed("/v1/orders"), map[string]any{"shipping_address": address}, http.StatusCreated},
		{"the order is paid", buyer, "POST", func() string { return "/v1/orders/" + order.ID + "/payment" },
			map[string]any{"payment_method": "pm_card_visa"}, http.StatusOK},
		{"a listing needs products", seller, "POST", fixed("/v1/products"), map[string]any{"title": "Outage Lamp 2", "category": "lamps",
			"price": map[string]any{"amount": 1500, "currency": "EUR"}, "status": "active"}, 0},
		{"a buyer signs in", httpxtest.Anonymous, "POST", fixed("/v1/auth/login"),
			map[string]any{"email": "outage-buyer@example.com", "password": contractPassword}, http.StatusOK},
	}
	for _, s := range steps {
		res := api.Do(t, s.who, s.method, s.path(), s.body, "Idempotency-Key", uuid.NewString())
		switch {
		case s.want == 0 && (res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == ""):
			t.Errorf("%s: %s %s got %d (Retry-After %q), want 503 with Retry-After: %s",
				s.name, s.method, s.path(), res.Status, res.Header.Get("Retry-After"), res.Body)
		case s.want != 0 && res.Status != s.want && !(s.want == http.StatusOK && res.Status < 300):
			t.Errorf("%s: %s %s got %d, want %d: %s", s.name, s.method, s.path(), res.Status, s.want, res.Body)
		}
		if s.method == "POST" && s.path() == "/v1/orders" && res.Status == http.StatusCreated {
			res.Decode(t, &order)
		}
	}
	// Nothing half-written: the product that could not be looked up is in
	// no cart, and orders did not keep it.
	var cart struct {
		Lines []struct {
			Product struct {
				ID string `json:"id"`
			} `json:"product"`
		} `json:"lines"`
	}
	api.Do(t, buyer, "PUT", "/v1/cart/items/"+lamp, map[string]any{"quantity": 1}).Want(t, http.StatusOK)
	api.Do(t, buyer, "GET", "/v1/cart", nil).Want(t, http.StatusOK).Decode(t, &cart)
	if len(cart.Lines) != 1 || cart.Lines[0].Product.ID != lamp {
		t.Errorf("after the refused additions the cart holds %+v, want the lamp alone", cart.Lines)
	}

	// Once products is back, the category is found and the unknown
	// product is told apart from an outage.
	procs["products"] = startProcess(t, "products-restarted", "products", vars)
	eventually.True(t, "the category listing answers 200 again", func() bool {
		res, err := api.Request(httpxtest.Anonymous, "GET", "/v1/products?category=lamps", nil)
		return err == nil && res.Status == http.StatusOK && slices.Contains(itemIDs(t, res), lamp)
	}, eventually.Within(time.Minute))
	eventually.True(t, "a product nobody listed is not found", func() bool {
		res, err := api.Request(buyer, "PUT", "/v1/cart/items/"+unknown, map[string]any{"quantity": 1})
		return err == nil && res.Status == http.StatusNotFound
	}, eventually.Within(time.Minute))
}

func fixed(path string) func() string { return func() string { return path } }

// itemIDs are the ids of a listing's items.
func itemIDs(t *testing.T, res httpxtest.Response) []string {
	t.Helper()
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	res.Decode(t, &page)
	var ids []string
	for _, p := range page.Items {
		ids = append(ids, p.ID)
	}
	return ids
}

// TestTheFaultSuiteNamesEachAnswerOf4xxByRouteAndProblemCode: the fault
// suite once counted six 400s of the mixed load without saying which
// requests got them (issue 14).
func TestTheFaultSuiteNamesEachAnswerOf4xxByRouteAndProblemCode(t *testing.T) {
	during := &loadgen.Stats{Ops: map[loadgen.OpKey]*loadgen.Counts{
		{Scenario: "search", Op: "search-filtered"}: {Statuses: map[int]int{200: 3, 400: 2},
			Problems: map[loadgen.Problem]int{{Status: 400, Code: "validation_failed"}: 2}},
		{Scenario: "browse", Op: "product"}: {Statuses: map[int]int{200: 5, 503: 1},
			Problems: map[loadgen.Problem]int{{Status: 503, Code: "dependency_unavailable"}: 1}},
	}}
	after := &loadgen.Stats{Ops: map[loadgen.OpKey]*loadgen.Counts{
		{Scenario: "search", Op: "search-filtered"}: {Statuses: map[int]int{400: 1},
			Problems: map[loadgen.Problem]int{{Status: 400, Code: "validation_failed"}: 1}},
	}}
	if got, want := routeStatuses(during),
		"browse/product (200: 5, 503: 1, 503 dependency_unavailable: 1); search/search-filtered (200: 3, 400: 2, 400 validation_failed: 2)"; got != want {
		t.Errorf("statuses by route:\n got %s\nwant %s", got, want)
	}
	n, names := clientErrors([]*loadgen.Stats{during, after})
	if n != 3 || names != "search/search-filtered 400 validation_failed: 3" {
		t.Errorf("4xx: %d, %q", n, names)
	}
	if n, names := clientErrors([]*loadgen.Stats{{Ops: map[loadgen.OpKey]*loadgen.Counts{}}}); n != 0 || names != "none" {
		t.Errorf("no 4xx: %d, %q", n, names)
	}
}

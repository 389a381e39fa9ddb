package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// TestE2EJourneyInOneProcess runs the whole marketplace in one process
// (target all) and drives a seller and two buyers through it, over the
// gateway only.
func TestE2EJourneyInOneProcess(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	getenv := testEnv(t, nil)
	// Only admins write categories, and no admin can be made through the
	// API: the demo seed loads the category tree, with a few products of
	// another seller that the journey's searches must leave out.
	if err := run(context.Background(), []string{"seed", "--products=12", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	journey(t, "http://"+addrs["gateway"], nil)
}

// journey is a seller's and two buyers' day on the platform, through the
// gateway at the base URL gateway and nothing else. It needs the demo
// category tree (clothing > shirts, electronics > lamps) and makes its own
// accounts and products, named after a fresh tag, so it can run again
// against the same platform, in one process or split. listed, if not nil,
// runs once the seller's products are listed and published: from then on
// the journey only reads the catalog.
func journey(t *testing.T, gateway string, listed func(*testing.T)) {
	j := &e2eJourney{
		api:      httpxtest.Client{BaseURL: gateway},
		tag:      "e2e" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12],
		products: map[string]e2eProduct{},
	}
	steps := []struct {
		name string
		run  func(*testing.T)
		// needed: later steps use what this one makes, so the journey
		// stops when it fails.
		needed bool
		// listed: the catalog is complete after this step; the rest only
		// read it.
		listed bool
	}{
		{"a seller and two buyers sign up and the seller opens a shop", j.signUp, true, false},
		{"the seller lists products with attributes, stocks and publishes them", j.listProducts, true, true},
		{"buyers find products by words, category, attributes and price", j.search, false, false},
		{"buyer A fills the cart, checks out and pays", j.buyAndPay, true, false},
		{"a declined payment leaves the stock as it was", j.declinedPayment, false, false},
		{"the seller ships and delivers its sub-order", j.fulfil, true, false},
		{"buyer A sees the status history of the order", j.history, false, false},
		{"buyer B can neither read nor list buyer A's order", j.privacy, false, false},
		{"a replayed refresh token revokes the whole session", j.refreshReuse, false, false},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) && s.needed {
			t.Fatalf("stopping: the later steps need what %q makes", s.name)
		}
		if s.listed && listed != nil {
			listed(t)
		}
	}
}

// e2ePassword is every journey account's password.
const e2ePassword = "plum-kettle-orbit-42"

// e2eJourney is what the steps of the journey hand on to one another.
type e2eJourney struct {
	api httpxtest.Client
	// tag is one word unique to this run, in every email, shop name and
	// product title, so that searches can tell this run's products apart.
	tag                    string
	seller, buyerA, buyerB e2eAccount
	products               map[string]e2eProduct // by e2eListings key
	orderA                 e2eOrder              // buyer A's paid order
	ordersB                []string              // ids of buyer B's orders
}

// e2eAccount is a signed-in user: id and access token, and the refresh
// token of the session.
type e2eAccount struct {
	httpxtest.Caller
	email, refresh string
}

type e2eTokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
}

type e2eUser struct {
	ID       string   `json:"id"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	ShopName *string  `json:"shop_name"`
}

type e2eMoney struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

func e2eEUR(amount int64) e2eMoney { return e2eMoney{amount, "EUR"} }

type e2eProduct struct {
	ID         string         `json:"id"`
	SellerID   string         `json:"seller_id"`
	Title      string         `json:"title"`
	Category   string         `json:"category"`
	Price      e2eMoney       `json:"price"`
	Attributes map[string]any `json:"attributes"`
	Status     string         `json:"status"`
	Version    int64          `json:"version"`
}

type e2eFacet struct {
	Value any `json:"value"`
	Count int `json:"count"`
}

type e2eProductPage struct {
	Items  []e2eProduct `json:"items"`
	Facets struct {
		Attributes map[string][]e2eFacet `json:"attributes"`
		Prices     []struct {
			Min   int64 `json:"min"`
			Count int   `json:"count"`
		} `json:"prices"`
	} `json:"facets"`
}

type e2eStock struct {
	ProductID string `json:"product_id"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

type e2eCart struct {
	Lines []struct {
		Product   e2eProduct `json:"product"`
		Quantity  int        `json:"quantity"`
		Available int64      `json:"available"`
		Subtotal  e2eMoney   `json:"subtotal"`
	} `json:"lines"`
	Totals []e2eMoney `json:"totals"`
}

type e2eChange struct {
	SubOrderID string `json:"sub_order_id"`
	From       string `json:"from"`
	To         string `json:"to"`
	Actor      string `json:"actor"`
	Reason     string `json:"reason"`
	At         string `json:"at"`
}

type e2eLine struct {
	ProductID string   `json:"product_id"`
	Title     string   `json:"title"`
	UnitPrice e2eMoney `json:"unit_price"`
	Quantity  int      `json:"quantity"`
}

type e2eSubOrder struct {
	ID             string      `json:"id"`
	OrderID        string      `json:"order_id"`
	SellerID       string      `json:"seller_id"`
	Status         string      `json:"status"`
	Subtotal       e2eMoney    `json:"subtotal"`
	TrackingNumber string      `json:"tracking_number"`
	Lines          []e2eLine   `json:"lines"`
	History        []e2eChange `json:"history"`
}

type e2eOrder struct {
	ID        string        `json:"id"`
	BuyerID   string        `json:"buyer_id"`
	Status    string        `json:"status"`
	Total     e2eMoney      `json:"total"`
	Version   int64         `json:"version"`
	SubOrders []e2eSubOrder `json:"sub_orders"`
	History   []e2eChange   `json:"history"`
	Payment   *struct {
		Provider      string   `json:"provider"`
		Amount        e2eMoney `json:"amount"`
		Status        string   `json:"status"`
		DeclineReason string   `json:"decline_reason"`
	} `json:"payment"`
}

type e2eOrderPage struct {
	Items []e2eOrder `json:"items"`
}

type e2eSubOrderPage struct {
	Items []e2eSubOrder `json:"items"`
}

// e2eListings are the seller's products. Prices are EUR cents; the
// searches rely on their order: red linen < draft < blue linen < red lamp
// < red flannel.
var e2eListings = []struct {
	key, title, category string
	price                int64
	attributes           map[string]any
	onHand               int64
	publish              bool
}{
	{"red linen", "Red Linen Shirt", "shirts", 2500, map[string]any{"colour": "red", "size": "M", "material": "linen"}, 5, true},
	{"blue linen", "Blue Linen Shirt", "shirts", 2700, map[string]any{"colour": "blue", "size": "M", "material": "linen"}, 3, true},
	{"red flannel", "Red Flannel Shirt", "shirts", 4200, map[string]any{"colour": "red", "size": "L", "material": "flannel"}, 2, true},
	{"red lamp", "Red Desk Lamp", "lamps", 3900, map[string]any{"colour": "red", "wattage": float64(9), "dimmable": true}, 4, true},
	{"draft", "Red Draft Shirt", "shirts", 2600, map[string]any{"colour": "red", "size": "M", "material": "linen"}, 0, false},
}

func (j *e2eJourney) signUp(t *testing.T) {
	j.seller = j.register(t, "Seller", "Seller-"+j.tag+"@Example.com")
	j.buyerA = j.register(t, "Buyer A", "buyer-a-"+j.tag+"@example.com")
	j.buyerB = j.register(t, "Buyer B", "buyer-b-"+j.tag+"@example.com")

	shop := "Shop " + j.tag
	var u e2eUser
	j.api.Do(t, j.seller.Caller, "POST", "/v1/users/me/seller", map[string]any{"shop_name": shop}).
		Want(t, http.StatusCreated).Decode(t, &u)
	if !slices.Contains(u.Roles, "seller") || u.ShopName == nil || *u.ShopName != shop {
		t.Fatalf("after opening a shop the account is %+v", u)
	}
	// The role reaches a token only with the next refresh.
	j.api.Do(t, j.seller.Caller, "POST", "/v1/products", j.listing(0)).WantProblem(t, http.StatusForbidden, "seller_only")
	tok := j.refresh(t, j.seller.refresh)
	j.seller.Token, j.seller.refresh = tok.AccessToken, tok.RefreshToken
}

// register signs a buyer up and in.
func (j *e2eJourney) register(t *testing.T, name, email string) e2eAccount {
	t.Helper()
	var u e2eUser
	res := j.api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/register",
		map[string]any{"email": email, "password": e2ePassword, "display_name": name}).Want(t, http.StatusCreated)
	res.Decode(t, &u)
	if u.ID == "" || u.Email != strings.ToLower(email) || !slices.Equal(u.Roles, []string{"buyer"}) {
		t.Fatalf("registered %+v", u)
	}
	if loc := res.Header.Get("Location"); loc != "/v1/users/me" {
		t.Errorf("Location %q", loc)
	}
	tok := j.signIn(t, email)
	return e2eAccount{Caller: httpxtest.Caller{ID: u.ID, Token: tok.AccessToken}, email: u.Email, refresh: tok.RefreshToken}
}

func (j *e2eJourney) signIn(t *testing.T, email string) e2eTokens {
	t.Helper()
	var tok e2eTokens
	j.api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/login", map[string]any{"email": email, "password": e2ePassword}).
		Want(t, http.StatusOK).Decode(t, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("login gave %+v", tok)
	}
	return tok
}

func (j *e2eJourney) refresh(t *testing.T, refresh string) e2eTokens {
	t.Helper()
	var tok e2eTokens
	j.api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/refresh", map[string]any{"refresh_token": refresh}).
		Want(t, http.StatusOK).Decode(t, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.RefreshToken == refresh {
		t.Fatalf("refresh gave %+v", tok)
	}
	return tok
}

// listing is the creation body of e2eListings[i], as a draft.
func (j *e2eJourney) listing(i int) map[string]any {
	l := e2eListings[i]
	return map[string]any{"title": j.tag + " " + l.title, "description": "Listed by the end-to-end journey.",
		"category": l.category, "price": e2eEUR(l.price), "attributes": l.attributes}
}

func (j *e2eJourney) listProducts(t *testing.T) {
	j.checkCategories(t)
	for i, l := range e2eListings {
		var p e2eProduct
		res := j.api.Do(t, j.seller.Caller, "POST", "/v1/products", j.listing(i)).Want(t, http.StatusCreated)
		res.Decode(t, &p)
		want := e2eProduct{ID: p.ID, SellerID: j.seller.ID, Title: j.tag + " " + l.title, Category: l.category,
			Price: e2eEUR(l.price), Attributes: l.attributes, Status: "draft", Version: 1}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Fatalf("created %s (-want +got):\n%s", l.key, diff)
		}
		if res.Header.Get("ETag") != `"1"` || res.Header.Get("Location") != "/v1/products/"+p.ID {
			t.Errorf("created %s with ETag %q, Location %q", l.key, res.Header.Get("ETag"), res.Header.Get("Location"))
		}
		j.products[l.key] = p
		// A draft is hidden from buyers, in the catalog and in the cart.
		j.api.Do(t, j.buyerA.Caller, "GET", "/v1/products/"+p.ID, nil).WantProblem(t, http.StatusNotFound, "product_not_found")
		if l.onHand > 0 {
			j.setStock(t, l.key, l.onHand)
		}
	}
	j.api.Do(t, j.buyerA.Caller, "PUT", "/v1/stock/"+j.products["red linen"].ID, map[string]any{"on_hand": 100}).
		WantProblem(t, http.StatusForbidden, "seller_only")
	for _, l := range e2eListings {
		if l.publish {
			j.publish(t, l.key)
		}
	}
	j.waitIndexed(t)
}

// waitIndexed waits until the catalog listing, which the search service
// answers from an index fed by the products' events, holds every product
// of the journey at its last version, so that the searches after judge
// what matches, not how soon an event arrives (within a second, as a rule;
// longer on a loaded machine).
func (j *e2eJourney) waitIndexed(t *testing.T) {
	t.Helper()
	want := map[string]int64{}
	for _, p := range j.products {
		want[p.ID] = p.Version
	}
	params := url.Values{"seller": {j.seller.ID}, "limit": {"100"}}
	eventually.NoError(t, "the search index to hold the seller's products at their versions", func() error {
		got := map[string]int64{}
		for _, p := range j.catalogPage(t, j.seller.Caller, params).Items {
			got[p.ID] = p.Version
		}
		if !maps.Equal(want, got) {
			return fmt.Errorf("it holds %v, want %v", got, want)
		}
		return nil
	})
}

// checkCategories finds the categories the seller lists in. Sellers cannot
// make categories: that is for admins.
func (j *e2eJourney) checkCategories(t *testing.T) {
	t.Helper()
	j.api.Do(t, j.seller.Caller, "PUT", "/v1/categories/"+j.tag, map[string]any{"name": "Journey", "facets": []string{"colour"}}).
		WantProblem(t, http.StatusForbidden, "admin_only")
	var list struct {
		Categories []struct {
			ID     string   `json:"id"`
			Parent string   `json:"parent"`
			Facets []string `json:"facets"`
		} `json:"categories"`
	}
	j.api.Do(t, httpxtest.Anonymous, "GET", "/v1/categories", nil).Want(t, http.StatusOK).Decode(t, &list)
	parents := map[string]string{}
	for _, c := range list.Categories {
		parents[c.ID] = c.Parent
	}
	if parents["shirts"] != "clothing" || parents["lamps"] != "electronics" {
		t.Fatalf("the journey needs the demo category tree (seed the platform); categories are %+v", list.Categories)
	}
	if _, ok := parents[j.tag]; ok {
		t.Errorf("a seller's category %s was created", j.tag)
	}
}

// setStock stocks a product, a draft as yet. The orders service knows a
// draft only from its product.created event (its fallback read of the
// catalog is anonymous, and drafts are hidden): until the event arrives
// the answer is 404.
func (j *e2eJourney) setStock(t *testing.T, key string, onHand int64) {
	t.Helper()
	var s e2eStock
	id := j.products[key].ID
	j.untilKnown(t, key, func() httpxtest.Response {
		return j.api.Do(t, j.seller.Caller, "PUT", "/v1/stock/"+id, map[string]any{"on_hand": onHand})
	}).Decode(t, &s)
	if want := (e2eStock{id, onHand, 0, onHand}); s != want {
		t.Errorf("stock of %s set to %+v, want %+v", key, s, want)
	}
}

// untilKnown makes a call to the orders service about a product until it
// answers 200, for as long as it answers 404 product_not_found because the
// product's last event has not reached it yet.
func (j *e2eJourney) untilKnown(t *testing.T, key string, call func() httpxtest.Response) httpxtest.Response {
	t.Helper()
	res := eventually.Value(t, "the orders service to know "+key, func() (httpxtest.Response, bool) {
		res := call()
		return res, res.Status != http.StatusNotFound || res.Problem() != "product_not_found"
	})
	return res.Want(t, http.StatusOK)
}

func (j *e2eJourney) publish(t *testing.T, key string) {
	t.Helper()
	var p e2eProduct
	res := j.api.Do(t, j.seller.Caller, "PATCH", "/v1/products/"+j.products[key].ID, map[string]any{"status": "active"}, "If-Match", `"1"`).
		Want(t, http.StatusOK)
	res.Decode(t, &p)
	if p.Status != "active" || p.Version != 2 || res.Header.Get("ETag") != `"2"` {
		t.Fatalf("published %s: status %s, version %d, ETag %q", key, p.Status, p.Version, res.Header.Get("ETag"))
	}
	j.products[key] = p
}

func (j *e2eJourney) search(t *testing.T) {
	all := []string{"red linen", "blue linen", "red lamp", "red flannel"}
	// The journey's tag in q keeps other sellers' products out of most
	// searches, so that each finds exactly what its filters allow.
	tagged := func(v url.Values) url.Values { v.Set("q", j.tag); return v }
	tests := []struct {
		name   string
		params url.Values
		want   []string
	}{
		{"a word of the titles finds the active products only", tagged(url.Values{}), all},
		{"every word must be in the title", url.Values{"q": {j.tag + " linen SHIRT"}}, []string{"red linen", "blue linen"}},
		{"a category includes its sub-categories", tagged(url.Values{"category": {"clothing"}}), []string{"red linen", "blue linen", "red flannel"}},
		{"a category leaves out the others", tagged(url.Values{"category": {"lamps"}}), []string{"red lamp"}},
		{"an attribute across categories", tagged(url.Values{"attr.colour": {"red"}}), []string{"red linen", "red lamp", "red flannel"}},
		{"several attributes in a category", tagged(url.Values{"category": {"shirts"}, "attr.colour": {"red"}, "attr.size": {"M"}}), []string{"red linen"}},
		{"a price range, inclusive", tagged(url.Values{"min_price": {"2700"}, "max_price": {"3900"}}), []string{"blue linen", "red lamp"}},
		{"a number range and a boolean", tagged(url.Values{"attr.wattage.max": {"10"}, "attr.dimmable": {"true"}}), []string{"red lamp"}},
		{"a value no product has", tagged(url.Values{"attr.colour": {"green"}}), nil},
		{"a seller's shop", url.Values{"seller": {j.seller.ID}}, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.params.Set("sort", "price_asc")
			page := j.catalogPage(t, j.buyerB.Caller, tt.params)
			if diff := cmp.Diff(tt.want, j.keys(page.Items)); diff != "" {
				t.Errorf("?%s found (-want +got):\n%s", tt.params.Encode(), diff)
			}
		})
	}
	t.Run("the seller also sees its draft in its own listing", func(t *testing.T) {
		page := j.catalogPage(t, j.seller.Caller, url.Values{"seller": {j.seller.ID}, "sort": {"price_asc"}})
		want := []string{"red linen", "draft", "blue linen", "red lamp", "red flannel"}
		if diff := cmp.Diff(want, j.keys(page.Items)); diff != "" {
			t.Errorf("the seller's own listing (-want +got):\n%s", diff)
		}
	})
	t.Run("facets count the values of the whole result", func(t *testing.T) {
		page := j.catalogPage(t, httpxtest.Anonymous, url.Values{"q": {j.tag}, "category": {"shirts"}})
		want := map[string][]e2eFacet{
			"colour":   {{"red", 2}, {"blue", 1}},
			"size":     {{"M", 2}, {"L", 1}},
			"material": {{"linen", 2}, {"flannel", 1}},
		}
		if diff := cmp.Diff(want, page.Facets.Attributes); diff != "" {
			t.Errorf("attribute facets (-want +got):\n%s", diff)
		}
		counts := map[int64]int{}
		for _, b := range page.Facets.Prices {
			counts[b.Min] = b.Count
		}
		if len(page.Facets.Prices) != 7 || counts[2500] != 3 {
			t.Errorf("price buckets %+v, want 7 with 3 products from 2500", page.Facets.Prices)
		}
	})
	t.Run("a buyer reads a product with its attributes", func(t *testing.T) {
		var p e2eProduct
		want := j.products["red lamp"]
		res := j.api.Do(t, j.buyerA.Caller, "GET", "/v1/products/"+want.ID, nil).Want(t, http.StatusOK)
		res.Decode(t, &p)
		if diff := cmp.Diff(want, p); diff != "" || res.Header.Get("ETag") != `"2"` {
			t.Errorf("product (-want +got):\n%s; ETag %q", diff, res.Header.Get("ETag"))
		}
	})
	t.Run("an unknown parameter is refused", func(t *testing.T) {
		j.api.Do(t, httpxtest.Anonymous, "GET", "/v1/products?q="+j.tag+"&colour=red", nil).WantProblem(t, http.StatusBadRequest, "validation_failed")
	})
}

// catalogPage reads one page of the catalog listing.
func (j *e2eJourney) catalogPage(t *testing.T, who httpxtest.Caller, params url.Values) e2eProductPage {
	t.Helper()
	var page e2eProductPage
	j.api.Do(t, who, "GET", "/v1/products?"+params.Encode(), nil).Want(t, http.StatusOK).Decode(t, &page)
	return page
}

// keys names products by their e2eListings key, or by title when they are
// not the journey's.
func (j *e2eJourney) keys(ps []e2eProduct) []string {
	var out []string
	for _, p := range ps {
		name := "other: " + p.Title
		for k, mine := range j.products {
			if mine.ID == p.ID {
				name = k
			}
		}
		out = append(out, name)
	}
	return out
}

// putInCart sets a product's quantity in a buyer's cart. The orders
// service learns that a product went on sale from its product.updated
// event, a moment after the catalog: until then the answer is 404.
func (j *e2eJourney) putInCart(t *testing.T, who e2eAccount, key string, quantity int) e2eCart {
	t.Helper()
	var cart e2eCart
	j.untilKnown(t, key, func() httpxtest.Response {
		return j.api.Do(t, who.Caller, "PUT", "/v1/cart/items/"+j.products[key].ID, map[string]any{"quantity": quantity})
	}).Decode(t, &cart)
	return cart
}

func (j *e2eJourney) stock(t *testing.T, key string) e2eStock {
	t.Helper()
	var s e2eStock
	j.api.Do(t, j.seller.Caller, "GET", "/v1/stock/"+j.products[key].ID, nil).Want(t, http.StatusOK).Decode(t, &s)
	return s
}

func (j *e2eJourney) wantStock(t *testing.T, key string, onHand, reserved int64) {
	t.Helper()
	got := j.stock(t, key)
	if want := (e2eStock{j.products[key].ID, onHand, reserved, onHand - reserved}); got != want {
		t.Errorf("stock of %s is %+v, want %+v", key, got, want)
	}
}

func (j *e2eJourney) buyAndPay(t *testing.T) {
	j.putInCart(t, j.buyerA, "red linen", 2)
	cart := j.putInCart(t, j.buyerA, "red lamp", 1)
	if len(cart.Lines) != 2 || cart.Lines[0].Product.ID != j.products["red linen"].ID || cart.Lines[0].Quantity != 2 ||
		cart.Lines[0].Available != 5 || cart.Lines[0].Subtotal != e2eEUR(5000) || cart.Lines[1].Subtotal != e2eEUR(3900) ||
		!slices.Equal(cart.Totals, []e2eMoney{e2eEUR(8900)}) {
		t.Fatalf("cart %+v", cart)
	}

	key := uuid.NewString()
	res := j.api.Do(t, j.buyerA.Caller, "POST", "/v1/orders", orderOf(), "Idempotency-Key", key).Want(t, http.StatusCreated)
	res.Decode(t, &j.orderA)
	o := j.orderA
	if res.Header.Get("Location") != "/v1/orders/"+o.ID {
		t.Errorf("Location %q", res.Header.Get("Location"))
	}
	j.wantOrder(t, o, "pending_payment", e2eEUR(8900), j.buyerA.ID)
	wantLines := []e2eLine{
		{j.products["red linen"].ID, j.products["red linen"].Title, e2eEUR(2500), 2},
		{j.products["red lamp"].ID, j.products["red lamp"].Title, e2eEUR(3900), 1},
	}
	if diff := cmp.Diff(wantLines, o.SubOrders[0].Lines); diff != "" {
		t.Errorf("order lines (-want +got):\n%s", diff)
	}
	var again e2eOrder
	res = j.api.Do(t, j.buyerA.Caller, "POST", "/v1/orders", orderOf(), "Idempotency-Key", key).Want(t, http.StatusCreated)
	res.Decode(t, &again)
	if again.ID != o.ID || res.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a retried checkout made order %s (replayed %q), want %s", again.ID, res.Header.Get("Idempotent-Replayed"), o.ID)
	}
	var empty e2eCart
	j.api.Do(t, j.buyerA.Caller, "GET", "/v1/cart", nil).Want(t, http.StatusOK).Decode(t, &empty)
	if len(empty.Lines) != 0 || len(empty.Totals) != 0 {
		t.Errorf("the cart after checkout is %+v", empty)
	}
	j.wantStock(t, "red linen", 5, 2)

	j.api.Do(t, j.buyerA.Caller, "POST", "/v1/orders/"+o.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"}).
		Want(t, http.StatusOK).Decode(t, &j.orderA)
	j.wantOrder(t, j.orderA, "paid", e2eEUR(8900), j.buyerA.ID)
	if p := j.orderA.Payment; p == nil || p.Status != "succeeded" || p.Amount != e2eEUR(8900) || p.Provider != "simulated" {
		t.Errorf("payment %+v", p)
	}
	j.wantStock(t, "red linen", 3, 0)
	j.wantStock(t, "red lamp", 3, 0)
}

// wantOrder checks an order of the journey's one seller.
func (j *e2eJourney) wantOrder(t *testing.T, o e2eOrder, status string, total e2eMoney, buyer string) {
	t.Helper()
	if o.ID == "" || o.Status != status || o.Total != total || o.BuyerID != buyer {
		t.Fatalf("order %s is %s for %s, total %+v; want %s for %s, total %+v", o.ID, o.Status, o.BuyerID, o.Total, status, buyer, total)
	}
	if len(o.SubOrders) != 1 || o.SubOrders[0].SellerID != j.seller.ID || o.SubOrders[0].Status != status || o.SubOrders[0].Subtotal != total {
		t.Fatalf("sub-orders %+v, want one of the seller's, %s", o.SubOrders, status)
	}
}

func (j *e2eJourney) declinedPayment(t *testing.T) {
	before := []e2eStock{j.stock(t, "blue linen"), j.stock(t, "red flannel")}
	j.putInCart(t, j.buyerB, "blue linen", 1)
	j.putInCart(t, j.buyerB, "red flannel", 2)
	var o e2eOrder
	j.api.Do(t, j.buyerB.Caller, "POST", "/v1/orders", orderOf()).Want(t, http.StatusCreated).Decode(t, &o)
	j.ordersB = append(j.ordersB, o.ID)
	j.wantOrder(t, o, "pending_payment", e2eEUR(2700+2*4200), j.buyerB.ID)
	j.wantStock(t, "red flannel", 2, 2)
	// While B's order holds them, nobody else can have them.
	j.api.Do(t, j.buyerA.Caller, "POST", "/v1/orders", orderOf(orderLine(j.products["red flannel"].ID, 1))).
		WantProblem(t, http.StatusConflict, "insufficient_stock")

	j.api.Do(t, j.buyerB.Caller, "POST", "/v1/orders/"+o.ID+"/payment", map[string]any{"payment_method": "pm_card_declined"}).
		Want(t, http.StatusOK).Decode(t, &o)
	j.wantOrder(t, o, "payment_failed", e2eEUR(2700+2*4200), j.buyerB.ID)
	if p := o.Payment; p == nil || p.Status != "declined" || p.DeclineReason == "" {
		t.Errorf("payment %+v, want declined with a reason", p)
	}
	after := []e2eStock{j.stock(t, "blue linen"), j.stock(t, "red flannel")}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("stock after the decline (-before +after):\n%s", diff)
	}
	j.api.Do(t, j.buyerB.Caller, "POST", "/v1/orders/"+o.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"}).
		WantProblem(t, http.StatusConflict, "illegal_transition")

	// The released units can be bought again.
	j.api.Do(t, j.buyerB.Caller, "POST", "/v1/orders", orderOf(orderLine(j.products["red flannel"].ID, 2))).
		Want(t, http.StatusCreated).Decode(t, &o)
	j.ordersB = append(j.ordersB, o.ID)
	j.api.Do(t, j.buyerB.Caller, "POST", "/v1/orders/"+o.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"}).
		Want(t, http.StatusOK).Decode(t, &o)
	j.wantOrder(t, o, "paid", e2eEUR(2*4200), j.buyerB.ID)
	j.wantStock(t, "red flannel", 0, 0)
}

func (j *e2eJourney) fulfil(t *testing.T) {
	var subs e2eSubOrderPage
	j.api.Do(t, j.seller.Caller, "GET", "/v1/sub-orders", nil).Want(t, http.StatusOK).Decode(t, &subs)
	i := slices.IndexFunc(subs.Items, func(s e2eSubOrder) bool { return s.OrderID == j.orderA.ID })
	if i < 0 || subs.Items[i].Status != "paid" || subs.Items[i].ID != j.orderA.SubOrders[0].ID {
		t.Fatalf("the seller's sub-orders %+v lack buyer A's paid one", subs.Items)
	}
	id := subs.Items[i].ID
	j.api.Do(t, j.buyerA.Caller, "GET", "/v1/sub-orders/"+id, nil).WantProblem(t, http.StatusNotFound, "sub_order_not_found")
	j.api.Do(t, j.buyerA.Caller, "POST", "/v1/sub-orders/"+id+"/ship", map[string]any{"tracking_number": "1Z0"}).
		WantProblem(t, http.StatusNotFound, "sub_order_not_found")
	j.api.Do(t, j.seller.Caller, "POST", "/v1/sub-orders/"+id+"/deliver", nil).WantProblem(t, http.StatusConflict, "illegal_transition")

	var sub e2eSubOrder
	tracking := "1Z" + strings.ToUpper(j.tag)
	j.api.Do(t, j.seller.Caller, "POST", "/v1/sub-orders/"+id+"/ship", map[string]any{"tracking_number": tracking}).
		Want(t, http.StatusOK).Decode(t, &sub)
	if sub.Status != "shipped" || sub.TrackingNumber != tracking {
		t.Fatalf("shipped sub-order %+v", sub)
	}
	j.api.Do(t, j.buyerA.Caller, "POST", "/v1/orders/"+j.orderA.ID+"/cancel", nil).WantProblem(t, http.StatusConflict, "already_shipped")
	var o e2eOrder
	j.api.Do(t, j.buyerA.Caller, "GET", "/v1/orders/"+j.orderA.ID, nil).Want(t, http.StatusOK).Decode(t, &o)
	if o.Status != "paid" || o.SubOrders[0].Status != "shipped" || o.SubOrders[0].TrackingNumber != tracking {
		t.Errorf("while shipped the buyer sees the order %s, its sub-order %+v", o.Status, o.SubOrders[0])
	}

	j.api.Do(t, j.seller.Caller, "POST", "/v1/sub-orders/"+id+"/deliver", nil).Want(t, http.StatusOK).Decode(t, &sub)
	if sub.Status != "delivered" {
		t.Fatalf("delivered sub-order %+v", sub)
	}
	j.api.Do(t, j.seller.Caller, "POST", "/v1/sub-orders/"+id+"/ship", map[string]any{"tracking_number": tracking}).
		WantProblem(t, http.StatusConflict, "illegal_transition")
}

func (j *e2eJourney) history(t *testing.T) {
	var o e2eOrder
	j.api.Do(t, j.buyerA.Caller, "GET", "/v1/orders/"+j.orderA.ID, nil).Want(t, http.StatusOK).Decode(t, &o)
	j.wantOrder(t, o, "delivered", e2eEUR(8900), j.buyerA.ID)
	if o.Version != 5 {
		t.Errorf("version %d after checkout, payment, shipping and delivery; want 5", o.Version)
	}
	sub, seller := o.SubOrders[0].ID, j.seller.ID
	want := []e2eChange{
		{To: "pending_payment", Actor: j.buyerA.ID, Reason: "checkout"},
		{From: "pending_payment", To: "paid", Actor: "system", Reason: "payment succeeded"},
		{SubOrderID: sub, From: "pending_payment", To: "paid", Actor: "system", Reason: "payment succeeded"},
		{SubOrderID: sub, From: "paid", To: "shipped", Actor: seller, Reason: "tracking number 1Z" + strings.ToUpper(j.tag)},
		{SubOrderID: sub, From: "shipped", To: "delivered", Actor: seller},
		{From: "paid", To: "delivered", Actor: "system", Reason: "every sub-order delivered"},
	}
	var last time.Time
	for i, c := range o.History {
		at, err := time.Parse(time.RFC3339Nano, c.At)
		if err != nil || at.Before(last) || at.Location() != time.UTC {
			t.Errorf("history entry %d at %q (%v) is not in order after %v", i, c.At, err, last)
		}
		last, o.History[i].At = at, ""
	}
	if diff := cmp.Diff(want, o.History); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func (j *e2eJourney) privacy(t *testing.T) {
	id := j.orderA.ID
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/orders/" + id, nil},
		{"POST", "/v1/orders/" + id + "/payment", map[string]any{"payment_method": "pm_card_visa"}},
		{"POST", "/v1/orders/" + id + "/cancel", nil},
	} {
		j.api.Do(t, j.buyerB.Caller, c.method, c.path, c.body).WantProblem(t, http.StatusNotFound, "order_not_found")
	}
	// Its seller reads its part as a sub-order, never the order.
	j.api.Do(t, j.seller.Caller, "GET", "/v1/orders/"+id, nil).WantProblem(t, http.StatusNotFound, "order_not_found")

	newestFirst := slices.Clone(j.ordersB)
	slices.Reverse(newestFirst)
	if got := j.orderIDs(t, j.buyerB); slices.Contains(got, id) || !slices.Equal(got, newestFirst) {
		t.Errorf("buyer B lists orders %v, want B's own %v, never A's %s", got, newestFirst, id)
	}
	if got := j.orderIDs(t, j.buyerA); !slices.Equal(got, []string{id}) {
		t.Errorf("buyer A lists orders %v, want [%s]", got, id)
	}
	j.api.Do(t, j.buyerB.Caller, "GET", "/v1/orders?scope=all", nil).WantProblem(t, http.StatusForbidden, "admin_only")
	var subs e2eSubOrderPage
	j.api.Do(t, j.buyerB.Caller, "GET", "/v1/sub-orders", nil).Want(t, http.StatusOK).Decode(t, &subs)
	if len(subs.Items) != 0 {
		t.Errorf("buyer B, who sells nothing, lists sub-orders %+v", subs.Items)
	}
}

// orderIDs lists a buyer's orders, newest first, checking that each is
// theirs.
func (j *e2eJourney) orderIDs(t *testing.T, who e2eAccount) []string {
	t.Helper()
	var page e2eOrderPage
	j.api.Do(t, who.Caller, "GET", "/v1/orders", nil).Want(t, http.StatusOK).Decode(t, &page)
	ids := []string{}
	for _, o := range page.Items {
		if o.BuyerID != who.ID {
			t.Errorf("%s lists order %s of buyer %s", who.email, o.ID, o.BuyerID)
		}
		ids = append(ids, o.ID)
	}
	return ids
}

func (j *e2eJourney) refreshReuse(t *testing.T) {
	stolen := j.buyerA.refresh
	fresh := j.refresh(t, stolen)
	var me e2eUser
	j.api.Do(t, httpxtest.Caller{Token: fresh.AccessToken}, "GET", "/v1/users/me", nil).Want(t, http.StatusOK).Decode(t, &me)
	if me.ID != j.buyerA.ID {
		t.Errorf("the refreshed access token is for %s, want %s", me.ID, j.buyerA.ID)
	}

	// The thief replays the spent token: refused, and the session is over,
	// so the owner's newest refresh token is refused too.
	j.api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/refresh", map[string]any{"refresh_token": stolen}).
		WantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
	j.api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/refresh", map[string]any{"refresh_token": fresh.RefreshToken}).
		WantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")

	// Other sessions live on, and A can sign in again.
	tokB := j.refresh(t, j.buyerB.refresh)
	j.buyerB.Token, j.buyerB.refresh = tokB.AccessToken, tokB.RefreshToken
	again := j.signIn(t, j.buyerA.email)
	j.refresh(t, again.RefreshToken)
}

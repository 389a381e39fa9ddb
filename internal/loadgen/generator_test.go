package loadgen

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func testFixture(t *testing.T, buyers int) *fixture {
	t.Helper()
	f := &fixture{RunID: "run1", Categories: []string{"lamps"}, Seller: &account{access: "seller"}}
	for i := range buyers {
		to := buyerAddress(i)
		f.Buyers = append(f.Buyers, &account{Email: "b@x", access: "buyer" + string(rune('0'+i)), address: to, placeOrder: orderBody(to)})
	}
	f.Own = []product{{ID: "p1", Title: "Brass lamp", Category: "lamps"}}
	f.Catalog = f.Own
	return f
}

// nextOf asks the scenario for a target and returns it with its tag.
func nextOf(t *testing.T, s scenario) (vegeta.Target, tag) {
	t.Helper()
	var tgt vegeta.Target
	s.next(&tgt)
	tg, ok := parseTag(tgt.URL)
	if !ok {
		t.Fatalf("target %s has no tag", tgt.URL)
	}
	return tgt, tg
}

func TestACheckoutJourneyGoesOnFromEachAnswerAndFreesItsBuyer(t *testing.T) {
	f := testFixture(t, 1)
	c := newCheckout(newReq("http://gw", 1), f, f.Buyers, &atomic.Uint64{})
	tgt, add := nextOf(t, c)
	if add.Op != opAddToCart || tgt.Method != "PUT" || !strings.Contains(tgt.URL, "/v1/cart/items/p1#") {
		t.Fatalf("first step %s %s", tgt.Method, tgt.URL)
	}
	if _, busy := nextOf(t, c); busy.Op != opViewCart {
		t.Errorf("with its only buyer mid-journey, checkout sent %s, want %s", busy.Op, opViewCart)
	}
	c.observe(add, &vegeta.Result{Code: 200})
	tgt, order := nextOf(t, c)
	if order.Op != opPlaceOrder || order.Flow != add.Flow || tgt.Header.Get("Idempotency-Key") == "" {
		t.Fatalf("second step %+v with headers %v", order, tgt.Header)
	}
	c.observe(order, &vegeta.Result{Code: 201, Body: []byte(`{"id":"o1","status":"pending_payment"}`)})
	tgt, pay := nextOf(t, c)
	if pay.Op != opPay || !strings.Contains(tgt.URL, "/v1/orders/o1/payment#") {
		t.Fatalf("third step %+v at %s", pay, tgt.URL)
	}
	c.observe(pay, &vegeta.Result{Code: 200})
	if _, again := nextOf(t, c); again.Op != opAddToCart || again.Flow == add.Flow {
		t.Errorf("after paying, checkout sent %+v, want a new journey", again)
	}
}

func TestEachBuyerChecksOutToAPlausibleAddressOfItsOwn(t *testing.T) {
	f := testFixture(t, 2)
	c := newCheckout(newReq("http://gw", 1), f, f.Buyers, &atomic.Uint64{})
	country := regexp.MustCompile(`^[A-Z]{2}$`)
	seen := map[string]bool{}
	for range f.Buyers {
		_, add := nextOf(t, c)
		c.observe(add, &vegeta.Result{Code: 200})
		tgt, order := nextOf(t, c)
		if order.Op != opPlaceOrder || tgt.Method != "POST" {
			t.Fatalf("second step %s %+v", tgt.Method, order)
		}
		var body struct {
			ShippingAddress map[string]string `json:"shipping_address"`
		}
		if err := json.Unmarshal(tgt.Body, &body); err != nil {
			t.Fatalf("the order's body %s: %v", tgt.Body, err)
		}
		a := body.ShippingAddress
		for _, field := range []string{"name", "line1", "city", "postal_code"} {
			if strings.TrimSpace(a[field]) == "" {
				t.Errorf("the address %v has no %s", a, field)
			}
		}
		if !country.MatchString(a["country"]) {
			t.Errorf("the address %v has no ISO country code", a)
		}
		seen[string(tgt.Body)] = true
	}
	if len(seen) != len(f.Buyers) {
		t.Errorf("%d buyers checked out to %d addresses, want one each", len(f.Buyers), len(seen))
	}
	for i := range 1000 {
		if a, b := buyerAddress(i), buyerAddress(i+1); a == b {
			t.Fatalf("buyers %d and %d share the address %+v", i+1, i+2, a)
		}
	}
}

func TestAFailedCheckoutStepEndsTheJourney(t *testing.T) {
	f := testFixture(t, 1)
	c := newCheckout(newReq("http://gw", 1), f, f.Buyers, &atomic.Uint64{})
	_, add := nextOf(t, c)
	c.observe(add, &vegeta.Result{Code: 503})
	if _, next := nextOf(t, c); next.Op != opAddToCart || next.Flow == add.Flow {
		t.Errorf("after a failed step checkout sent %+v, want a new journey", next)
	}
}

func TestBrowseReadsTheNextPagesItWasGiven(t *testing.T) {
	b := &browse{req: newReq("http://gw", 1), f: testFixture(t, 1)}
	b.observe(tag{Scenario: Browse, Op: "listing"}, &vegeta.Result{Code: 200, URL: "http://gw/v1/products?category=lamps&sort=title#browse.listing.0",
		Body: []byte(`{"items":[],"next_cursor":"c2"}`)})
	q, ok := b.nextPage()
	if !ok || q != "category=lamps&cursor=c2&sort=title" {
		t.Errorf("next page %q, %v", q, ok)
	}
	if _, ok := b.nextPage(); ok {
		t.Error("a next page was read twice")
	}
}

func TestSavedPlotsArePNGsForRampsAndConstantRuns(t *testing.T) {
	ramp := &Result{Config: Config{Ramp: &Ramp{10, 20, 10}}, Steps: []*Stats{stepOf(t, 10, Browse, 200, 1, 2), stepOf(t, 20, Browse, 200, 3, 4)}}
	constant := &Result{Config: Config{Rate: 2}, Steps: []*Stats{stepOf(t, 2, Checkout, 201, 5, 6)}}
	for name, r := range map[string]*Result{"ramp": ramp, "constant without reads": constant} {
		path := filepath.Join(t.TempDir(), "plot.png")
		if err := writePlot(path, r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f.Close()
	}
}

func TestTheDetailScenarioReadsOnlyProductPagesAndCountsAsARead(t *testing.T) {
	f := testFixture(t, 1)
	d := &detail{req: newReq("http://gw", 1), f: f}
	for range 5 {
		tgt, tg := nextOf(t, d)
		if tgt.Method != "GET" || !strings.Contains(tgt.URL, "/v1/products/p1#") || tg.Scenario != Detail {
			t.Fatalf("detail sent %s %s tagged %+v", tgt.Method, tgt.URL, tg)
		}
	}
	if !IsRead(Detail) {
		t.Error("detail reads are not held to the read SLO")
	}
}

func TestABuyPlacesOneOrderOfItsItemWithAKeyOfItsOwnAndNoCart(t *testing.T) {
	f := testFixture(t, 2)
	b := &buy{req: newReq("http://gw", 1), f: f}
	keys := map[string]bool{}
	for range 20 {
		tgt, tg := nextOf(t, b)
		if tg.Scenario != Buy || tg.Op != opPlaceOrder || tgt.Method != "POST" || !strings.HasPrefix(tgt.URL, "http://gw/v1/orders#") {
			t.Fatalf("buy sent %s %s %+v, want POST /v1/orders", tgt.Method, tgt.URL, tg)
		}
		var body struct {
			Items           []orderItem `json:"items"`
			ShippingAddress address     `json:"shipping_address"`
		}
		if err := json.Unmarshal(tgt.Body, &body); err != nil {
			t.Fatalf("the order's body %s: %v", tgt.Body, err)
		}
		if len(body.Items) != 1 || body.Items[0] != (orderItem{ProductID: "p1", Quantity: 1}) || body.ShippingAddress.Country == "" {
			t.Errorf("the order's body %s, want one unit of p1 to a buyer's address", tgt.Body)
		}
		key := tgt.Header.Get("Idempotency-Key")
		if key == "" || keys[key] {
			t.Errorf("Idempotency-Key %q: empty or sent twice", key)
		}
		keys[key] = true
	}
}

func TestAMixThatNeitherCartsNorBuysRunsWithoutASellerOrProductsOfItsOwn(t *testing.T) {
	f := testFixture(t, 2)
	f.Seller, f.Own = nil, nil
	mix, err := ParseMix("browse=1,search=1,detail=1,login=1")
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGenerator("http://gw", f, mix, 1)
	if err != nil {
		t.Fatal(err)
	}
	next := g.targeter()
	for range 200 {
		var tgt vegeta.Target
		if err := next(&tgt); err != nil {
			t.Fatalf("the targeter failed: %v", err)
		}
	}
}

func TestOnlyAMixThatPicksFromTheCatalogNeedsProductsInIt(t *testing.T) {
	tests := []struct {
		mix     string
		wantErr bool
	}{
		{"login=1", false},
		{"browse=1", true},
		{"search=1", true},
		{"detail=1", true},
		{"login=1,detail=1", true},
	}
	for _, tt := range tests {
		f := testFixture(t, 2)
		f.Seller, f.Own, f.Catalog = nil, nil, nil
		mix, err := ParseMix(tt.mix)
		if err != nil {
			t.Fatal(err)
		}
		_, err = newGenerator("http://gw", f, mix, 1)
		if gotErr := err != nil; gotErr != tt.wantErr {
			t.Errorf("mix %s on an empty catalog: error %v; want an error: %v", tt.mix, err, tt.wantErr)
		}
	}
}

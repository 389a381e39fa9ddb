package storefront

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	moneyfmt "github.com/marketplace-go/marketplace/internal/platform/money"
)

// samplePages are data for every page template, as the handlers make
// them, so that a template that does not fit its data fails here rather
// than in front of a person.
func samplePages() map[string]page {
	eur := money{Amount: 1250, Currency: "EUR"}
	shop := "Lamplighters"
	p := sellerProduct{product: product{ID: "p1", Title: "Brass Lamp", Category: "lamps", Price: eur, Status: "draft",
		Attributes: map[string]any{"colour": "gold", "wattage": 9}}, Version: 3}
	cats := []category{{ID: "lighting", Name: "Lighting", Facets: []string{"brand"}}, {ID: "lamps", Name: "Lamps", Parent: "lighting", Facets: []string{"colour"}}}
	edit := editForm(p, cats)
	edit.Stock = &stock{OnHand: 5, Reserved: 1, Available: 4}
	conflict := edit
	conflict.Current = &p
	u := me{ID: "u1", Email: "a@example.com", DisplayName: "Ada", Roles: []string{"buyer", "seller"}, ShopName: &shop,
		ShippingAddress: &address{Name: "Ada", Line1: "1 Road", City: "Berlin", PostalCode: "10115", Country: "DE"}, CreatedAt: time.Now()}
	var o order
	if err := jsonInto(`{"id":"o1","status":"paid","total":{"amount":1250,"currency":"EUR"},"created_at":"2026-01-01T00:00:00Z",
		"shipping_address":{"name":"Ada","line1":"1 Road","line2":"Back house","city":"Berlin","region":"BE","postal_code":"10115","country":"DE"},
		"history":[{"to":"pending_payment","at":"2026-01-01T00:00:00Z"},{"to":"paid","at":"2026-01-01T00:01:00Z"}],
		"sub_orders":[{"id":"s1","status":"shipped","tracking_number":"1Z","subtotal":{"amount":1250,"currency":"EUR"},
		"lines":[{"product_id":"p1","title":"Brass Lamp","unit_price":{"amount":1250,"currency":"EUR"},"quantity":1}]}]}`, &o); err != nil {
		panic(err)
	}
	var c cartView
	if err := jsonInto(`{"lines":[{"product":{"id":"p1","title":"Brass Lamp","price":{"amount":1250,"currency":"EUR"}},"quantity":2,"available":1,
		"subtotal":{"amount":2500,"currency":"EUR"}}],"totals":[{"amount":2500,"currency":"EUR"}]}`, &c); err != nil {
		panic(err)
	}
	var so []subOrder
	if err := jsonInto(`[{"id":"s1","order_id":"o1","status":"paid","subtotal":{"amount":1250,"currency":"EUR"},"created_at":"2026-01-01T00:00:00Z",
		"lines":[{"product_id":"p1","title":"Brass Lamp","quantity":1}],
		"shipping_address":{"name":"Ada","line1":"1 Road","city":"Berlin","postal_code":"10115","country":"DE"}},{"id":"s2","status":"shipped","tracking_number":"1Z"}]`, &so); err != nil {
		panic(err)
	}
	return map[string]page{
		"home":   {Title: "title.home", Data: map[string]any{"Categories": tree(cats, ""), "Products": []product{p.product}}},
		"search": {Title: "title.search", Data: map[string]any{"Form": searchForm{Sort: "newest"}, "Sorts": sorts, "Categories": cats, "Products": []product{p.product}, "Facets": []facetGroup{{Name: "colour", Values: []facetOption{{Value: "gold", Count: 1, Checked: true}}}}, "Next": "/search?cursor=x"}},
		"product": {Title: "Brass Lamp", Data: map[string]any{"Product": p.product, "AttributeNames": []string{"colour", "wattage"},
			"Shop": shop, "Stock": &stockView{Available: 3}}},
		"cart": {Title: "title.cart", Data: c},
		"checkout": {Title: "title.checkout", Fields: map[string]string{"country": "field.country"},
			Data: checkoutData{Cart: c, Payment: "pm_card_visa", IdempotencyKey: newKey(), Methods: paymentMethods, Address: *u.ShippingAddress, FromProfile: true}},
		"orders":           {Title: "title.orders", Data: map[string]any{"Orders": []order{o}, "Next": "/orders?cursor=x"}},
		"order":            {Title: "title.order", Notice: "notice.paid", Data: map[string]any{"Order": o, "Timeline": timeline(o)}},
		"login":            {Title: "title.login", Data: form{Next: "/"}},
		"register":         {Title: "title.register", Data: form{Next: "/"}},
		"forgot":           {Title: "title.forgot", Data: form{}},
		"reset":            {Title: "title.reset", Data: form{Token: "t"}},
		"account":          {Title: "title.account", Data: accountData{User: u, Profile: profileOf(u), Language: "de", Currency: "EUR", Languages: languageChoices, Currencies: moneyfmt.Codes()}},
		"error":            {Title: "title.sorry", Error: "err.unavailable"},
		"notfound":         {Title: "title.notfound"},
		"seller-open":      {Title: "title.seller_open", Data: form{}},
		"seller":           {Title: "title.seller", Data: map[string]any{"User": u, "Products": []sellerProduct{p}}},
		"seller-product":   {Title: "title.product_edit", Error: "err.stale_version", Data: conflict},
		"seller-orders":    {Title: "title.seller_orders", Data: map[string]any{"SubOrders": so}},
		"admin-users":      {Title: "title.admin_users", Data: map[string]any{"Users": []me{u}, "Email": "a@"}},
		"admin-user":       {Title: "title.admin_user", Data: map[string]any{"User": u, "Roles": roleNames, "Self": false}},
		"admin-categories": {Title: "title.admin_categories", Data: map[string]any{"Tree": tree(cats, ""), "Categories": cats, "Form": categoryForm{ID: "lamps"}}},
	}
}

func TestEveryPageRendersInEveryLanguage(t *testing.T) {
	h := newTestHandler(t)
	samples := samplePages()
	for name := range h.pages["en"] {
		if _, ok := samples[name]; !ok && name != "suggest" {
			t.Errorf("no sample data for the page %s", name)
		}
	}
	for _, lang := range languages {
		for name, p := range samples {
			t.Run(lang+" "+name, func(t *testing.T) {
				p.Lang = lang
				var buf bytes.Buffer
				if err := h.pages[lang][name].ExecuteTemplate(&buf, "layout", p); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(buf.String(), `<html lang="`+lang+`">`) {
					t.Errorf("the page does not say its language")
				}
			})
		}
	}
	var de bytes.Buffer
	_ = h.pages["de"]["cart"].ExecuteTemplate(&de, "layout", samples["cart"])
	if !strings.Contains(de.String(), "25,00\u00a0€") || !strings.Contains(de.String(), "Warenkorb") {
		t.Errorf("the German cart is not in German: %s", de.String())
	}
}

func newTestHandler(t *testing.T) *Handler {
	t.Helper()
	h, err := New(Config{APIURL: "http://127.0.0.1:1", CookieKeys: [][]byte{make([]byte, 32)}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func jsonInto(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// pageBudget is the most a page may weigh: its HTML with the style
// sheet and the scripts it loads (images aside).
const pageBudget = 150 << 10

// TestNoPageWeighsMoreThanItsBudget adds each page's HTML to the
// static files every page loads. The browser journey measures the pages
// of the running platform the same way.
func TestNoPageWeighsMoreThanItsBudget(t *testing.T) {
	h := newTestHandler(t)
	assets := 0
	for _, f := range []string{"static/site.css", "static/htmx-2.0.11.min.js"} {
		b, err := staticFiles.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		assets += len(b)
	}
	for name, p := range samplePages() {
		for _, lang := range languages {
			p.Lang = lang
			var buf bytes.Buffer
			if err := h.pages[lang][name].ExecuteTemplate(&buf, "layout", p); err != nil {
				t.Fatal(err)
			}
			if total := buf.Len() + assets; total > pageBudget {
				t.Errorf("%s (%s) weighs %d bytes, over %d", name, lang, total, pageBudget)
			}
		}
	}
	t.Logf("the static files every page loads: %d bytes of %d", assets, pageBudget)
}

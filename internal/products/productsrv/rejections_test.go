package productsrv_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// badWrite is a refused request body and the problem it must get.
type badWrite struct {
	name        string
	body        string
	contentType string // "" sends application/json
	status      int
	code        string
	field       string // a field the problem's errors must name
}

// invalid is a badWrite refused as validation_failed naming field.
func invalid(name, field string, body string) badWrite {
	return badWrite{name: name, body: body, status: http.StatusBadRequest, code: "validation_failed", field: field}
}

// bodyWith is the JSON of a valid product in category with change applied
// (a nil value removes a field, json.RawMessage("null") sends null).
func bodyWith(category string, change map[string]any) string {
	b, err := json.Marshal(productOf(category, change))
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (tt badWrite) check(t *testing.T, r response) {
	t.Helper()
	r.wantProblem(t, tt.status, tt.code)
	if tt.field == "" {
		return
	}
	if fields := r.problemFields(t); fields[tt.field] == "" {
		t.Errorf("errors %v do not name %q", fields, tt.field)
	}
}

func price(amount any, currency string) map[string]any {
	return map[string]any{"amount": amount, "currency": currency}
}

// manyAttributes returns n attributes a0..a{n-1} with values of the given
// length.
func manyAttributes(n, valueLen int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("a%d", i)] = strings.Repeat("v", valueLen)
	}
	return m
}

// badFields are invalid values of the fields a create and a patch share.
func badFields(cat string) []badWrite {
	with := func(change map[string]any) string { return bodyWith(cat, change) }
	return []badWrite{
		invalid("seller_id in the body", "seller_id", with(map[string]any{"seller_id": "someone-else"})),
		invalid("an id in the body", "id", with(map[string]any{"id": "0190a000-0000-7000-8000-000000000000"})),
		invalid("a version in the body", "version", with(map[string]any{"version": 99})),
		invalid("a created_at in the body", "created_at", with(map[string]any{"created_at": "2020-01-01T00:00:00Z"})),
		invalid("an unknown field", "colour", with(map[string]any{"colour": "red"})),
		invalid("a title that is a number", "title", with(map[string]any{"title": 5})),
		invalid("a price that is a string", "price", with(map[string]any{"price": "19.99"})),
		invalid("an amount that is a string", "price.amount", with(map[string]any{"price": price("1999", "EUR")})),
		invalid("an amount with cents after a point", "price.amount", with(map[string]any{"price": price(19.99, "EUR")})),
		invalid("attributes that are a list", "attributes", with(map[string]any{"attributes": []string{"red"}})),
		invalid("images that are a string", "images", with(map[string]any{"images": "https://img.example.com/a.jpg"})),
		invalid("a status that is a boolean", "status", with(map[string]any{"status": true})),
		invalid("a negative price", "price.amount", with(map[string]any{"price": price(-1, "EUR")})),
		invalid("a price above the maximum", "price.amount", with(map[string]any{"price": price(100_000_000_001, "EUR")})),
		invalid("a lower-case currency", "price.currency", with(map[string]any{"price": price(100, "eur")})),
		invalid("a four-letter currency", "price.currency", with(map[string]any{"price": price(100, "EURO")})),
		invalid("a price without a currency", "price.currency", with(map[string]any{"price": map[string]any{"amount": 100}})),
		invalid("a blank title", "title", with(map[string]any{"title": "   "})),
		invalid("a title of 201 characters", "title", with(map[string]any{"title": strings.Repeat("é", 201)})),
		invalid("a title with a control character", "title", with(map[string]any{"title": "Lamp\x00"})),
		invalid("a description of 5001 characters", "description", with(map[string]any{"description": strings.Repeat("d", 5001)})),
		invalid("31 attributes", "attributes", with(map[string]any{"attributes": manyAttributes(31, 1)})),
		invalid("attributes over 4 KiB", "attributes", with(map[string]any{"attributes": manyAttributes(25, 180)})),
		invalid("an object as an attribute value", "attributes.size", with(map[string]any{"attributes": map[string]any{"size": map[string]any{"w": 1}}})),
		invalid("a list as an attribute value", "attributes.size", with(map[string]any{"attributes": map[string]any{"size": []int{1, 2}}})),
		invalid("null as an attribute value", "attributes.size", with(map[string]any{"attributes": map[string]any{"size": nil}})),
		invalid("an empty attribute string", "attributes.size", with(map[string]any{"attributes": map[string]any{"size": ""}})),
		invalid("an attribute string of 201 characters", "attributes.size", with(map[string]any{"attributes": map[string]any{"size": strings.Repeat("s", 201)}})),
		invalid("an upper-case attribute name", "attributes.Colour", with(map[string]any{"attributes": map[string]any{"Colour": "red"}})),
		invalid("an attribute name starting with a digit", "attributes.1st", with(map[string]any{"attributes": map[string]any{"1st": "x"}})),
		invalid("an attribute name with a dash", "attributes.a-b", with(map[string]any{"attributes": map[string]any{"a-b": "x"}})),
		invalid("an attribute name of 41 characters", "attributes."+strings.Repeat("a", 41), with(map[string]any{"attributes": map[string]any{strings.Repeat("a", 41): "x"}})),
		invalid("an attribute name that is a query operator", "attributes.$where", with(map[string]any{"attributes": map[string]any{"$where": "x"}})),
		invalid("an attribute name with a dot", "attributes.a.b", with(map[string]any{"attributes": map[string]any{"a.b": "x"}})),
		invalid("an ftp image URL", "images[0]", with(map[string]any{"images": []string{"ftp://img.example.com/a.jpg"}})),
		invalid("a javascript image URL", "images[0]", with(map[string]any{"images": []string{"javascript:alert(1)"}})),
		invalid("a relative image URL", "images[1]", with(map[string]any{"images": []string{"https://img.example.com/a.jpg", "/a.jpg"}})),
		invalid("an image URL with credentials", "images[0]", with(map[string]any{"images": []string{"https://user:pw@img.example.com/a.jpg"}})),
		invalid("an image URL without a host", "images[0]", with(map[string]any{"images": []string{"https://"}})),
		invalid("an empty image URL", "images[0]", with(map[string]any{"images": []string{""}})),
		invalid("eleven images", "images", with(map[string]any{"images": strings.Split(strings.Repeat("https://img.example.com/a.jpg ", 11), " ")[:11]})),
		invalid("an image URL over 2048 bytes", "images[0]", with(map[string]any{"images": []string{"https://img.example.com/" + strings.Repeat("a", 2048)}})),
		invalid("an unknown category", "category", with(map[string]any{"category": "no-such-category"})),
		invalid("a category that is not an id", "category", with(map[string]any{"category": "Bad Category"})),
		invalid("the archived status", "status", with(map[string]any{"status": "archived"})),
		invalid("an unknown status", "status", with(map[string]any{"status": "deleted"})),
		{name: "JSON cut short", body: `{"title":`, status: http.StatusBadRequest, code: "malformed_json"},
		{name: "an empty body", body: "", status: http.StatusBadRequest, code: "malformed_json"},
		{name: "two JSON objects", body: with(nil) + with(nil), status: http.StatusBadRequest, code: "malformed_json"},
		{name: "a JSON array", body: "[]", status: http.StatusBadRequest, code: "validation_failed"},
		{name: "a body over 64 KiB", body: with(map[string]any{"description": strings.Repeat("d", 70_000)}), status: http.StatusRequestEntityTooLarge, code: "body_too_large"},
		{name: "a text/plain body", body: with(nil), contentType: "text/plain", status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
	}
}

func testBadProductsAreRefusedAndNothingIsStored(t *testing.T, e *testEnv) {
	e.mustCategory(t, "rejects", "")
	seller := e.seller(t)
	tests := append(badFields("rejects"),
		invalid("no price", "price", bodyWith("rejects", map[string]any{"price": nil})),
		invalid("a null price", "price", bodyWith("rejects", map[string]any{"price": json.RawMessage("null")})),
		invalid("no title", "title", bodyWith("rejects", map[string]any{"title": nil})),
		invalid("no category", "category", bodyWith("rejects", map[string]any{"category": nil})),
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, e.do(t, seller, "POST", "/v1/products", tt.body, "Content-Type", cmpOr(tt.contentType, "application/json")))
		})
	}
	if got := e.storedOf(t, seller); len(got) != 0 {
		t.Errorf("refused creates stored %d products: %v", len(got), titles(got))
	}
}

func testBadPatchesAreRefusedAndChangeNothing(t *testing.T, e *testEnv) {
	e.mustCategory(t, "unpatched", "")
	seller := e.seller(t)
	p := e.mustCreate(t, seller, productOf("unpatched", map[string]any{"attributes": map[string]any{"colour": "red", "watts": 40, "dimmable": true}}))
	for _, tt := range badFields("unpatched") {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, e.do(t, seller, "PATCH", "/v1/products/"+p.ID, tt.body,
				"Content-Type", cmpOr(tt.contentType, "application/json"), "If-Match", `"1"`))
		})
	}
	if diff := cmp.Diff(p, e.mustGet(t, seller, p.ID)); diff != "" {
		t.Errorf("refused patches changed the product (-before +after):\n%s", diff)
	}
}

func testValuesAtTheLimitsAreAccepted(t *testing.T, e *testEnv) {
	e.mustCategory(t, "limits", "")
	seller := e.seller(t)
	images := strings.Split(strings.Repeat("https://img.example.com/a.jpg ", 10), " ")[:10]
	tests := []struct {
		name   string
		change map[string]any
	}{
		{"a title of 200 characters", map[string]any{"title": strings.Repeat("é", 200)}},
		{"a description of 5000 characters", map[string]any{"description": strings.Repeat("d", 5000)}},
		{"a price of zero", map[string]any{"price": price(0, "EUR")}},
		{"the maximum price", map[string]any{"price": price(100_000_000_000, "USD")}},
		{"30 attributes", map[string]any{"attributes": manyAttributes(30, 10)}},
		{"an attribute string of 200 characters", map[string]any{"attributes": map[string]any{"isbn": strings.Repeat("9", 200)}}},
		{"attributes of every type", map[string]any{"attributes": map[string]any{"colour": "red", "watts": 40.5, "dimmable": false, "count": -3}}},
		{"an attribute name of 40 characters", map[string]any{"attributes": map[string]any{strings.Repeat("a", 40): "x"}}},
		{"ten images", map[string]any{"images": images}},
		{"no images, attributes or description", map[string]any{"images": nil, "attributes": nil, "description": nil}},
		{"a draft", map[string]any{"status": "draft"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent := productOf("limits", tt.change)
			p := e.mustCreate(t, seller, sent)
			got := e.mustGet(t, seller, p.ID)
			if diff := cmp.Diff(p, got); diff != "" {
				t.Errorf("read back (-created +read):\n%s", diff)
			}
			want := map[string]any{}
			if a, ok := sent["attributes"].(map[string]any); ok {
				for k, v := range a {
					if n, isInt := v.(int); isInt {
						v = float64(n)
					}
					want[k] = v
				}
			}
			if diff := cmp.Diff(want, got.Attributes); diff != "" {
				t.Errorf("attributes (-sent +stored):\n%s", diff)
			}
		})
	}
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

package productsrv_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	pagekit "github.com/marketplace-go/marketplace/internal/platform/page"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
)

// TestListing runs every listing scenario twice: answered by the in-memory
// index, as in production, and by the store, which answers when the index
// is off and for sellers' own listings. Both must give the same pages.
func TestListing(t *testing.T) {
	t.Parallel()
	for _, index := range []bool{true, false} {
		t.Run(map[bool]string{true: "from the index", false: "from the store"}[index], func(t *testing.T) {
			t.Parallel()
			runScenarios(t, newEnv(t, func(c *productsrv.Config) { c.ListingsIndex = index }),
				scenario{"each filter and sort selects and orders the right products", testEachFilterAndSortSelectsAndOrdersTheRightProducts},
				scenario{"walking every page returns each product once in order", testWalkingEveryPageReturnsEachProductOnceInOrder},
				scenario{"a walk neither skips nor repeats while products are added", testAWalkNeitherSkipsNorRepeatsWhileProductsAreAdded},
				scenario{"bad cursors are refused", testBadCursorsAreRefused},
				scenario{"facet counts match the filtered products", testFacetCountsMatchTheFilteredProducts},
				scenario{"bad query parameters are refused", testBadQueryParametersAreRefused},
			)
		})
	}
}

// listed creates one product per spec for the scenario's catalog.
type listed struct {
	seller caller
	cat    string
	title  string
	price  int64
	attrs  map[string]any
	status string
}

func (e *testEnv) mustListed(t *testing.T, l listed) productBody {
	t.Helper()
	if l.status == "" {
		l.status = "active"
	}
	if l.attrs == nil {
		l.attrs = map[string]any{}
	}
	return e.mustCreate(t, l.seller, productOf(l.cat, map[string]any{
		"title": l.title, "price": map[string]any{"amount": l.price, "currency": "EUR"}, "attributes": l.attrs, "status": l.status,
	}))
}

func testEachFilterAndSortSelectsAndOrdersTheRightProducts(t *testing.T, e *testEnv) {
	e.mustCategory(t, "lighting", "")
	e.mustCategory(t, "desk-lights", "lighting")
	e.mustCategory(t, "reading-lights", "desk-lights")
	e.mustCategory(t, "garden", "")
	s1, s2 := e.seller(t), e.seller(t)

	red := e.mustListed(t, listed{s1, "desk-lights", "Red Desk Lamp", 1500, map[string]any{"colour": "red", "watts": 40, "dimmable": true}, ""})
	blue := e.mustListed(t, listed{s2, "reading-lights", "Blue Desk Lamp", 2500, map[string]any{"colour": "blue", "watts": 60, "dimmable": false}, ""})
	floor := e.mustListed(t, listed{s1, "lighting", "Red Floor Lamp", 9900, map[string]any{"colour": "red", "watts": 100, "dimmable": true}, ""})
	green := e.mustListed(t, listed{s2, "desk-lights", "Green Table Lamp", 500, map[string]any{"colour": "green", "watts": 25.5}, ""})
	shade := e.mustListed(t, listed{s1, "lighting", "Lamp shade, RED", 1200, map[string]any{"colour": "Red", "model": "2024"}, ""})
	e.mustListed(t, listed{s1, "desk-lights", "Red Desk Lamp draft", 1000, map[string]any{"colour": "red", "watts": 40}, "draft"})
	old := e.mustListed(t, listed{s1, "desk-lights", "Red Desk Lamp old", 1000, map[string]any{"colour": "red", "watts": 40}, ""})
	e.mustArchive(t, s1, old.ID, old.Version)
	garden := e.mustListed(t, listed{s1, "garden", "Red Garden Lamp", 1500, map[string]any{"colour": "red", "watts": 40}, ""})

	tests := []struct {
		name  string
		query string
		want  []productBody
	}{
		{"a category lists its own and every sub-category's products, newest first", "category=lighting", []productBody{shade, green, floor, blue, red}},
		{"a sub-category leaves out its parent's products", "category=desk-lights", []productBody{green, blue, red}},
		{"a leaf category lists only its own products", "category=reading-lights", []productBody{blue}},
		{"price bounds are inclusive", "category=lighting&min_price=1200&max_price=2500", []productBody{shade, blue, red}},
		{"a minimum price alone", "category=lighting&min_price=2500", []productBody{floor, blue}},
		{"a maximum price alone", "category=lighting&max_price=1200", []productBody{shade, green}},
		{"a seller's listing shows only that seller's active products", "seller=" + s1.ID, []productBody{garden, shade, floor, red}},
		{"string attributes match exactly", "category=lighting&attr.colour=red", []productBody{floor, red}},
		{"number attributes match by value", "category=lighting&attr.watts=60", []productBody{blue}},
		{"fractional numbers match", "category=lighting&attr.watts=25.5", []productBody{green}},
		{"true matches booleans", "category=lighting&attr.dimmable=true", []productBody{floor, red}},
		{"false matches booleans", "category=lighting&attr.dimmable=false", []productBody{blue}},
		{"a string that looks like a number matches", "category=lighting&attr.model=2024", []productBody{shade}},
		{"number ranges are inclusive", "category=lighting&attr.watts.min=40&attr.watts.max=100", []productBody{floor, blue, red}},
		{"a number minimum alone", "category=lighting&attr.watts.min=50", []productBody{floor, blue}},
		{"a number maximum alone", "category=lighting&attr.watts.max=40", []productBody{green, red}},
		{"equality and a range on one attribute both apply", "category=lighting&attr.watts=40&attr.watts.min=50", []productBody{}},
		{"title words match in any letter case", "category=lighting&q=RED+lamp", []productBody{shade, floor, red}},
		{"every title word must match", "category=lighting&q=desk+lamp", []productBody{blue, red}},
		{"word order and punctuation do not matter", "category=lighting&q=lamp,desk", []productBody{blue, red}},
		{"a word no title has matches nothing", "category=lighting&q=desk+chandelier", []productBody{}},
		{"price ascending", "category=lighting&sort=price_asc", []productBody{green, shade, red, blue, floor}},
		{"price descending", "category=lighting&sort=price_desc", []productBody{floor, blue, red, shade, green}},
		{"title ignores letter case", "category=lighting&sort=title", []productBody{blue, green, shade, red, floor}},
		{"newest is the default order", "category=lighting&sort=newest", []productBody{shade, green, floor, blue, red}},
		{"filters combine", "category=desk-lights&attr.colour=red&max_price=2000&q=lamp&sort=price_asc", []productBody{red}},
		{"seller, attribute and price combine", "category=lighting&seller=" + s1.ID + "&attr.dimmable=true&min_price=2000", []productBody{floor}},
		{"drafts and archived products are not listed", "category=desk-lights&q=red", []productBody{red}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.mustList(t, anonymous, tt.query+"&limit=100")
			if diff := cmp.Diff(titles(tt.want), titles(got.Items)); diff != "" {
				t.Errorf("GET ?%s titles (-want +got):\n%s", tt.query, diff)
			}
			if diff := cmp.Diff(ids(tt.want), ids(got.Items)); diff != "" {
				t.Errorf("GET ?%s ids (-want +got):\n%s", tt.query, diff)
			}
			if got.Next != "" {
				t.Errorf("a complete listing has next_cursor %q", got.Next)
			}
		})
	}
}

// sorts are the orders of a listing.
var sorts = []string{"newest", "price_asc", "price_desc", "title"}

// before reports whether a strictly precedes b in the order: the sort key,
// then the id in the same direction.
func before(order string, a, b productBody) bool {
	switch order {
	case "price_asc":
		return a.Price.Amount < b.Price.Amount || a.Price.Amount == b.Price.Amount && a.ID < b.ID
	case "price_desc":
		return a.Price.Amount > b.Price.Amount || a.Price.Amount == b.Price.Amount && a.ID > b.ID
	case "title":
		x, y := strings.ToLower(a.Title), strings.ToLower(b.Title)
		return x < y || x == y && a.ID < b.ID
	default:
		return a.CreatedAt.After(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID > b.ID
	}
}

func checkOrder(t *testing.T, order string, items []productBody) {
	t.Helper()
	for i := 1; i < len(items); i++ {
		if !before(order, items[i-1], items[i]) {
			t.Errorf("%s: item %d (%s %d %s) is not after item %d (%s %d %s)", order,
				i, items[i].Title, items[i].Price.Amount, items[i].ID, i-1, items[i-1].Title, items[i-1].Price.Amount, items[i-1].ID)
		}
	}
}

func testWalkingEveryPageReturnsEachProductOnceInOrder(t *testing.T, e *testEnv) {
	e.mustCategory(t, "pages", "")
	s := e.seller(t)
	// Ties in every sort key, so pages must break them by id.
	prices := []int64{700, 300, 300, 900, 100, 300, 500, 500, 800, 200}
	names := []string{"Pager b", "PAGER A", "pager a", "Pager c", "Pager A", "pager d", "Pager e", "Pager B", "pager f", "Pager g"}
	for i, price := range prices {
		e.mustListed(t, listed{s, "pages", names[i], price, nil, ""})
	}
	for _, order := range sorts {
		t.Run(order, func(t *testing.T) {
			q := "category=pages&sort=" + order
			all := e.mustList(t, anonymous, q+"&limit=100").Items
			if len(all) != len(prices) {
				t.Fatalf("%d products listed, want %d", len(all), len(prices))
			}
			checkOrder(t, order, all)
			first := e.mustList(t, anonymous, q+"&limit=3")
			if len(first.Items) != 3 || first.Next == "" {
				t.Fatalf("first page: %d items, next %q; want 3 and a cursor", len(first.Items), first.Next)
			}
			pages := 0
			walked := e.walk(t, anonymous, q+"&limit=3", func(int) { pages++ })
			if diff := cmp.Diff(ids(all), ids(walked)); diff != "" {
				t.Errorf("pages of 3 (-one page +walked):\n%s", diff)
			}
			if pages != 3 {
				t.Errorf("followed %d cursors, want 3 (pages of 3, 3, 3, 1)", pages)
			}
			// Nine products in pages of three: the third page is the last
			// and has no cursor, though it is full.
			pages = 0
			nine := e.walk(t, anonymous, q+"&min_price=200&limit=3", func(int) { pages++ })
			if len(nine) != 9 || pages != 2 {
				t.Errorf("walk of 9 gave %d items after %d cursors, want 9 after 2", len(nine), pages)
			}
			checkOrder(t, order, nine)
		})
	}
}

func testAWalkNeitherSkipsNorRepeatsWhileProductsAreAdded(t *testing.T, e *testEnv) {
	e.mustCategory(t, "growing", "")
	s := e.seller(t)
	for i, price := range []int64{500, 100, 900, 500, 300, 700, 100, 800, 500, 200, 600, 400} {
		e.mustListed(t, listed{s, "growing", fmt.Sprintf("Grower %02d", i), price, nil, ""})
	}
	added := 0
	for _, order := range []string{"newest", "price_asc", "price_desc", "title"} {
		t.Run(order, func(t *testing.T) {
			q := "category=growing&sort=" + order
			existing := e.mustList(t, anonymous, q+"&limit=100").Items
			walked := e.walk(t, anonymous, q+"&limit=3", func(page int) {
				if page > 2 {
					return // so that the walk ends
				}
				// Before, at and after every price and title the walk has
				// passed or has yet to reach, and ties with existing ones.
				for _, price := range []int64{50, 500, 1000} {
					added++
					e.mustListed(t, listed{s, "growing", fmt.Sprintf("Grower %02d", added%15), price, nil, ""})
				}
			})
			seen := map[string]int{}
			for _, p := range walked {
				seen[p.ID]++
				if seen[p.ID] == 2 {
					t.Errorf("%s (%s) listed twice", p.ID, p.Title)
				}
			}
			for _, p := range existing {
				if seen[p.ID] == 0 {
					t.Errorf("%s (%s, %d) existed before the walk but was skipped", p.ID, p.Title, p.Price.Amount)
				}
			}
			checkOrder(t, order, walked)
		})
	}
	page := e.mustList(t, anonymous, "category=growing")
	if len(page.Items) != pagekit.DefaultLimit || page.Next == "" {
		t.Errorf("default page: %d items, next %q; want %d and a cursor", len(page.Items), page.Next, pagekit.DefaultLimit)
	}
	e.mustList(t, anonymous, "category=growing&limit=100")
	e.do(t, anonymous, "GET", "/v1/products?category=growing&limit=101", nil).wantProblem(t, http.StatusBadRequest, "validation_failed")
}

// reencode changes a cursor's JSON fields and encodes it again.
func reencode(t *testing.T, cursor string, change map[string]any) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatalf("cursor %q is not base64url: %v", cursor, err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatalf("cursor %s is not JSON: %v", b, err)
	}
	for k, v := range change {
		if v == nil {
			delete(fields, k)
		} else {
			fields[k] = v
		}
	}
	b, _ = json.Marshal(fields)
	return base64.RawURLEncoding.EncodeToString(b)
}

func testBadCursorsAreRefused(t *testing.T, e *testEnv) {
	e.mustCategory(t, "cursors", "")
	e.mustCategory(t, "cursors-other", "")
	s := e.seller(t)
	for i := range 5 {
		e.mustListed(t, listed{s, "cursors", "Cursor " + strconv.Itoa(i), int64(100 * i), nil, ""})
	}
	const q = "category=cursors&sort=price_asc&limit=2"
	cur := e.mustList(t, anonymous, q).Next
	if cur == "" {
		t.Fatal("no cursor on a first page of 2 out of 5")
	}
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		query  string
		cursor string
	}{
		{"garbage", q, "!!not-a-cursor!!"},
		{"base64 that is not JSON", q, raw("not json")},
		{"an empty JSON object", q, raw("{}")},
		{"a JSON array", q, raw("[1,2]")},
		{"a changed filter fingerprint", q, reencode(t, cur, map[string]any{"q": "abc"})},
		{"a changed sort inside the cursor", q, reencode(t, cur, map[string]any{"s": "newest"})},
		{"no product id", q, reencode(t, cur, map[string]any{"i": nil})},
		{"a string key for a price order", q, reencode(t, cur, map[string]any{"k": "100"})},
		{"a fractional price key", q, reencode(t, cur, map[string]any{"k": 100.5})},
		{"an object key", q, reencode(t, cur, map[string]any{"k": map[string]any{"$gt": 0}})},
		{"more than a kilobyte", q, reencode(t, cur, map[string]any{"x": strings.Repeat("x", 1100)})},
		{"a cursor of another sort", "category=cursors&sort=price_desc&limit=2", cur},
		{"a cursor of another category", "category=cursors-other&sort=price_asc&limit=2", cur},
		{"a cursor of another price filter", q + "&min_price=1", cur},
		{"a cursor of another attribute filter", q + "&attr.colour=red", cur},
		{"a cursor of another search", q + "&q=cursor", cur},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(t, anonymous, "GET", "/v1/products?"+tt.query+"&cursor="+url.QueryEscape(tt.cursor), nil).
				wantProblem(t, http.StatusBadRequest, "invalid_cursor")
		})
	}
	t.Run("the same filters in another order and page size accept the cursor", func(t *testing.T) {
		page := e.mustList(t, anonymous, "limit=10&sort=price_asc&category=cursors&cursor="+url.QueryEscape(cur))
		if diff := cmp.Diff([]string{"Cursor 2", "Cursor 3", "Cursor 4"}, titles(page.Items)); diff != "" {
			t.Errorf("after the cursor (-want +got):\n%s", diff)
		}
	})
}

// priceEdges are the lower bounds of the price buckets the API documents.
var priceEdges = []int64{0, 1000, 2500, 5000, 10000, 25000, 50000}

func bucketOf(amount int64) int {
	b := 0
	for i, lo := range priceEdges {
		if amount >= lo {
			b = i
		}
	}
	return b
}

// facetKey names a facet value with its JSON type, so 1 and "1" differ.
func facetKey(v any) string { return fmt.Sprintf("%T:%v", v, v) }

func testFacetCountsMatchTheFilteredProducts(t *testing.T, e *testEnv) {
	e.mustCategory(t, "fx-home", "", "brand")
	e.mustCategory(t, "fx-lamps", "fx-home", "colour", "watts", "dimmable")
	e.mustCategory(t, "fx-rugs", "fx-home", "material")
	s := e.seller(t)
	var made []listed
	add := func(l listed) {
		e.mustListed(t, l)
		made = append(made, l)
	}
	colours := []string{"red", "blue", "red", "green", "red", "blue"}
	prices := []int64{0, 999, 1000, 2499, 2500, 4999, 5000, 9999, 10000, 24999, 25000, 49999, 50000, 1_000_000}
	for i, price := range prices {
		attrs := map[string]any{"colour": colours[i%len(colours)], "watts": float64(20 * (i % 4)), "brand": []string{"Lumen", "Volta"}[i%2]}
		if i%3 == 0 {
			attrs["dimmable"] = i%2 == 0
		}
		if i == 5 {
			delete(attrs, "colour") // missing values are not counted
		}
		add(listed{s, "fx-lamps", fmt.Sprintf("Facet lamp %d", i), price, attrs, ""})
	}
	add(listed{s, "fx-rugs", "Facet rug", 3000, map[string]any{"material": "wool", "brand": "Volta"}, ""})
	add(listed{s, "fx-home", "Facet vase", 1500, map[string]any{"brand": "Lumen", "colour": "red"}, ""})
	e.mustListed(t, listed{s, "fx-lamps", "Facet draft", 1500, map[string]any{"colour": "red", "brand": "Lumen"}, "draft"})

	tests := []struct {
		name   string
		query  string
		cats   []string
		min    int64
		facets []string
	}{
		{"a category counts its own facets and its parent's", "category=fx-lamps", []string{"fx-lamps"}, 0, []string{"brand", "colour", "dimmable", "watts"}},
		{"a parent counts only its own facets, over its sub-categories too", "category=fx-home", []string{"fx-home", "fx-lamps", "fx-rugs"}, 0, []string{"brand"}},
		{"counts cover the filtered products only", "category=fx-lamps&min_price=2500", []string{"fx-lamps"}, 2500, []string{"brand", "colour", "dimmable", "watts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAttrs := map[string]map[string]int64{}
			for _, f := range tt.facets {
				wantAttrs[f] = map[string]int64{}
			}
			wantPrices := make([]int64, len(priceEdges))
			for _, l := range made {
				if !slices.Contains(tt.cats, l.cat) || l.price < tt.min {
					continue
				}
				wantPrices[bucketOf(l.price)]++
				for _, f := range tt.facets {
					if v, ok := l.attrs[f]; ok {
						wantAttrs[f][facetKey(v)]++
					}
				}
			}
			// A small page: facets count the whole result, on every page.
			first := e.mustList(t, anonymous, tt.query+"&limit=2")
			second := e.mustList(t, anonymous, tt.query+"&limit=2&cursor="+url.QueryEscape(first.Next))
			for _, page := range []pageBody{first, second} {
				gotAttrs := map[string]map[string]int64{}
				for name, values := range page.Facets.Attributes {
					gotAttrs[name] = map[string]int64{}
					for i, v := range values {
						gotAttrs[name][facetKey(v.Value)] = v.Count
						if i > 0 && values[i-1].Count < v.Count {
							t.Errorf("facet %s: values are not by count, most first: %v", name, values)
						}
					}
				}
				if diff := cmp.Diff(wantAttrs, gotAttrs); diff != "" {
					t.Errorf("attribute facets (-want +got):\n%s", diff)
				}
				var gotPrices []int64
				for i, b := range page.Facets.Prices {
					gotPrices = append(gotPrices, b.Count)
					wantMax := int64(0)
					if i+1 < len(priceEdges) {
						wantMax = priceEdges[i+1]
					}
					if i >= len(priceEdges) || b.Min != priceEdges[i] || b.Max != wantMax {
						t.Errorf("price bucket %d is [%d, %d), want [%d, %d)", i, b.Min, b.Max, priceEdges[min(i, len(priceEdges)-1)], wantMax)
					}
				}
				if diff := cmp.Diff(wantPrices, gotPrices); diff != "" {
					t.Errorf("price buckets (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func testBadQueryParametersAreRefused(t *testing.T, e *testEnv) {
	tests := []struct {
		name  string
		query string
		field string
	}{
		{"an unknown parameter", "colour=red", "colour"},
		{"a negative minimum price", "min_price=-1", "min_price"},
		{"a price that is not an integer", "max_price=9.99", "max_price"},
		{"a page size of zero", "limit=0", "limit"},
		{"a page size above the cap", "limit=101", "limit"},
		{"a page size that is not a number", "limit=ten", "limit"},
		{"an unknown sort", "sort=bogus", "sort"},
		{"an attribute range that is not a number", "attr.watts.min=abc", "attr.watts.min"},
		{"an attribute range that is infinite", "attr.watts.max=Inf", "attr.watts.max"},
		{"an attribute name that is not one", "attr.Bad-Name=1", "attr.Bad-Name"},
		{"a parameter given twice", "category=a&category=b", "category"},
		{"too many search words", "q=a+b+c+d+e+f+g+h+i+j+k", "q"},
		{"an unknown category", "category=no-such-category", "category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, anonymous, "GET", "/v1/products?"+tt.query, nil)
			r.wantProblem(t, http.StatusBadRequest, "validation_failed")
			if fields := r.problemFields(t); fields[tt.field] == "" {
				t.Errorf("errors %v do not name %q", fields, tt.field)
			}
		})
	}
}

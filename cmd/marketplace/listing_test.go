package main

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
)

// TestListing runs the public listing's scenarios as clients meet them:
// GET /v1/products through the gateway, which routes it to the search
// service, over products written through the products API. They were the
// products service's own listing tests; the listing moved to the search
// service, and where its documented semantics differ (docs/search.md:
// relevance order by default with words, stemming, typos, prefixes, words
// of the category path, a lenient retry, disjunctive facets) the scenario
// says so and keeps its intent. One platform serves every scenario; each
// has its own categories and sellers, so none sees another's products.
func TestListing(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	p := startListingPlatform(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *listingScenario)
	}{
		{"each filter and sort selects and orders the right products", testEachFilterAndSortSelectsAndOrdersTheRightProducts},
		{"walking every page returns each product once in order", testWalkingEveryPageReturnsEachProductOnceInOrder},
		{"a walk neither skips nor repeats while products are added", testAWalkNeitherSkipsNorRepeatsWhileProductsAreAdded},
		{"bad cursors are refused", testBadCursorsAreRefused},
		{"facet counts match the filtered products, each ignoring its own filter", testFacetCountsMatchTheFilteredProducts},
		{"bad query parameters are refused", testBadQueryParametersAreRefused},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, p.scenario()) })
	}
}

func testEachFilterAndSortSelectsAndOrdersTheRightProducts(t *testing.T, s *listingScenario) {
	// The products service's scenario named its categories lighting >
	// desk-lights > reading-lights. The search service searches the words
	// of a product's category path too, so "desk" would have found every
	// product in desk-lights; the sub-categories are named so that no
	// search word below is a category word, and one case searches a
	// category word on purpose.
	lighting := s.category(t, "Lighting", "")
	work := s.category(t, "Work lights", lighting)
	reading := s.category(t, "Reading lights", work)
	garden := s.category(t, "Garden", "")
	s1, s2 := s.seller(t), s.seller(t)

	red := s.list(t, listed{s1, work, "Red Desk Lamp", 1500, map[string]any{"colour": "red", "watts": 40, "dimmable": true}, ""})
	blue := s.list(t, listed{s2, reading, "Blue Desk Lamp", 2500, map[string]any{"colour": "blue", "watts": 60, "dimmable": false}, ""})
	floor := s.list(t, listed{s1, lighting, "Red Floor Lamp", 9900, map[string]any{"colour": "red", "watts": 100, "dimmable": true}, ""})
	green := s.list(t, listed{s2, work, "Green Table Lamp", 500, map[string]any{"colour": "green", "watts": 25.5}, ""})
	shade := s.list(t, listed{s1, lighting, "Lamp shade, RED", 1200, map[string]any{"colour": "Red", "model": "2024"}, ""})
	s.list(t, listed{s1, work, "Red Desk Lamp draft", 1000, map[string]any{"colour": "red", "watts": 40}, "draft"})
	old := s.list(t, listed{s1, work, "Red Desk Lamp old", 1000, map[string]any{"colour": "red", "watts": 40}, ""})
	s.archive(t, s1, old)
	gardenLamp := s.list(t, listed{s1, garden, "Red Garden Lamp", 1500, map[string]any{"colour": "red", "watts": 40}, ""})
	s.waitIndexed(t)

	// With words, relevance is the default order: the searches below ask
	// for newest (or another order) to check the order too.
	tests := []struct {
		name  string
		query string
		want  []listingProduct
	}{
		{"a category lists its own and every sub-category's products, newest first", "category=" + lighting, []listingProduct{shade, green, floor, blue, red}},
		{"a sub-category leaves out its parent's products", "category=" + work, []listingProduct{green, blue, red}},
		{"a leaf category lists only its own products", "category=" + reading, []listingProduct{blue}},
		{"price bounds are inclusive", "category=" + lighting + "&min_price=1200&max_price=2500", []listingProduct{shade, blue, red}},
		{"a minimum price alone", "category=" + lighting + "&min_price=2500", []listingProduct{floor, blue}},
		{"a maximum price alone", "category=" + lighting + "&max_price=1200", []listingProduct{shade, green}},
		{"a seller's listing shows only that seller's active products", "seller=" + s1.ID, []listingProduct{gardenLamp, shade, floor, red}},
		{"string attributes match exactly", "category=" + lighting + "&attr.colour=red", []listingProduct{floor, red}},
		{"number attributes match by value", "category=" + lighting + "&attr.watts=60", []listingProduct{blue}},
		{"fractional numbers match", "category=" + lighting + "&attr.watts=25.5", []listingProduct{green}},
		{"true matches booleans", "category=" + lighting + "&attr.dimmable=true", []listingProduct{floor, red}},
		{"false matches booleans", "category=" + lighting + "&attr.dimmable=false", []listingProduct{blue}},
		{"a string that looks like a number matches", "category=" + lighting + "&attr.model=2024", []listingProduct{shade}},
		{"number ranges are inclusive", "category=" + lighting + "&attr.watts.min=40&attr.watts.max=100", []listingProduct{floor, blue, red}},
		{"a number minimum alone", "category=" + lighting + "&attr.watts.min=50", []listingProduct{floor, blue}},
		{"a number maximum alone", "category=" + lighting + "&attr.watts.max=40", []listingProduct{green, red}},
		{"equality and a range on one attribute both apply", "category=" + lighting + "&attr.watts=40&attr.watts.min=50", []listingProduct{}},
		{"title words match in any letter case", "category=" + lighting + "&q=RED+lamp&sort=newest", []listingProduct{shade, floor, red}},
		{"every title word must match", "category=" + lighting + "&q=desk+lamp&sort=newest", []listingProduct{blue, red}},
		{"word order and punctuation do not matter", "category=" + lighting + "&q=lamp,desk&sort=newest", []listingProduct{blue, red}},
		{"query-syntax characters only separate words", "category=" + lighting + "&q=" + url.QueryEscape(`+red (lamp)* title:"~`) + "&sort=newest", []listingProduct{shade, floor, red}},
		// The products service found nothing for "desk chandelier". The
		// search service retries a search that finds nothing leniently,
		// one word may then be missing: the desk lamps. A word that no
		// product has, alone, still finds nothing.
		{"when no product has every word, one may be missing", "category=" + lighting + "&q=desk+chandelier&sort=newest", []listingProduct{blue, red}},
		{"a word no product has matches nothing", "category=" + lighting + "&q=chandelier", []listingProduct{}},
		// Stemming, typos, prefixes and category words are the search
		// service's own.
		{"a plural finds the singular", "category=" + lighting + "&q=lamps&sort=newest", []listingProduct{shade, green, floor, blue, red}},
		{"a word of five letters matches with one typo", "category=" + lighting + "&q=tablr&sort=newest", []listingProduct{green}},
		{"the last word matches as a prefix", "category=" + lighting + "&q=desk+la&sort=newest", []listingProduct{blue, red}},
		{"a word of a category's name finds the products below it", "category=" + lighting + "&q=reading&sort=newest", []listingProduct{blue}},
		{"price ascending", "category=" + lighting + "&sort=price_asc", []listingProduct{green, shade, red, blue, floor}},
		{"price descending", "category=" + lighting + "&sort=price_desc", []listingProduct{floor, blue, red, shade, green}},
		{"title ignores letter case", "category=" + lighting + "&sort=title", []listingProduct{blue, green, shade, red, floor}},
		{"newest is the default order without words", "category=" + lighting + "&sort=newest", []listingProduct{shade, green, floor, blue, red}},
		{"filters combine", "category=" + work + "&attr.colour=red&max_price=2000&q=lamp&sort=price_asc", []listingProduct{red}},
		{"seller, attribute and price combine", "category=" + lighting + "&seller=" + s1.ID + "&attr.dimmable=true&min_price=2000", []listingProduct{floor}},
		{"drafts and archived products are not listed", "category=" + work + "&q=red", []listingProduct{red}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.mustList(t, tt.query+"&limit=100")
			if diff := cmp.Diff(productTitles(tt.want), productTitles(got.Items)); diff != "" {
				t.Errorf("GET ?%s titles (-want +got):\n%s", tt.query, diff)
			}
			if diff := cmp.Diff(productIDs(tt.want), productIDs(got.Items)); diff != "" {
				t.Errorf("GET ?%s ids (-want +got):\n%s", tt.query, diff)
			}
			if got.Next != "" {
				t.Errorf("a complete listing has next_cursor %q", got.Next)
			}
		})
	}
}

// listingSorts are the orders of a listing without words.
var listingSorts = []string{"newest", "price_asc", "price_desc", "title"}

// listedBefore reports whether a strictly precedes b in the order: the
// sort key, then the id in the same direction.
func listedBefore(order string, a, b listingProduct) bool {
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

func checkListingOrder(t *testing.T, order string, items []listingProduct) {
	t.Helper()
	for i := 1; i < len(items); i++ {
		if !listedBefore(order, items[i-1], items[i]) {
			t.Errorf("%s: item %d (%s %d %s) is not after item %d (%s %d %s)", order,
				i, items[i].Title, items[i].Price.Amount, items[i].ID, i-1, items[i-1].Title, items[i-1].Price.Amount, items[i-1].ID)
		}
	}
}

func testWalkingEveryPageReturnsEachProductOnceInOrder(t *testing.T, s *listingScenario) {
	pages := s.category(t, "Pages", "")
	seller := s.seller(t)
	// Ties in every sort key, so pages must break them by id.
	prices := []int64{700, 300, 300, 900, 100, 300, 500, 500, 800, 200}
	names := []string{"Pager b", "PAGER A", "pager a", "Pager c", "Pager A", "pager d", "Pager e", "Pager B", "pager f", "Pager g"}
	for i, price := range prices {
		s.list(t, listed{seller, pages, names[i], price, nil, ""})
	}
	s.waitIndexed(t)
	for _, order := range listingSorts {
		t.Run(order, func(t *testing.T) {
			q := "category=" + pages + "&sort=" + order
			all := s.mustList(t, q+"&limit=100").Items
			if len(all) != len(prices) {
				t.Fatalf("%d products listed, want %d", len(all), len(prices))
			}
			checkListingOrder(t, order, all)
			first := s.mustList(t, q+"&limit=3")
			if len(first.Items) != 3 || first.Next == "" {
				t.Fatalf("first page: %d items, next %q; want 3 and a cursor", len(first.Items), first.Next)
			}
			followed := 0
			walked := s.walk(t, q+"&limit=3", func(int) { followed++ })
			if diff := cmp.Diff(productIDs(all), productIDs(walked)); diff != "" {
				t.Errorf("pages of 3 (-one page +walked):\n%s", diff)
			}
			if followed != 3 {
				t.Errorf("followed %d cursors, want 3 (pages of 3, 3, 3, 1)", followed)
			}
			// Nine products in pages of three: the third page is the last
			// and has no cursor, though it is full.
			followed = 0
			nine := s.walk(t, q+"&min_price=200&limit=3", func(int) { followed++ })
			if len(nine) != 9 || followed != 2 {
				t.Errorf("walk of 9 gave %d items after %d cursors, want 9 after 2", len(nine), followed)
			}
			checkListingOrder(t, order, nine)
		})
	}
}

func testAWalkNeitherSkipsNorRepeatsWhileProductsAreAdded(t *testing.T, s *listingScenario) {
	growing := s.category(t, "Growing", "")
	seller := s.seller(t)
	for i, price := range []int64{500, 100, 900, 500, 300, 700, 100, 800, 500, 200, 600, 400} {
		s.list(t, listed{seller, growing, fmt.Sprintf("Grower %02d", i), price, nil, ""})
	}
	s.waitIndexed(t)
	added := 0
	for _, order := range listingSorts {
		t.Run(order, func(t *testing.T) {
			q := "category=" + growing + "&sort=" + order
			existing := s.mustList(t, q+"&limit=100").Items
			walked := s.walk(t, q+"&limit=3", func(page int) {
				if page > 2 {
					return // so that the walk ends
				}
				// Before, at and after every price and title the walk has
				// passed or has yet to reach, and ties with existing ones.
				for _, price := range []int64{50, 500, 1000} {
					added++
					s.list(t, listed{seller, growing, fmt.Sprintf("Grower %02d", added%15), price, nil, ""})
				}
				// The index follows the catalog's events: the next page is
				// read once it holds the new products, so the walk meets
				// them.
				s.waitIndexed(t)
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
			checkListingOrder(t, order, walked)
		})
	}
	first := s.mustList(t, "category="+growing)
	if len(first.Items) != pagekit.DefaultLimit || first.Next == "" {
		t.Errorf("default page: %d items, next %q; want %d and a cursor", len(first.Items), first.Next, pagekit.DefaultLimit)
	}
	s.mustList(t, "category="+growing+"&limit=100")
	s.get(t, "category="+growing+"&limit=101").WantProblem(t, http.StatusBadRequest, "validation_failed")
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

func testBadCursorsAreRefused(t *testing.T, s *listingScenario) {
	// colour is a facet of the category, so that a filter on it is one
	// the listing takes (the search service refuses attributes it has
	// never seen) and the cursor is what it refuses.
	cursors := s.category(t, "Cursors", "", "colour")
	other := s.category(t, "Cursors other", "")
	seller := s.seller(t)
	for i := range 5 {
		s.list(t, listed{seller, cursors, "Cursor " + strconv.Itoa(i), int64(100 * i), nil, ""})
	}
	s.waitIndexed(t)
	q := "category=" + cursors + "&sort=price_asc&limit=2"
	cur := s.mustList(t, q).Next
	if cur == "" {
		t.Fatal("no cursor on a first page of 2 out of 5")
	}
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	// The search service's cursor holds the order (s), its key (k), the
	// product id (i) and a fingerprint of the filters (q), as the products
	// service's did.
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
		{"a cursor of another sort", "category=" + cursors + "&sort=price_desc&limit=2", cur},
		{"a cursor of another category", "category=" + other + "&sort=price_asc&limit=2", cur},
		{"a cursor of another price filter", q + "&min_price=1", cur},
		{"a cursor of another attribute filter", q + "&attr.colour=red", cur},
		{"a cursor of another search", q + "&q=cursor", cur},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.get(t, tt.query+"&cursor="+url.QueryEscape(tt.cursor)).WantProblem(t, http.StatusBadRequest, "invalid_cursor")
		})
	}
	t.Run("the same filters in another order and page size accept the cursor", func(t *testing.T) {
		page := s.mustList(t, "limit=10&sort=price_asc&category="+cursors+"&cursor="+url.QueryEscape(cur))
		if diff := cmp.Diff([]string{"Cursor 2", "Cursor 3", "Cursor 4"}, productTitles(page.Items)); diff != "" {
			t.Errorf("after the cursor (-want +got):\n%s", diff)
		}
	})
}

// listingPriceEdges are the lower bounds of the price buckets the API
// documents.
var listingPriceEdges = []int64{0, 1000, 2500, 5000, 10000, 25000, 50000}

func priceBucketOf(amount int64) int {
	b := 0
	for i, lo := range listingPriceEdges {
		if amount >= lo {
			b = i
		}
	}
	return b
}

// facetKey names a facet value with its JSON type, so 1 and "1" differ.
func facetKey(v any) string { return fmt.Sprintf("%T:%v", v, v) }

func testFacetCountsMatchTheFilteredProducts(t *testing.T, s *listingScenario) {
	home := s.category(t, "Fx home", "", "brand")
	lamps := s.category(t, "Fx lamps", home, "colour", "watts", "dimmable")
	rugs := s.category(t, "Fx rugs", home, "material")
	seller := s.seller(t)
	var made []listed
	add := func(l listed) {
		s.list(t, l)
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
		add(listed{seller, lamps, fmt.Sprintf("Facet lamp %d", i), price, attrs, ""})
	}
	add(listed{seller, rugs, "Facet rug", 3000, map[string]any{"material": "wool", "brand": "Volta"}, ""})
	add(listed{seller, home, "Facet vase", 1500, map[string]any{"brand": "Lumen", "colour": "red"}, ""})
	s.list(t, listed{seller, lamps, "Facet draft", 1500, map[string]any{"colour": "red", "brand": "Lumen"}, "draft"})
	s.waitIndexed(t)

	// Facets are disjunctive, as the search service documents: the counts
	// of a facet ignore that facet's own filter (the price buckets ignore
	// the price range), so a shopper who picked red still sees how many
	// blue ones there are. The products service counted every facet over
	// the filtered products; its case with a minimum price now expects
	// price buckets over the whole category.
	tests := []struct {
		name   string
		query  string
		cats   []string
		min    int64
		colour string
		facets []string
	}{
		{"a category counts its own facets and its parent's", "category=" + lamps, []string{lamps}, 0, "", []string{"brand", "colour", "dimmable", "watts"}},
		{"a parent counts only its own facets, over its sub-categories too", "category=" + home, []string{home, lamps, rugs}, 0, "", []string{"brand"}},
		{"a price range narrows the attribute counts, not the price buckets", "category=" + lamps + "&min_price=2500", []string{lamps}, 2500, "", []string{"brand", "colour", "dimmable", "watts"}},
		{"a colour narrows every count but the colour's", "category=" + lamps + "&attr.colour=red", []string{lamps}, 0, "red", []string{"brand", "colour", "dimmable", "watts"}},
		{"a colour and a price range each narrow the other's counts", "category=" + lamps + "&attr.colour=red&min_price=2500", []string{lamps}, 2500, "red", []string{"brand", "colour", "dimmable", "watts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// matches reports whether l is in the result, ignoring the
			// price range or the colour filter when asked.
			matches := func(l listed, ignorePrice, ignoreColour bool) bool {
				return slices.Contains(tt.cats, l.cat) && (ignorePrice || l.price >= tt.min) &&
					(ignoreColour || tt.colour == "" || l.attrs["colour"] == tt.colour)
			}
			wantAttrs := map[string]map[string]int64{}
			for _, f := range tt.facets {
				wantAttrs[f] = map[string]int64{}
			}
			wantPrices := make([]int64, len(listingPriceEdges))
			for _, l := range made {
				if matches(l, true, false) {
					wantPrices[priceBucketOf(l.price)]++
				}
				for _, f := range tt.facets {
					if v, ok := l.attrs[f]; ok && matches(l, false, f == "colour") {
						wantAttrs[f][facetKey(v)]++
					}
				}
			}
			// A small page: facets count the whole result, on every page.
			first := s.mustList(t, tt.query+"&limit=2")
			if first.Next == "" {
				t.Fatalf("no cursor after the first 2 of %s", tt.query)
			}
			second := s.mustList(t, tt.query+"&limit=2&cursor="+url.QueryEscape(first.Next))
			for _, page := range []listingPage{first, second} {
				checkFacets(t, page, wantAttrs, wantPrices)
			}
		})
	}
}

// checkFacets compares a page's facets with the counts wanted, and checks
// that values come most frequent first and buckets at the documented
// edges.
func checkFacets(t *testing.T, page listingPage, wantAttrs map[string]map[string]int64, wantPrices []int64) {
	t.Helper()
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
		if i+1 < len(listingPriceEdges) {
			wantMax = listingPriceEdges[i+1]
		}
		if i >= len(listingPriceEdges) || b.Min != listingPriceEdges[i] || b.Max != wantMax {
			t.Errorf("price bucket %d is [%d, %d), want [%d, %d)", i, b.Min, b.Max, listingPriceEdges[min(i, len(listingPriceEdges)-1)], wantMax)
		}
	}
	if diff := cmp.Diff(wantPrices, gotPrices); diff != "" {
		t.Errorf("price buckets (-want +got):\n%s", diff)
	}
}

func testBadQueryParametersAreRefused(t *testing.T, s *listingScenario) {
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
		// The search service's own rules.
		{"a search text longer than any title", "q=" + strings.Repeat("a", 201), "q"},
		{"relevance without words to search for", "sort=relevance", "sort"},
		{"an attribute no product has and no category offers", "attr.no_such_attribute=1", "attr.no_such_attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.get(t, tt.query)
			r.WantProblem(t, http.StatusBadRequest, "validation_failed")
			if fields := problemFields(t, r); fields[tt.field] == "" {
				t.Errorf("errors %v do not name %q", fields, tt.field)
			}
		})
	}
}

package searchindex_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/search"
	"github.com/marketplace-go/marketplace/internal/search/searchindex"
)

var ctx = context.Background()

func open(t *testing.T, dir string) *searchindex.Index {
	t.Helper()
	x, err := searchindex.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	return x
}

// product returns an active lamp; change adjusts it.
func product(id string, version int64, change ...func(*search.Product)) search.Product {
	p := search.Product{ID: id, SellerID: "s1", Title: "Brass Desk Lamp", Description: "Made with care.", Category: "lamps",
		Price: search.Money{Amount: 4500, Currency: "EUR"}, Images: []string{}, Attributes: map[string]any{"colour": "red"},
		Status: search.StatusActive, Version: version, CreatedAt: time.Unix(1_700_000_000, 0).UTC().Add(time.Duration(len(id)) * time.Hour),
		UpdatedAt: time.Unix(1_700_000_000, 0).UTC()}
	for _, f := range change {
		f(&p)
	}
	return p
}

func apply(t *testing.T, x *searchindex.Index, ps ...search.Product) []search.Doc {
	t.Helper()
	docs := make([]search.Doc, len(ps))
	for i, p := range ps {
		docs[i] = search.Doc{Product: p, CategoryWords: []string{p.Category}}
	}
	applied, err := x.Apply(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	return applied
}

func list(t *testing.T, x *searchindex.Index, r search.Request) search.Result {
	t.Helper()
	if r.Statuses == nil {
		r.Statuses = []string{search.StatusActive}
	}
	if r.Sort == "" {
		r.Sort = search.SortNewest
		if len(r.Words) > 0 {
			r.Sort = search.SortRelevance
		}
	}
	if r.Size == 0 {
		r.Size = 100
	}
	res, err := x.Search(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func titles(res search.Result) []string {
	out := []string{}
	for _, h := range res.Hits {
		out = append(out, h.Product.Title)
	}
	return out
}

func TestAnOlderOrRepeatedVersionNeverOverwritesANewerOne(t *testing.T) {
	tests := []struct {
		name    string
		batches [][]search.Product
		want    string
		version int64
	}{
		{"a newer version replaces an older one", [][]search.Product{{product("a", 1)}, {product("a", 2, title("New"))}}, "New", 2},
		{"an older version arriving late changes nothing", [][]search.Product{{product("a", 2, title("New"))}, {product("a", 1)}}, "New", 2},
		{"a repeated version changes nothing", [][]search.Product{{product("a", 2, title("First"))}, {product("a", 2, title("Second"))}}, "First", 2},
		{"within one batch the newest wins, in any order", [][]search.Product{{product("a", 3, title("Three")), product("a", 1), product("a", 2)}}, "Three", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := open(t, t.TempDir())
			for _, b := range tt.batches {
				apply(t, x, b...)
			}
			got := titles(list(t, x, search.Request{}))
			if v, _ := x.Version("a"); !slices.Equal(got, []string{tt.want}) || v != tt.version {
				t.Fatalf("listed %v at version %d, want [%s] at %d", got, v, tt.want, tt.version)
			}
			if st := x.Stats(); st.Products != 1 || st.VersionSum != tt.version {
				t.Errorf("stats %+v, want 1 product, version sum %d", st, tt.version)
			}
		})
	}
}

func title(s string) func(*search.Product) { return func(p *search.Product) { p.Title = s } }

func TestApplyReturnsOnlyTheProductsItIndexed(t *testing.T) {
	x := open(t, t.TempDir())
	apply(t, x, product("a", 2))
	applied := apply(t, x, product("a", 1), product("a", 2), product("b", 1))
	if len(applied) != 1 || applied[0].ID != "b" {
		t.Fatalf("applied %v, want only b", applied)
	}
}

func TestAReopenedIndexKeepsItsProductsAndVersions(t *testing.T) {
	dir := t.TempDir()
	x, err := searchindex.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		apply(t, x, product(fmt.Sprint("p", i), int64(i%3+1), func(p *search.Product) { p.Attributes = map[string]any{"size": "M"} }))
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	y := open(t, dir)
	if st := y.Stats(); st.Products != 30 || st.VersionSum != 60 || !st.Attributes["size"] {
		t.Fatalf("reopened stats %+v, want 30 products, version sum 60, attribute size", st)
	}
	if applied := apply(t, y, product("p2", 3)); len(applied) != 0 {
		t.Errorf("a version seen before the restart was indexed again")
	}
}

// catalog is a small catalog for the query tests.
func catalog(t *testing.T) *searchindex.Index {
	t.Helper()
	x := open(t, t.TempDir())
	at := func(h int) func(*search.Product) {
		return func(p *search.Product) {
			p.CreatedAt = time.Unix(1_700_000_000, 0).UTC().Add(time.Duration(h) * time.Hour)
		}
	}
	attrs := func(m map[string]any) func(*search.Product) { return func(p *search.Product) { p.Attributes = m } }
	price := func(n int64) func(*search.Product) { return func(p *search.Product) { p.Price.Amount = n } }
	status := func(s string) func(*search.Product) { return func(p *search.Product) { p.Status = s } }
	in := func(c string) func(*search.Product) { return func(p *search.Product) { p.Category = c } }
	seller := func(s string) func(*search.Product) { return func(p *search.Product) { p.SellerID = s } }
	apply(t, x,
		product("01", 1, title("Brass Desk Lamp"), at(1), price(4500), attrs(map[string]any{"colour": "red", "wattage": 9.0, "dimmable": true})),
		product("02", 1, title("Copper Floor Lamp"), at(2), price(12000), attrs(map[string]any{"colour": "blue", "wattage": 40.0, "dimmable": false})),
		product("03", 1, title("Reading Light"), at(3), price(900), attrs(map[string]any{"colour": "red", "wattage": "9", "dimmable": true})),
		product("04", 1, title("Wireless Headphones"), at(4), price(8000), in("headphones"), attrs(map[string]any{"colour": "black"})),
		product("05", 1, title("Unfinished Lamp"), at(5), status(search.StatusDraft), seller("s2")),
		product("06", 1, title("Retired Lamp"), at(6), status(search.StatusArchived)),
		product("07", 1, title("Lamp+Shade: \"Deluxe\" (c*)"), at(7), price(2500), attrs(map[string]any{"colour": "green"})),
		product("08", 1, title("Mystery Novel"), at(8), in("fiction"), price(1500), attrs(map[string]any{"genre": "mystery"})),
		product("09", 1, title("Dusk Lantern"), at(9), price(30000), attrs(map[string]any{"colour": "yellow"})),
	)
	return x
}

func TestWordsMatchStemmedWithTyposAndTheLastAsAPrefix(t *testing.T) {
	x := catalog(t)
	tests := []struct {
		name, q string
		want    []string
	}{
		{"a plural finds the singular, and the category's products", "lamps",
			[]string{"Brass Desk Lamp", "Copper Floor Lamp", "Dusk Lantern", "Lamp+Shade: \"Deluxe\" (c*)", "Reading Light"}},
		{"one typo in a word of five letters", "cooper lamp", []string{"Copper Floor Lamp"}},
		{"two typos in a word of nine letters", "headfones", []string{"Wireless Headphones"}},
		{"no typo in a word of four letters while it matches as typed", "desk", []string{"Brass Desk Lamp"}},
		{"the last word is a prefix", "desk la", []string{"Brass Desk Lamp"}},
		{"a word may match the description or an attribute value", "blue lamp", []string{"Copper Floor Lamp"}},
		{"a category word finds its products", "headphones", []string{"Wireless Headphones"}},
		{"a missing word is forgiven only when nothing matches them all", "dsk lamp", nil},
		{"query syntax is only text", "lamp* title:lamp +deluxe -shade \"", []string{"Lamp+Shade: \"Deluxe\" (c*)"}},
		{"drafts are not listed", "unfinished", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := titles(list(t, x, search.Request{Query: search.Query{Words: search.Words(tt.q)}}))
			if tt.want == nil {
				if len(got) == 0 || got[0] != "Brass Desk Lamp" {
					t.Fatalf("q=%q found %v, want Brass Desk Lamp first", tt.q, got)
				}
				return
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("q=%q found %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestFiltersFollowTheProductsServicesRules(t *testing.T) {
	x := catalog(t)
	f := func(v float64) *float64 { return &v }
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		name string
		r    search.Request
		want []string
	}{
		{"a number filter matches the number and the same text", search.Request{Query: search.Query{
			Attributes: []search.AttributeFilter{{Name: "wattage", Equals: 9.0, Text: "9"}}}}, []string{"Brass Desk Lamp", "Reading Light"}},
		{"a boolean filter", search.Request{Query: search.Query{
			Attributes: []search.AttributeFilter{{Name: "dimmable", Equals: false, Text: "false"}}}}, []string{"Copper Floor Lamp"}},
		{"a range takes numbers only", search.Request{Query: search.Query{
			Attributes: []search.AttributeFilter{{Name: "wattage", Min: f(5), Max: f(10)}}}}, []string{"Brass Desk Lamp"}},
		{"a price range is inclusive", search.Request{Query: search.Query{MinPrice: n(900), MaxPrice: n(4500)}},
			[]string{"Brass Desk Lamp", "Lamp+Shade: \"Deluxe\" (c*)", "Mystery Novel", "Reading Light"}},
		{"a category subtree", search.Request{Query: search.Query{Category: "x"}, Categories: []string{"fiction", "headphones"}},
			[]string{"Mystery Novel", "Wireless Headphones"}},
		{"a seller sees their drafts when the statuses allow", search.Request{Query: search.Query{Seller: "s2"},
			Statuses: []string{search.StatusDraft, search.StatusActive, search.StatusArchived}}, []string{"Unfinished Lamp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := titles(list(t, x, tt.r))
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("found %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAFacetsCountsIgnoreItsOwnFilter(t *testing.T) {
	x := catalog(t)
	n := func(v int64) *int64 { return &v }
	res := list(t, x, search.Request{Query: search.Query{
		Attributes: []search.AttributeFilter{{Name: "colour", Equals: "red", Text: "red"}}, MinPrice: n(1000)},
		Categories: []string{"lamps"}, FacetAttributes: []string{"colour", "dimmable"}})
	if got := titles(res); !slices.Equal(got, []string{"Brass Desk Lamp"}) {
		t.Fatalf("found %v", got)
	}
	want := map[string][]search.FacetValue{
		// colour ignores colour=red but not the price: the reading light
		// (900) is out, the others count.
		"colour": {{Value: "blue", Count: 1}, {Value: "green", Count: 1}, {Value: "red", Count: 1}, {Value: "yellow", Count: 1}},
		// dimmable is narrowed by both filters.
		"dimmable": {{Value: true, Count: 1}},
	}
	if diff := cmp.Diff(want, res.Facets.Attributes); diff != "" {
		t.Errorf("attribute facets (-want +got):\n%s", diff)
	}
	// The price buckets ignore the price range but not the colour: both
	// red lamps count.
	var prices []int64
	for _, b := range res.Facets.Prices {
		prices = append(prices, b.Count)
	}
	if !slices.Equal(prices, []int64{1, 0, 1, 0, 0, 0, 0}) {
		t.Errorf("price buckets %v, want the reading light in the first and the brass lamp in the third", prices)
	}
}

func TestKeysetPagesVisitEveryProductOnceInEachOrder(t *testing.T) {
	x := catalog(t)
	for _, order := range []string{search.SortNewest, search.SortPriceAsc, search.SortPriceDesc, search.SortTitle, search.SortRelevance} {
		t.Run(order, func(t *testing.T) {
			r := search.Request{Query: search.Query{Sort: order}, Size: 2, FacetAttributes: []string{"colour"}}
			if order == search.SortRelevance {
				r.Words = []string{"lamp"}
			}
			all := list(t, x, search.Request{Query: r.Query, Size: 100, FacetAttributes: r.FacetAttributes})
			var pages []string
			for range 20 {
				res := list(t, x, r)
				if diff := cmp.Diff(all.Facets, res.Facets); diff != "" {
					t.Fatalf("a later page counts other facets (-first +later):\n%s", diff)
				}
				pages = append(pages, titles(res)...)
				if len(res.Hits) < r.Size {
					break
				}
				h := res.Hits[len(res.Hits)-1]
				r.After = &search.Cursor{ID: h.Product.ID, Key: searchindex.CursorKeyOf(order, h)}
			}
			if diff := cmp.Diff(titles(all), pages); diff != "" {
				t.Fatalf("pages differ from one listing (-one +pages):\n%s", diff)
			}
		})
	}
}

func TestConcurrentWritersAndReadersEndAtTheNewestVersions(t *testing.T) {
	x := open(t, t.TempDir())
	const products, versions = 20, 10
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			// Every writer writes every product, half of them oldest
			// version first and half newest first.
			for step := range int64(versions) {
				v := step + 1
				if w%2 == 1 {
					v = versions - step
				}
				for i := range products {
					p := product(fmt.Sprint("p", i), v, title(fmt.Sprintf("Lamp %d v%d", i, v)))
					if _, err := x.Apply(ctx, []search.Doc{{Product: p}}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
		wg.Go(func() {
			for range 20 {
				res, err := x.Search(ctx, search.Request{Query: search.Query{Words: []string{"lamp"}, Sort: search.SortRelevance},
					Statuses: []string{search.StatusActive}, Size: 5, FacetAttributes: []string{"colour"}})
				if err != nil {
					t.Error(err)
					return
				}
				// Each hit is its own document's product, at one version
				// throughout (products.go keeps them decoded).
				for _, h := range res.Hits {
					if want := fmt.Sprintf("Lamp %s v%d", h.Product.ID[1:], h.Product.Version); h.Product.Title != want {
						t.Errorf("%s at version %d is titled %q, want %q", h.Product.ID, h.Product.Version, h.Product.Title, want)
					}
				}
			}
		})
	}
	wg.Wait()
	res := list(t, x, search.Request{Query: search.Query{Sort: search.SortTitle}})
	for _, h := range res.Hits {
		if h.Product.Version != versions {
			t.Errorf("%s at version %d", h.Product.ID, h.Product.Version)
		}
	}
	if st := x.Stats(); st.Products != products {
		t.Fatalf("%d products, want %d", st.Products, products)
	}
}

// The search service refuses a filter on an attribute the index does not
// know, so a product a search can find must already have its attributes
// known: a listing that waited for a product once got 400 for its
// attribute.
func TestAProductASearchFindsHasItsAttributesKnown(t *testing.T) {
	x := open(t, t.TempDir())
	const products = 200
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range products {
			p := product(fmt.Sprint("p", i), 1, func(p *search.Product) {
				p.Attributes = map[string]any{fmt.Sprint("a", i): "x"}
				p.CreatedAt = p.CreatedAt.Add(time.Duration(i) * time.Minute)
			})
			if _, err := x.Apply(ctx, []search.Doc{{Product: p}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			res, err := x.Search(ctx, search.Request{Query: search.Query{Sort: search.SortNewest}, Statuses: []string{search.StatusActive}, Size: 1})
			if err != nil {
				t.Error(err)
				return
			}
			known := x.Stats().Attributes
			for _, h := range res.Hits {
				for name := range h.Product.Attributes {
					if !known[name] {
						t.Errorf("a search found %s, but its attribute %q is not known", h.Product.ID, name)
						return
					}
				}
			}
		}
	})
	wg.Wait()
}

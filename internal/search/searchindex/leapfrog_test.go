package searchindex

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/search"
)

// generated indexes n products of mixed titles, categories, colours,
// prices and statuses, in several batches (so several segments) and with
// some products rewritten (so segments hold deleted documents).
func generated(t *testing.T, n int) *Index {
	t.Helper()
	x, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	doc := func(i int, version int64) search.Doc {
		p := search.Product{
			ID: fmt.Sprintf("p%05d", i), SellerID: pick("s1", "s2", "s3"),
			Title:       fmt.Sprintf("%s %s %s %d", pick("Brass", "Copper", "Modern", "Rustic", "Vintage"), pick("Desk", "Floor", "Reading", "Pendant"), pick("Lamp", "Light", "Headphones", "Novel", "Boots", "Books"), i),
			Description: pick("Made with care.", "A mystery for long nights.", "Bright and warm light.", "Noise cancelling."),
			Category:    pick("lamps", "headphones", "fiction", "shoes"),
			Price:       search.Money{Amount: int64(rng.IntN(60000)), Currency: "EUR"},
			Attributes:  map[string]any{"colour": pick("red", "blue", "black", "green"), "size": float64(rng.IntN(5) + 38)},
			Status:      pick(search.StatusActive, search.StatusActive, search.StatusActive, search.StatusDraft),
			Version:     version, CreatedAt: time.Unix(1_700_000_000, 0).UTC().Add(time.Duration(rng.IntN(100000)) * time.Minute),
		}
		return search.Doc{Product: p, CategoryWords: []string{p.Category}}
	}
	for start := 0; start < n; start += n / 8 {
		var docs []search.Doc
		for i := start; i < min(start+n/8, n); i++ {
			docs = append(docs, doc(i, 1))
		}
		if _, err := x.Apply(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
	}
	var rewrites []search.Doc
	for i := 0; i < n; i += 7 {
		rewrites = append(rewrites, doc(i, 2))
	}
	if _, err := x.Apply(context.Background(), rewrites); err != nil {
		t.Fatal(err)
	}
	return x
}

// TestLeapfrogFilteringAnswersAsBlevesFilterDoes compares every part of
// an answer (hits, scores, order, total, facets) with Bleve's own Boolean
// filter, which scores every text match before filtering.
func TestLeapfrogFilteringAnswersAsBlevesFilterDoes(t *testing.T) {
	x := generated(t, 4000)
	n := func(v int64) *int64 { return &v }
	f := func(v float64) *float64 { return &v }
	red := search.AttributeFilter{Name: "colour", Equals: "red", Text: "red"}
	active := []string{search.StatusActive}
	all := []string{search.StatusDraft, search.StatusActive, search.StatusArchived}
	facets := []string{"colour", "size"}
	tests := []struct {
		name string
		r    search.Request
	}{
		{"words in one category with a colour, by relevance", search.Request{Query: search.Query{Words: []string{"desk", "lamp"}, Sort: search.SortRelevance,
			Attributes: []search.AttributeFilter{red}}, Categories: []string{"lamps"}, Statuses: active, FacetAttributes: facets, Size: 21}},
		{"a word with a typo and a prefix, several categories", search.Request{Query: search.Query{Words: []string{"cooper", "fl"}, Sort: search.SortRelevance},
			Categories: []string{"lamps", "shoes"}, Statuses: active, FacetAttributes: facets, Size: 50}},
		{"a rare filter: one seller, a price range and a size range", search.Request{Query: search.Query{Words: []string{"lamp"}, Sort: search.SortRelevance,
			Seller: "s2", MinPrice: n(1000), MaxPrice: n(9000), Attributes: []search.AttributeFilter{{Name: "size", Min: f(39), Max: f(40)}}},
			Statuses: all, FacetAttributes: facets, Size: 100}},
		{"filters on both facets and the price: each facet counts what the other filters let through", search.Request{Query: search.Query{Words: []string{"lamp"},
			Sort: search.SortPriceDesc, MinPrice: n(5000), Attributes: []search.AttributeFilter{red, {Name: "size", Min: f(40)}, {Name: "size", Max: f(41)}}},
			Categories: []string{"lamps", "shoes"}, Statuses: active, FacetAttributes: facets, Size: 20}},
		{"a filter on an attribute that is no facet", search.Request{Query: search.Query{Words: []string{"light"}, Sort: search.SortRelevance,
			Attributes: []search.AttributeFilter{{Name: "size", Equals: 40.0, Text: "40"}}}, Statuses: active, FacetAttributes: []string{"colour"}, Size: 20}},
		{"a filter that matches nothing", search.Request{Query: search.Query{Words: []string{"lamp"}, Sort: search.SortRelevance, Seller: "nobody"},
			Statuses: active, FacetAttributes: facets, Size: 20}},
		{"words no product has, retried leniently", search.Request{Query: search.Query{Words: []string{"dsk", "lamp"}, Sort: search.SortRelevance},
			Categories: []string{"lamps"}, Statuses: active, FacetAttributes: facets, Size: 20}},
		{"words sorted by price", search.Request{Query: search.Query{Words: []string{"mystery"}, Sort: search.SortPriceAsc, Attributes: []search.AttributeFilter{red}},
			Statuses: active, FacetAttributes: facets, Size: 30}},
		{"words after a cursor", search.Request{Query: search.Query{Words: []string{"light"}, Sort: search.SortNewest,
			After: &search.Cursor{Sort: search.SortNewest, Key: int64(1_700_000_000_000_000 + 50000*60_000_000), ID: "p02000"}},
			Statuses: active, FacetAttributes: facets, Size: 20}},
		{"no words: a category browsed by title", search.Request{Query: search.Query{Sort: search.SortTitle, Attributes: []search.AttributeFilter{red}},
			Categories: []string{"fiction"}, Statuses: active, FacetAttributes: facets, Size: 40}},
		{"no words and no filter but the status", search.Request{Query: search.Query{Sort: search.SortNewest}, Statuses: active, FacetAttributes: facets, Size: 10}},
		// Pages that the counting pass cuts short (pagecut.go): the hits
		// kept are those Bleve would have ranked, the total is all of them.
		{"a page of one by relevance", search.Request{Query: search.Query{Words: []string{"lamp"}, Sort: search.SortRelevance},
			Statuses: active, FacetAttributes: facets, Size: 1}},
		{"a word by price, cheapest first", search.Request{Query: search.Query{Words: []string{"light"}, Sort: search.SortPriceAsc},
			Statuses: all, FacetAttributes: facets, Size: 7}},
		{"a word by price, dearest first, in two categories", search.Request{Query: search.Query{Words: []string{"lamp"}, Sort: search.SortPriceDesc},
			Categories: []string{"lamps", "shoes"}, Statuses: active, FacetAttributes: facets, Size: 3}},
		{"a category word, which scores its hits in a few values only: the ids order each", search.Request{Query: search.Query{Words: []string{"fiction"},
			Sort: search.SortRelevance, Attributes: []search.AttributeFilter{red}}, Statuses: active, FacetAttributes: facets, Size: 20}},
		{"the same word, a page of one", search.Request{Query: search.Query{Words: []string{"fiction"}, Sort: search.SortRelevance},
			Statuses: all, FacetAttributes: facets, Size: 1}},
		{"no page, the counts only", search.Request{Query: search.Query{Words: []string{"lamp"}, Sort: search.SortRelevance},
			Statuses: active, FacetAttributes: facets}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, got := bothWays(t, x, tt.r)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answer differs from Bleve's filter (-bleve +leapfrog):\n%s", diff)
			}
			if tt.name != "a filter that matches nothing" && want.Total == 0 {
				t.Errorf("found nothing: the case compares nothing")
			}
		})
	}
}

// TestFacetCountsFollowWritesAfterTheColumnsAreBuilt searches (so that
// the segments' columns are decoded and kept), rewrites products with
// other colours and prices, and compares the answers again: columns are
// kept per segment, so a write must show up through its new segment,
// never through a stale column.
func TestFacetCountsFollowWritesAfterTheColumnsAreBuilt(t *testing.T) {
	x := generated(t, 2000)
	r := search.Request{Query: search.Query{Words: []string{"lamp"}, Sort: search.SortRelevance,
		Attributes: []search.AttributeFilter{{Name: "colour", Equals: "red", Text: "red"}}},
		Statuses: []string{search.StatusActive}, FacetAttributes: []string{"colour", "size"}, Size: 20}
	compare := func(t *testing.T) search.Result {
		t.Helper()
		want, got := bothWays(t, x, r)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("answer differs from Bleve's (-bleve +columns):\n%s", diff)
		}
		return got
	}
	before := compare(t)
	var docs []search.Doc
	for _, h := range before.Hits {
		p := h.Product
		p.Version++
		p.Attributes = map[string]any{"colour": "blue", "size": 50.0}
		p.Price.Amount = 99999
		docs = append(docs, search.Doc{Product: p, CategoryWords: []string{p.Category}})
	}
	if _, err := x.Apply(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	after := compare(t)
	if after.Total != before.Total-int64(len(docs)) {
		t.Errorf("total %d after turning %d of %d red lamps blue, want %d", after.Total, len(docs), before.Total, before.Total-int64(len(docs)))
	}
}

// TestCursorPagesAnswerAsBlevesFilterDoes follows cursors through pages
// in each order (the page cut's, pagecut.go), each page compared whole
// with Bleve's own filter and SearchAfter, the next cursor taken from
// Bleve's page. The generated catalog has equal prices and creation
// times, so some cursors fall among ties that only the id orders.
func TestCursorPagesAnswerAsBlevesFilterDoes(t *testing.T) {
	x := generated(t, 4000)
	red := search.AttributeFilter{Name: "colour", Equals: "red", Text: "red"}
	active := []string{search.StatusActive}
	facets := []string{"colour", "size"}
	tests := []struct {
		name string
		r    search.Request
	}{
		{"the newest, no words", search.Request{Query: search.Query{Sort: search.SortNewest}, Statuses: active, FacetAttributes: facets, Size: 7}},
		{"the newest lamps, a colour", search.Request{Query: search.Query{Sort: search.SortNewest, Attributes: []search.AttributeFilter{red}},
			Categories: []string{"lamps"}, Statuses: active, FacetAttributes: facets, Size: 5}},
		{"a word, the newest first", search.Request{Query: search.Query{Words: []string{"light"}, Sort: search.SortNewest}, Statuses: active, FacetAttributes: facets, Size: 9}},
		{"a word by relevance", search.Request{Query: search.Query{Words: []string{"lamp"}, Sort: search.SortRelevance}, Statuses: active, FacetAttributes: facets, Size: 8}},
		{"a category word by relevance, its hits scored alike", search.Request{Query: search.Query{Words: []string{"fiction"}, Sort: search.SortRelevance},
			Statuses: active, FacetAttributes: facets, Size: 6}},
		{"the cheapest, a colour", search.Request{Query: search.Query{Sort: search.SortPriceAsc, Attributes: []search.AttributeFilter{red}},
			Statuses: active, FacetAttributes: facets, Size: 7}},
		{"the dearest shoes", search.Request{Query: search.Query{Sort: search.SortPriceDesc}, Categories: []string{"shoes"}, Statuses: active, FacetAttributes: facets, Size: 4}},
		{"by title, no words", search.Request{Query: search.Query{Sort: search.SortTitle}, Statuses: active, FacetAttributes: facets, Size: 7}},
		{"a word by title, a colour", search.Request{Query: search.Query{Words: []string{"lamp"}, Sort: search.SortTitle, Attributes: []search.AttributeFilter{red}},
			Statuses: active, FacetAttributes: facets, Size: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			for page := range 4 {
				want, got := bothWays(t, x, r)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("page %d differs from Bleve's (-bleve +cut):\n%s", page+1, diff)
				}
				if len(want.Hits) < r.Size {
					t.Fatalf("page %d has %d hits: the case pages through too few", page+1, len(want.Hits))
				}
				last := want.Hits[len(want.Hits)-1]
				r.After = &search.Cursor{Sort: r.Sort, ID: last.Product.ID, Key: CursorKeyOf(r.Sort, last)}
			}
		})
	}
}

// CursorKeyOf is the cursor key of the hit h in order, as the API gives
// it; exported for this package's external tests.
func CursorKeyOf(order string, h search.Hit) any {
	switch order {
	case search.SortRelevance:
		return h.Score
	case search.SortPriceAsc, search.SortPriceDesc:
		return h.Product.Price.Amount
	case search.SortTitle:
		return strings.ToLower(h.Product.Title)
	}
	return h.Product.CreatedAt.UnixMicro()
}

// bothWays answers r with Bleve's own filter, facets and fuzzy query
// (want), and as the index does (got).
func bothWays(t *testing.T, x *Index, r search.Request) (want, got search.Result) {
	t.Helper()
	x.bleveFilters = true
	want, err := x.Search(context.Background(), r)
	x.bleveFilters = false
	if err != nil {
		t.Fatal(err)
	}
	got, err = x.Search(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return want, got
}

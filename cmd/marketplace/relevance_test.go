package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/products/seed"
	"github.com/marketplace-go/marketplace/internal/search"
	"github.com/marketplace-go/marketplace/internal/search/searchindex"
)

// relevanceCase is a query of the relevance set and what makes a product
// a right answer to it.
type relevanceCase struct {
	q        string
	relevant func(p search.Product) bool
}

func titled(words ...string) func(search.Product) bool {
	return func(p search.Product) bool {
		for _, w := range words {
			if !strings.Contains(p.Title, w) {
				return false
			}
		}
		return true
	}
}

func with(attr string, value any, and func(search.Product) bool) func(search.Product) bool {
	return func(p search.Product) bool { return p.Attributes[attr] == value && and(p) }
}

func inCategory(ids ...string) func(search.Product) bool {
	return func(p search.Product) bool { return slices.Contains(ids, p.Category) }
}

func soldBy(seller int) func(search.Product) bool {
	return func(p search.Product) bool { return p.SellerID == demoSellerID(seller) }
}

// relevanceSet is about 30 queries a shopper types on the demo catalog:
// plurals, typos, prefixes, several words, attribute values, category
// words, shop names.
func relevanceSet() []relevanceCase {
	everyProduct := func(search.Product) bool { return true }
	return []relevanceCase{
		{"lamp", titled("Lamp")},
		{"lamps", titled("Lamp")},
		{"desk lamp", titled("Desk Lamp")},
		{"desk lamps", titled("Desk Lamp")},
		{"dsk lamp", titled("Desk Lamp")},
		{"flor lamp", titled("Floor Lamp")},
		{"desk la", titled("Desk Lamp")},
		{"headphones", titled("Headphones")},
		{"hedphones", titled("Headphones")},
		{"head", func(p search.Product) bool { return strings.Contains(p.Title, "Head") }},
		{"earbuds", titled("Earbuds")},
		{"sneaker", titled("Sneakers")},
		{"sneak", titled("Sneakers")},
		{"novels", titled("Novel")},
		{"cronicle", titled("Chronicle")},
		{"mystery novel", with("genre", "mystery", titled("Novel"))},
		{"fantasy saga", with("genre", "fantasy", titled("Saga"))},
		{"cooking guide", with("subject", "cooking", titled("Guide"))},
		{"history atlas", with("subject", "history", titled("Atlas"))},
		{"paperback thriller", with("format", "paperback", with("genre", "thriller", everyProduct))},
		{"red shirt", with("colour", "red", titled("Shirt"))},
		{"linen shirt", with("material", "linen", titled("Shirt"))},
		{"silk blouses", with("material", "silk", titled("Blouse"))},
		{"black boots", with("colour", "black", titled("Boots"))},
		{"vintage pendant", titled("Vintage Pendant")},
		{"rustic reading light", titled("Rustic Reading Light")},
		{"premium headset", titled("Premium Headset")},
		{"sonique headphones", with("brand", "Sonique", inCategory("headphones"))},
		{"brightline lamp", with("brand", "Brightline", titled("Lamp"))},
		{"clothing", inCategory("shirts", "shoes")},
		{"books", inCategory("fiction", "non-fiction")},
		{"electronics", inCategory("lamps", "headphones")},
		{"marigold mercantile", soldBy(0)},
		{"hollowbrook", soldBy(1)},
		{"kestrel", soldBy(2)},
		{"coperfield", soldBy(3)},
		{"marigold lamps", func(p search.Product) bool { return soldBy(0)(p) && titled("Lamp")(p) }},
	}
}

// demoIndex indexes the demo catalog (the products `marketplace seed`
// makes) as the search service would.
func demoIndex(t testing.TB) *searchindex.Index {
	t.Helper()
	x, err := searchindex.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	if _, err := x.ApplyShops(context.Background(), demoShops(), func(p search.Product) search.Doc { return search.Doc{Product: p} }); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Apply(context.Background(), demoDocs(2000)); err != nil {
		t.Fatal(err)
	}
	return x
}

// demoSellerID is the seller id of demo seller i (from 0) in demoDocs.
func demoSellerID(i int) string { return fmt.Sprintf("seller-%d", i) }

// demoShops are the shops `marketplace seed` opens for the demo sellers.
func demoShops() []search.Shop {
	out := make([]search.Shop, 4)
	for i := range out {
		out[i] = search.Shop{SellerID: demoSellerID(i), Name: demoShop(i), Version: 1}
	}
	return out
}

// demoDocs are the first n products of the demo catalog's generator, as
// the search service indexes them.
func demoDocs(n int) []search.Doc {
	names := map[string]string{}
	parents := map[string]string{}
	for _, c := range seed.Categories {
		names[c.ID], parents[c.ID] = c.Name, c.Parent
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var docs []search.Doc
	for i, sp := range seed.Products(n, 4) {
		d := sp.Draft
		p := search.Product{ID: fmt.Sprintf("demo-%05d", i), SellerID: demoSellerID(sp.Seller), Title: d.Title,
			Description: d.Description, Category: d.Category, Price: search.Money{Amount: d.Price.Amount, Currency: d.Price.Currency},
			Images: d.Images, Attributes: d.Attributes, Status: d.Status, Version: 1,
			CreatedAt: start.Add(time.Duration(i) * time.Minute), UpdatedAt: start.Add(time.Duration(i) * time.Minute)}
		words := []string{p.Category, names[p.Category]}
		if parent := parents[p.Category]; parent != "" {
			words = append(words, parent, names[parent])
		}
		docs = append(docs, search.Doc{Product: p, CategoryWords: words})
	}
	return docs
}

// TestRelevanceOnTheDemoCatalog runs the relevance set and reports
// precision at 1 and at 5: the share of queries whose first result is a
// right answer, and the mean share of right answers among the first five.
func TestRelevanceOnTheDemoCatalog(t *testing.T) {
	t.Parallel()
	x := demoIndex(t)
	var at1, at5 float64
	cases := relevanceSet()
	for _, c := range cases {
		res, err := x.Search(context.Background(), search.Request{Query: search.Query{Words: search.Words(c.q), Sort: search.SortRelevance},
			Statuses: []string{search.StatusActive}, Size: 5, NoFacets: true})
		if err != nil {
			t.Fatal(err)
		}
		right := 0
		var got []string
		for i, h := range res.Hits {
			if c.relevant(h.Product) {
				right++
				if i == 0 {
					at1++
				}
			}
			got = append(got, fmt.Sprintf("%s %v", h.Product.Title, h.Product.Attributes))
		}
		at5 += float64(right) / 5
		if right < 5 {
			t.Logf("q=%q: %d of 5 right: %s", c.q, right, strings.Join(got, "; "))
		}
	}
	n := float64(len(cases))
	t.Logf("relevance on the demo catalog: %d queries, precision@1 %.3f, precision@5 %.3f", len(cases), at1/n, at5/n)
	if at1/n < 0.9 {
		t.Errorf("precision@1 %.3f, want at least 0.9", at1/n)
	}
}

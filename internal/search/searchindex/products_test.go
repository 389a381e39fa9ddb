package searchindex_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/search"
	"github.com/marketplace-go/marketplace/internal/search/searchindex"
)

// lamps applies n products, p0 to p(n-1), each titled by its number.
func lamps(t *testing.T, x *searchindex.Index, n int) {
	t.Helper()
	ps := make([]search.Product, n)
	for i := range ps {
		ps[i] = product(fmt.Sprint("p", i), 1, title(fmt.Sprintf("Lamp %d", i)))
	}
	apply(t, x, ps...)
}

func TestAPageReadAgainIsTheSameProductsDecodedOnce(t *testing.T) {
	x := open(t, t.TempDir())
	lamps(t, x, 30)
	r := search.Request{Query: search.Query{Sort: search.SortTitle}, Size: 10}
	first := list(t, x, r)
	if n := searchindex.ProductsKept(x); n != 10 {
		t.Fatalf("%d products kept after a page of 10, want 10", n)
	}
	again := list(t, x, r)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("the page read again differs (-first +again):\n%s", diff)
	}
	if n := searchindex.ProductsKept(x); n != 10 {
		t.Errorf("%d products kept after the same page again, want 10", n)
	}
}

func TestAProductWrittenAfterItWasReadIsReadAsWritten(t *testing.T) {
	x := open(t, t.TempDir())
	lamps(t, x, 3)
	r := search.Request{Query: search.Query{Sort: search.SortTitle}}
	if got := titles(list(t, x, r)); !cmp.Equal(got, []string{"Lamp 0", "Lamp 1", "Lamp 2"}) {
		t.Fatalf("titles %v before the write", got)
	}
	apply(t, x, product("p1", 2, title("Lamp 1, renamed")))
	if got := titles(list(t, x, r)); !cmp.Equal(got, []string{"Lamp 0", "Lamp 1, renamed", "Lamp 2"}) {
		t.Errorf("titles %v after the write, want p1's new one", got)
	}
}

func TestPastTheirBoundProductsAreDecodedOnEveryReadAndStillRight(t *testing.T) {
	x := open(t, t.TempDir())
	searchindex.SetMaxProducts(x, 5)
	lamps(t, x, 30)
	for range 2 {
		res := list(t, x, search.Request{Query: search.Query{Sort: search.SortTitle}, Size: 20})
		for _, h := range res.Hits {
			if want := "Lamp " + h.Product.ID[1:]; h.Product.Title != want {
				t.Errorf("%s is titled %q, want %q", h.Product.ID, h.Product.Title, want)
			}
		}
		if len(res.Hits) != 20 {
			t.Errorf("%d hits, want 20", len(res.Hits))
		}
	}
	if n := searchindex.ProductsKept(x); n != 5 {
		t.Errorf("%d products kept, want the bound's 5", n)
	}
}

// BenchmarkListingPage reads a listing's first page (a category of about
// 330 of 2,000 products, by price, 21 hits and the category's facets) with
// the products kept decoded, and, as its baseline in the same run, with
// none kept: each hit read from its stored fields and decoded every time.
func BenchmarkListingPage(b *testing.B) {
	x, err := searchindex.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	cats := []string{"fiction", "non-fiction", "lamps", "headphones", "shirts", "shoes"}
	colours := []string{"red", "green", "blue", "black", "white"}
	docs := make([]search.Doc, 2000)
	for i := range docs {
		p := product(fmt.Sprint("p", i), 1, func(p *search.Product) {
			p.Title = fmt.Sprintf("Brass Lamp %d", i)
			p.Category = cats[i%len(cats)]
			p.Price.Amount = int64(199 + i*37%60000)
			p.Images = []string{fmt.Sprintf("https://images.example.com/demo/%d.jpg", i)}
			p.Attributes = map[string]any{"colour": colours[i%len(colours)], "weight": float64(i % 900), "wireless": i%2 == 0}
		})
		docs[i] = search.Doc{Product: p, CategoryWords: []string{p.Category}}
	}
	if _, err := x.Apply(ctx, docs); err != nil {
		b.Fatal(err)
	}
	r := search.Request{Query: search.Query{Category: "lamps", Sort: search.SortPriceAsc}, Statuses: []string{search.StatusActive},
		Size: 21, FacetAttributes: []string{"colour", "wireless"}}
	for _, c := range []struct {
		name string
		kept int64
	}{{"decoded every read", 0}, {"kept decoded", 10_000}} {
		b.Run(c.name, func(b *testing.B) {
			searchindex.SetMaxProducts(x, c.kept)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := x.Search(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

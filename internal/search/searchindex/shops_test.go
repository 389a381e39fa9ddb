package searchindex_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/search"
	"github.com/marketplace-go/marketplace/internal/search/searchindex"
)

// withCategory is the doc the search service builds for a product: here
// its category id and a word of its path, which a re-index must keep.
func withCategory(p search.Product) search.Doc {
	return search.Doc{Product: p, CategoryWords: []string{p.Category, "Electronics"}}
}

func applyShops(t *testing.T, x *searchindex.Index, shops ...search.Shop) []search.Shop {
	t.Helper()
	applied, err := x.ApplyShops(ctx, shops, withCategory)
	if err != nil {
		t.Fatal(err)
	}
	return applied
}

// ids are the ids of the products words find, in id order.
func ids(t *testing.T, x *searchindex.Index, words string) []string {
	t.Helper()
	out := []string{}
	for _, h := range list(t, x, search.Request{Query: search.Query{Words: search.Words(words), Sort: search.SortTitle}}).Hits {
		out = append(out, h.Product.ID)
	}
	return out
}

func seller(id string) func(*search.Product) { return func(p *search.Product) { p.SellerID = id } }

func TestAShopsNameFindsItsProductsAndARenameMovesThem(t *testing.T) {
	t.Parallel()
	x := open(t, t.TempDir())
	applyShops(t, x, search.Shop{SellerID: "s1", Name: "Marigold Mercantile", Version: 1})
	apply(t, x, product("p1", 1), product("p2", 1, title("Brass Floor Lamp")), product("p3", 1, seller("s2")))
	applyShops(t, x, search.Shop{SellerID: "s2", Name: "Kestrel & Wren", Version: 1})
	cases := []struct {
		name  string
		words string
		want  []string
	}{
		{"a product written after its shop is found by the shop's name", "marigold mercantile", []string{"p1", "p2"}},
		{"a word of the name finds them, stemmed, with a typo or as a prefix", "mercantil", []string{"p1", "p2"}},
		{"a product written before its shop is found once the shop is read", "kestrel", []string{"p3"}},
		{"the name and a product word narrow down", "marigold floor", []string{"p2"}},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, ids(t, x, c.words)); diff != "" {
			t.Errorf("%s: %q (-want +got):\n%s", c.name, c.words, diff)
		}
	}
	applyShops(t, x, search.Shop{SellerID: "s1", Name: "Hollowbrook Trading", Version: 2})
	if got := ids(t, x, "hollowbrook"); !cmp.Equal(got, []string{"p1", "p2"}) {
		t.Errorf("after the rename, the new name finds %v, want p1 and p2", got)
	}
	if got := ids(t, x, "marigold"); len(got) != 0 {
		t.Errorf("after the rename, the old name still finds %v", got)
	}
	if got := ids(t, x, "electronics lamp"); len(got) != 3 {
		t.Errorf("a re-indexed product lost its category words: found %v", got)
	}
}

func TestAnOldOrRepeatedShopChangesNothing(t *testing.T) {
	t.Parallel()
	x := open(t, t.TempDir())
	apply(t, x, product("p1", 1))
	applyShops(t, x, search.Shop{SellerID: "s1", Name: "Marigold Mercantile", Version: 1},
		search.Shop{SellerID: "s1", Name: "Hollowbrook Trading", Version: 2})
	cases := []struct {
		name string
		shop search.Shop
	}{
		{"the same version again (a repeated read)", search.Shop{SellerID: "s1", Name: "Hollowbrook Trading", Version: 2}},
		{"an older version (a late read)", search.Shop{SellerID: "s1", Name: "Marigold Mercantile", Version: 1}},
	}
	for _, c := range cases {
		if applied := applyShops(t, x, c.shop); len(applied) != 0 {
			t.Errorf("%s: applied %v", c.name, applied)
		}
		if got := ids(t, x, "hollowbrook"); !cmp.Equal(got, []string{"p1"}) {
			t.Errorf("%s: the newest name finds %v, want p1", c.name, got)
		}
		if got := ids(t, x, "marigold"); len(got) != 0 {
			t.Errorf("%s: the old name finds %v", c.name, got)
		}
	}
	if sh, _ := x.Shop("s1"); sh.Version != 2 {
		t.Errorf("held shop version %d, want 2", sh.Version)
	}
}

func TestAReopenedIndexKeepsItsShops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	x, err := searchindex.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.ApplyShops(ctx, []search.Shop{{SellerID: "s1", Name: "Copperfield Goods", Version: 3}}, withCategory); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	y := open(t, dir)
	apply(t, y, product("p1", 1))
	if got := ids(t, y, "copperfield"); !cmp.Equal(got, []string{"p1"}) {
		t.Errorf("a product written after the reopen: the shop's name finds %v, want p1", got)
	}
	if applied := applyShops(t, y, search.Shop{SellerID: "s1", Name: "Copperfield Goods", Version: 3}); len(applied) != 0 {
		t.Errorf("the reopened index applied a shop version it held: %v", applied)
	}
}

// BenchmarkRenameAShop measures what a rename costs the index: the
// re-index of one seller's n products under the new name, one batch,
// beside the baseline of writing the same n products as new versions (what
// n product events cost, grouped into one write).
//
//	go test ./internal/search/searchindex -run '^$' -bench RenameAShop -count 5
func BenchmarkRenameAShop(b *testing.B) {
	const n = 500
	x, err := searchindex.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = x.Close() })
	docs := make([]search.Doc, n)
	for i := range docs {
		docs[i] = withCategory(product(fmt.Sprintf("p%04d", i), 1, title(fmt.Sprintf("Brass Desk Lamp %d", i))))
	}
	if _, err := x.Apply(ctx, docs); err != nil {
		b.Fatal(err)
	}
	version := int64(1)
	b.Run("baseline: write the seller's 500 products again", func(b *testing.B) {
		for b.Loop() {
			version++
			for i := range docs {
				docs[i].Version = version
			}
			if _, err := x.Apply(ctx, docs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rename the shop of 500 products", func(b *testing.B) {
		for b.Loop() {
			version++
			if _, err := x.ApplyShops(ctx, []search.Shop{{SellerID: "s1", Name: fmt.Sprintf("Shop %d", version), Version: version}}, withCategory); err != nil {
				b.Fatal(err)
			}
		}
	})
}

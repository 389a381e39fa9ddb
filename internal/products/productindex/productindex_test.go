package productindex_test

import (
	"context"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/products"
	"github.com/marketplace-go/marketplace/internal/products/productindex"
)

func product(id string, version int64, status, title string) products.Product {
	return products.Product{ID: id, Version: version, Status: status, Title: title, Category: "lamps",
		Price: products.Money{Amount: 1000, Currency: "EUR"}, CreatedAt: time.Unix(int64(len(id)), 0)}
}

func titles(t *testing.T, x *productindex.Index) []string {
	t.Helper()
	items, err := x.ListProducts(context.Background(), products.Query{Statuses: []string{products.StatusActive}, Sort: products.SortTitle, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range items {
		out = append(out, p.Title)
	}
	return out
}

func TestPutKeepsTheNewestVersionOfEachProductAndOnlyActiveOnes(t *testing.T) {
	tests := []struct {
		name string
		puts []products.Product
		want []string
	}{
		{"an active product is listed", []products.Product{product("a", 1, "active", "A1")}, []string{"A1"}},
		{"a draft is not", []products.Product{product("a", 1, "draft", "A1")}, nil},
		{"a newer version replaces an older one", []products.Product{product("a", 1, "active", "A1"), product("a", 2, "active", "A2")}, []string{"A2"}},
		{"an older version arriving late changes nothing", []products.Product{product("a", 2, "active", "A2"), product("a", 1, "active", "A1")}, []string{"A2"}},
		{"archiving removes", []products.Product{product("a", 1, "active", "A1"), product("a", 2, "archived", "A1")}, nil},
		{"a stale active copy does not bring an archived product back", []products.Product{product("a", 2, "archived", "A1"), product("a", 1, "active", "A1")}, nil},
		{"publishing a draft lists it", []products.Product{product("a", 1, "draft", "A1"), product("a", 2, "active", "A2")}, []string{"A2"}},
		{"products are independent", []products.Product{product("a", 1, "active", "A"), product("bb", 1, "active", "B")}, []string{"A", "B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := productindex.New()
			for _, p := range tt.puts {
				x.Put(p)
			}
			got := titles(t, x)
			if len(got) != len(tt.want) || x.Len() != len(tt.want) {
				t.Fatalf("listed %v (Len %d), want %v", got, x.Len(), tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("listed %v, want %v", got, tt.want)
				}
			}
		})
	}
}

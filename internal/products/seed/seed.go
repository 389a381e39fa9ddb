// Package seed generates the demo catalog: a category tree with facets and
// thousands of products with varied attributes. Generation is deterministic
// (a fixed random seed), so every run produces the same catalog.
package seed

import (
	"fmt"
	"math/rand/v2"

	"github.com/marketplace-go/marketplace/internal/products"
)

// Categories is the demo category tree.
var Categories = []products.Category{
	{ID: "books", Name: "Books", Facets: []string{"format", "language"}},
	{ID: "fiction", Name: "Fiction", Parent: "books", Facets: []string{"genre"}},
	{ID: "non-fiction", Name: "Non-fiction", Parent: "books", Facets: []string{"subject"}},
	{ID: "electronics", Name: "Electronics", Facets: []string{"brand", "wattage"}},
	{ID: "lamps", Name: "Lamps", Parent: "electronics", Facets: []string{"colour", "dimmable"}},
	{ID: "headphones", Name: "Headphones", Parent: "electronics", Facets: []string{"wireless", "colour"}},
	{ID: "clothing", Name: "Clothing", Facets: []string{"size", "colour"}},
	{ID: "shirts", Name: "Shirts", Parent: "clothing", Facets: []string{"material"}},
	{ID: "shoes", Name: "Shoes", Parent: "clothing", Facets: []string{"eu_size"}},
}

var (
	adjectives = []string{"Classic", "Modern", "Vintage", "Compact", "Deluxe", "Essential", "Handmade", "Premium", "Rustic", "Urban", "Nordic", "Bright"}
	colours    = []string{"red", "blue", "green", "black", "white", "grey", "yellow"}
	brands     = []string{"Lumen", "Volta", "Ohmix", "Sonique", "Brightline"}
	languages  = []string{"en", "de", "fr", "es"}
	genres     = []string{"mystery", "fantasy", "romance", "sci-fi", "thriller"}
	subjects   = []string{"history", "science", "cooking", "travel", "biography"}
	sizes      = []string{"XS", "S", "M", "L", "XL"}
	materials  = []string{"cotton", "linen", "wool", "silk"}
	nouns      = map[string][]string{
		"fiction":     {"Novel", "Saga", "Tale", "Chronicle"},
		"non-fiction": {"Guide", "Handbook", "Atlas", "Memoir"},
		"lamps":       {"Desk Lamp", "Floor Lamp", "Reading Light", "Pendant"},
		"headphones":  {"Headphones", "Earbuds", "Headset"},
		"shirts":      {"Shirt", "Blouse", "Polo", "Tee"},
		"shoes":       {"Sneakers", "Boots", "Loafers", "Sandals"},
	}
	leaves = []string{"fiction", "non-fiction", "lamps", "headphones", "shirts", "shoes"}
)

// Product is one generated product and the index of its seller.
type Product struct {
	Seller int
	Draft  products.Draft
}

// Products returns n products spread over sellers sellers.
func Products(n, sellers int) []Product {
	r := rand.New(rand.NewPCG(2026, 11))
	out := make([]Product, n)
	for i := range out {
		cat := leaves[r.IntN(len(leaves))]
		out[i] = Product{Seller: r.IntN(sellers), Draft: products.Draft{
			Title:       fmt.Sprintf("%s %s %d", pick(r, adjectives), pick(r, nouns[cat]), i+1),
			Description: "A demo product of the seeded catalog.",
			Category:    cat,
			Price:       products.Money{Amount: int64(199 + r.IntN(60000)), Currency: "EUR"},
			Images:      []string{fmt.Sprintf("https://images.example.com/demo/%d.jpg", i+1)},
			Attributes:  attributes(r, cat),
			Status:      products.StatusActive,
		}}
	}
	return out
}

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

func attributes(r *rand.Rand, cat string) map[string]any {
	switch cat {
	case "fiction", "non-fiction":
		a := map[string]any{"format": pick(r, []string{"hardcover", "paperback", "ebook"}), "language": pick(r, languages),
			"isbn": fmt.Sprintf("978%010d", r.Int64N(1e10)), "pages": float64(80 + r.IntN(900))}
		if cat == "fiction" {
			a["genre"] = pick(r, genres)
		} else {
			a["subject"] = pick(r, subjects)
		}
		return a
	case "lamps":
		return map[string]any{"brand": pick(r, brands), "wattage": float64(pick(r, []int{4, 6, 9, 12, 40, 60})),
			"colour": pick(r, colours), "dimmable": r.IntN(2) == 0}
	case "headphones":
		return map[string]any{"brand": pick(r, brands), "wattage": float64(r.IntN(3) + 1), "wireless": r.IntN(3) > 0, "colour": pick(r, colours)}
	case "shirts":
		return map[string]any{"size": pick(r, sizes), "colour": pick(r, colours), "material": pick(r, materials)}
	default:
		return map[string]any{"eu_size": float64(36 + r.IntN(12)), "colour": pick(r, colours)}
	}
}

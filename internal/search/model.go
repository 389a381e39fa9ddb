// Package search is the search service's business layer: the catalog's
// public listing, search and autocomplete answered from an index that is a
// read model of the products service, kept current from its events and
// rebuilt from it when empty or behind. It knows nothing of HTTP, RabbitMQ
// or the search engine: the Engine, Source and Categories it uses are
// interfaces that searchindex, the catalog client and the event consumer
// satisfy.
package search

import (
	"context"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// Product statuses. Buyers see active products only; a seller sees their
// own drafts and archived products too.
const (
	StatusDraft    = "draft"
	StatusActive   = "active"
	StatusArchived = "archived"
)

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Product is a product as the products service describes it, field for
// field: listings answer with it in the same shape the products service
// did.
type Product struct {
	ID          string         `json:"id"`
	SellerID    string         `json:"seller_id"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Category    string         `json:"category"`
	Price       Money          `json:"price"`
	Images      []string       `json:"images"`
	Attributes  map[string]any `json:"attributes"` // string, float64 or bool values
	Status      string         `json:"status"`
	Version     int64          `json:"version"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// Category is a node of the products service's category tree.
type Category struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Parent string   `json:"parent,omitempty"`
	Facets []string `json:"facets"`
}

// Doc is what the engine indexes: a product and the words of its category
// path (ids and names of its category and their ancestors), so that a
// search for "books" finds a novel.
type Doc struct {
	Product
	CategoryWords []string
}

// Shop is the name of a seller's shop as the users service knows it.
// Version rises by one with each change of the shop, so that an old or
// repeated read of it changes nothing; ChangedAt is when the users service
// made that change, which the next read of changes starts from.
type Shop struct {
	SellerID  string    `json:"seller_id"`
	Name      string    `json:"shop_name"`
	Version   int64     `json:"version"`
	ChangedAt time.Time `json:"changed_at"`
}

// Engine is the search engine behind the service: Bleve embedded by
// default (searchindex). Its methods are safe for concurrent use.
type Engine interface {
	// Apply indexes docs, each unless the index holds the same or a newer
	// version of its product, and returns those it indexed. It returns
	// once they are durable.
	Apply(ctx context.Context, docs []Doc) ([]Doc, error)
	// ApplyShops records each shop unless the index holds the same or a
	// newer version of it (of two in shops for one seller, the newer), and
	// re-indexes that seller's products, each as doc builds it, under the
	// new name; shop and products are written together. It returns the
	// shops it recorded. Apply gives each product the name of its seller's
	// shop that the index holds when it writes the product.
	ApplyShops(ctx context.Context, shops []Shop, doc func(Product) Doc) ([]Shop, error)
	// Search answers one listing request.
	Search(ctx context.Context, r Request) (Result, error)
	// Stats describes what the index holds.
	Stats() Stats
	// Compact merges the parts the index is stored in into one, as a
	// bulk load leaves many and each search visits every part. Searches
	// and writes go on meanwhile; it returns once the merge is done.
	Compact(ctx context.Context) error
	// Close releases the index.
	Close() error
}

// Stats describe an index's content, to tell whether it is behind the
// products service and which attribute names it knows.
type Stats struct {
	Products   int64
	VersionSum int64 // the sum of the versions of the products held
	Attributes map[string]bool
	// Segments is how many parts the index is stored in; a search visits
	// every one (see Engine.Compact).
	Segments int
}

// Request is a listing as the engine answers it: the parsed query with its
// category expanded, the statuses the caller may see, and the attributes
// to count.
type Request struct {
	Query
	// Categories is the category asked for and its descendants.
	Categories []string
	// Statuses are those the caller may see.
	Statuses []string
	// FacetAttributes are counted per value. A facet's counts ignore its
	// own filter (disjunctive facets), so a shopper who picked red still
	// sees how many blue ones there are; the price buckets likewise
	// ignore the price range.
	FacetAttributes []string
	// Size is how many hits to return, after the cursor.
	Size int
	// NoFacets skips the counts (autocomplete needs none).
	NoFacets bool
}

// Hit is one product found, with its relevance score.
type Hit struct {
	Product Product
	Score   float64
}

// Result is what the engine found.
type Result struct {
	Hits   []Hit
	Total  int64
	Facets Facets
}

// Facets are the counts shown beside a result page.
type Facets struct {
	Attributes map[string][]FacetValue `json:"attributes"`
	Prices     []PriceBucket           `json:"prices"`
}

// FacetValue is one value of an attribute and how many products have it.
type FacetValue struct {
	Value any   `json:"value"`
	Count int64 `json:"count"`
}

// PriceBucket counts products whose price lies in [Min, Max) (Max 0: no
// upper bound), in minor units.
type PriceBucket struct {
	Min   int64 `json:"min"`
	Max   int64 `json:"max,omitempty"`
	Count int64 `json:"count"`
}

// PriceBucketEdges are the lower bounds of the price buckets, in minor
// units: the products service's.
var PriceBucketEdges = []int64{0, 1000, 2500, 5000, 10000, 25000, 50000}

// MaxFacetValues is how many values of one attribute a facet shows.
const MaxFacetValues = 50

// ListPage is one page of a listing.
type ListPage struct {
	page.Page[Product]
	Facets Facets `json:"facets"`
}

// Suggestion is one completion of what a shopper is typing.
type Suggestion struct {
	Text      string `json:"text"`
	ProductID string `json:"product_id"`
	Category  string `json:"category"`
}

// Package products is the catalog service's business layer: products with
// free-form attributes, a category tree, browsing and search, and the rules
// of who may change what. It knows nothing of HTTP or MongoDB; its Store,
// Cache and Publisher are interfaces the productdb, cache and events
// packages satisfy.
package products

import (
	"encoding/json"
	"time"
)

// Product statuses. Only active products are shown to buyers.
const (
	StatusDraft    = "draft"
	StatusActive   = "active"
	StatusArchived = "archived"
)

// Money is an amount in minor units (cents) of an ISO 4217 currency.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Product is one listing of a seller.
type Product struct {
	ID          string         `json:"id"`
	SellerID    string         `json:"seller_id"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Category    string         `json:"category"`
	Price       Money          `json:"price"`
	Images      []string       `json:"images"`
	Attributes  map[string]any `json:"attributes"` // values are string, float64 or bool
	Status      string         `json:"status"`
	Version     int64          `json:"version"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// Category is a node of the category tree. Facets name the attributes a
// listing of the category offers as filters with counts.
type Category struct {
	ID     string   `json:"id"` // a slug such as "books"
	Name   string   `json:"name"`
	Parent string   `json:"parent,omitempty"`
	Facets []string `json:"facets"`
}

// Draft is what a seller sends to create a product.
type Draft struct {
	Title       string
	Description string
	Category    string
	Price       Money
	Images      []string
	Attributes  map[string]any
	Status      string // draft (default) or active
}

// Patch is a partial update; nil fields stay as they are.
type Patch struct {
	Title       *string
	Description *string
	Category    *string
	Price       *Money
	Images      *[]string
	Attributes  *map[string]any
	Status      *string
}

// PendingEvent is an event stored in the same document write as the change
// it announces, so that no change can be made without its event; the relay
// publishes it and then removes it.
type PendingEvent struct {
	ID      string          `json:"id" bson:"id"`
	Type    string          `json:"type" bson:"type"`
	Version int             `json:"version" bson:"version"`
	Subject string          `json:"subject" bson:"subject"`
	Seq     int64           `json:"seq" bson:"seq"`
	Time    time.Time       `json:"time" bson:"time"`
	Data    json.RawMessage `json:"data" bson:"data"`
	// Trace is the trace context of the change (W3C traceparent and
	// friends), so the relay publishes the event in the change's trace;
	// empty when the change was not traced.
	Trace map[string]string `json:"trace,omitempty" bson:"trace,omitempty"`
}

// Package contracts holds the payloads of the events services publish to
// each other. They are the only types two services share: each is
// versioned, and a change that is not backwards compatible gets a new
// version number (and a new type) instead of altering an old one. They are
// described for humans in api/asyncapi.yaml.
package contracts

import "time"

// Product event types, also their routing keys.
const (
	ProductCreated  = "product.created"
	ProductUpdated  = "product.updated"
	ProductArchived = "product.archived"
)

// ProductEventVersion is the payload version of the product events below.
const ProductEventVersion = 1

// ProductV1 is the state of a product that other services may keep a copy
// of: the orders service keeps one to price carts and check ownership, and
// the search service indexes the whole product. Description, Images,
// Attributes and CreatedAt were added later (an additive change): an
// event published before them has a zero CreatedAt, and its consumer must
// not take the missing fields for empty ones.
type ProductV1 struct {
	ID          string         `json:"id"`
	SellerID    string         `json:"seller_id"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Category    string         `json:"category"`
	Price       int64          `json:"price"`    // minor units
	Currency    string         `json:"currency"` // ISO 4217
	Images      []string       `json:"images,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"` // string, number or boolean values
	Status      string         `json:"status"`               // draft, active or archived
	Version     int64          `json:"version"`              // increases by one with every change
	CreatedAt   time.Time      `json:"created_at,omitzero"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// Complete reports whether p carries the whole product: events published
// before the fields were added carry a part of it.
func (p ProductV1) Complete() bool { return !p.CreatedAt.IsZero() }

// ProductCreatedV1 announces a new product.
type ProductCreatedV1 struct {
	Product ProductV1 `json:"product"`
}

// ProductUpdatedV1 announces a change: the names of the fields that changed
// and the product as it is now, at its new version.
type ProductUpdatedV1 struct {
	Changed []string  `json:"changed"`
	Product ProductV1 `json:"product"`
}

// ProductArchivedV1 announces that a product was withdrawn from sale.
type ProductArchivedV1 struct {
	Product ProductV1 `json:"product"`
}

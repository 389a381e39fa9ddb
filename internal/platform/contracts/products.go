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
// of (the orders service keeps one to price carts and check ownership).
type ProductV1 struct {
	ID        string    `json:"id"`
	SellerID  string    `json:"seller_id"`
	Title     string    `json:"title"`
	Category  string    `json:"category"`
	Price     int64     `json:"price"`    // minor units
	Currency  string    `json:"currency"` // ISO 4217
	Status    string    `json:"status"`   // draft, active or archived
	Version   int64     `json:"version"`  // increases by one with every change
	UpdatedAt time.Time `json:"updated_at"`
}

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

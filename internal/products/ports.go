package products

import (
	"context"
	"errors"
	"time"
)

// Store results the service reacts to.
var (
	ErrNotFound        = errors.New("not found")
	ErrVersionConflict = errors.New("version conflict")
	ErrDuplicate       = errors.New("duplicate")
)

// Store keeps products and categories. A product and its pending events are
// written together in one document write: there are no multi-document
// transactions to rely on (FerretDB v1 has none).
type Store interface {
	InsertProduct(ctx context.Context, p Product, ev PendingEvent) error
	// InsertProducts stores new products, each with its event (evs[i] is
	// ps[i]'s), in as few writes as the store allows.
	InsertProducts(ctx context.Context, ps []Product, evs []PendingEvent) error
	// ReplaceProduct writes p if the stored version is p.Version-1, or
	// returns ErrVersionConflict; ErrNotFound if there is no such product.
	ReplaceProduct(ctx context.Context, p Product, ev PendingEvent) error
	Product(ctx context.Context, id string) (Product, error)
	// EachProduct calls each with every product, whatever its status,
	// batch at a time, in no particular order.
	EachProduct(ctx context.Context, batch int, each func([]Product) error) error
	// Summary counts the products and adds up their versions.
	Summary(ctx context.Context) (Summary, error)

	InsertCategory(ctx context.Context, c Category) error
	ReplaceCategory(ctx context.Context, c Category) error
	Categories(ctx context.Context) ([]Category, error)

	// PendingEvents returns the unpublished events of up to limit
	// products, in no particular order of products.
	PendingEvents(ctx context.Context, limit int) ([]Unpublished, error)
	// EachPending is PendingEvents that hands over each product as soon
	// as it is read, so that work on the first products overlaps reading
	// the rest; it stops at the first error each returns. A limit of 0
	// reads every pending product in one pass.
	EachPending(ctx context.Context, limit int, each func(Unpublished) error) error
	// MarkPublished removes the first n of u's events, published, from
	// its product; events already removed are no error.
	MarkPublished(ctx context.Context, u Unpublished, n int) error
}

// Unpublished is one product's pending events, in order, as read at one
// version of the product.
type Unpublished struct {
	ProductID string
	// Version and Events are the product's as read: when both still hold,
	// removing published events needs no second read.
	Version int64
	Events  []PendingEvent
}

// Cache holds read results for a short time. An entry is invalidated, for
// every instance, by deleting it.
type Cache interface {
	GetOrLoad(ctx context.Context, key string, ttl time.Duration, dst any, load func(context.Context) (any, error)) error
	Delete(ctx context.Context, keys ...string) error
}

package productdb

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/products"
)

// EachProduct calls each with the products of the whole catalog, of every
// status and without their pending events, batch at a time, in no
// particular order, from one cursor: one pass over the collection, which
// on FerretDB v1 (it pushes down equalities only) a keyset page by _id
// would cost per page.
func (s *Store) EachProduct(ctx context.Context, batch int, each func([]products.Product) error) error {
	cur, err := s.products.Find(ctx, bson.M{}, options.Find().SetProjection(bson.M{"pending": 0}).SetBatchSize(int32(batch)))
	if err != nil {
		return fmt.Errorf("find products: %w", err)
	}
	defer cur.Close(ctx)
	out := make([]products.Product, 0, batch)
	for cur.Next(ctx) {
		var d doc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("read product: %w", err)
		}
		if out = append(out, d.product()); len(out) == batch {
			if err := each(out); err != nil {
				return err
			}
			out = make([]products.Product, 0, batch)
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("read products: %w", err)
	}
	if len(out) > 0 {
		return each(out)
	}
	return nil
}

// Summary counts the products and adds up their versions.
func (s *Store) Summary(ctx context.Context) (products.Summary, error) {
	n, sum, err := s.tally(ctx, s.products, "version")
	if err != nil {
		return products.Summary{}, fmt.Errorf("summarise products: %w", err)
	}
	return products.Summary{Products: n, VersionSum: sum}, nil
}

package productdb

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/products"
)

// ProductsAfter returns up to limit products of any status with ids above
// after, in id order: a keyset page of the whole catalog for the search
// service's rebuild. MongoDB answers it from the _id index; FerretDB v1
// filters and sorts it in memory, a scan of the collection per page, which
// is why pages are large.
func (s *Store) ProductsAfter(ctx context.Context, after string, limit int) ([]products.Product, error) {
	filter := bson.M{}
	if after != "" {
		filter["_id"] = bson.M{"$gt": after}
	}
	return s.find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
}

// Summary counts the products and adds up their versions, in two reads:
// FerretDB v1 counts {$sum: 1} as zero in a $group. A write between them
// can make the two numbers disagree by one write, which a reader comparing
// them takes for a moment's lag.
func (s *Store) Summary(ctx context.Context) (products.Summary, error) {
	n, err := s.products.CountDocuments(ctx, bson.M{})
	if err != nil {
		return products.Summary{}, fmt.Errorf("count products: %w", err)
	}
	cur, err := s.products.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$group", Value: bson.M{"_id": nil, "v": bson.M{"$sum": "$version"}}}},
	})
	if err != nil {
		return products.Summary{}, fmt.Errorf("summarise products: %w", err)
	}
	defer cur.Close(ctx)
	var row struct {
		V int64 `bson:"v"`
	}
	if cur.Next(ctx) {
		if err := cur.Decode(&row); err != nil {
			return products.Summary{}, fmt.Errorf("summarise products: %w", err)
		}
	}
	if err := cur.Err(); err != nil {
		return products.Summary{}, fmt.Errorf("summarise products: %w", err)
	}
	return products.Summary{Products: n, VersionSum: row.V}, nil
}

// find returns the products filter matches, without their pending events.
func (s *Store) find(ctx context.Context, filter bson.M, opts *options.FindOptionsBuilder) ([]products.Product, error) {
	cur, err := s.products.Find(ctx, filter, opts.SetProjection(bson.M{"pending": 0}))
	if err != nil {
		return nil, fmt.Errorf("find products: %w", err)
	}
	var docs []doc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	out := make([]products.Product, len(docs))
	for i, d := range docs {
		out[i] = d.product()
	}
	return out, nil
}

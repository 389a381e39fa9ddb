package productdb

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/products"
)

// InsertCategory stores a new category.
func (s *Store) InsertCategory(ctx context.Context, c products.Category) error {
	_, err := s.categories.InsertOne(ctx, categoryDoc(c))
	if mongo.IsDuplicateKeyError(err) {
		return products.ErrDuplicate
	}
	return wrap("insert category", err)
}

// ReplaceCategory overwrites a category.
func (s *Store) ReplaceCategory(ctx context.Context, c products.Category) error {
	_, err := s.categories.ReplaceOne(ctx, bson.M{"_id": c.ID}, categoryDoc(c), options.Replace().SetUpsert(true))
	return wrap("replace category", err)
}

// Categories returns every category, by id.
func (s *Store) Categories(ctx context.Context) ([]products.Category, error) {
	cur, err := s.categories.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("find categories: %w", err)
	}
	var docs []struct {
		ID     string   `bson:"_id"`
		Name   string   `bson:"name"`
		Parent string   `bson:"parent"`
		Facets []string `bson:"facets"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read categories: %w", err)
	}
	out := make([]products.Category, len(docs))
	for i, d := range docs {
		out[i] = products.Category{ID: d.ID, Name: d.Name, Parent: d.Parent, Facets: orEmpty(d.Facets)}
	}
	return out, nil
}

func categoryDoc(c products.Category) bson.M {
	return bson.M{"_id": c.ID, "name": c.Name, "parent": c.Parent, "facets": c.Facets}
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

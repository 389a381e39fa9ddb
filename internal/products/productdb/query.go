package productdb

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/products"
)

// sortField is the stored field each order sorts on, and its direction;
// _id (a UUIDv7, unique) breaks ties in the same direction.
var sortField = map[string]struct {
	field string
	dir   int
}{
	products.SortNewest:    {"created_at", -1},
	products.SortPriceAsc:  {"price.amount", 1},
	products.SortPriceDesc: {"price.amount", -1},
	products.SortTitle:     {"title_lower", 1},
}

// ListProducts returns up to q.Limit products matching q, after q.After.
func (s *Store) ListProducts(ctx context.Context, q products.Query) ([]products.Product, error) {
	order := sortField[q.Sort]
	filter := filterOf(q)
	if q.After != nil {
		filter = bson.M{"$and": bson.A{filter, after(order.field, order.dir, cursorKey(q.After), q.After.ID)}}
	}
	return s.find(ctx, filter, options.Find().SetLimit(int64(q.Limit)).
		SetSort(bson.D{{Key: order.field, Value: order.dir}, {Key: "_id", Value: order.dir}}))
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

// cursorKey turns a cursor's key back into the stored type.
func cursorKey(c *products.Cursor) any {
	if us, ok := c.Key.(int64); ok && c.Sort == products.SortNewest {
		return time.UnixMicro(us).UTC()
	}
	return c.Key
}

// after matches documents strictly after (key, id) in the given direction.
func after(field string, dir int, key any, id string) bson.M {
	op := "$gt"
	if dir < 0 {
		op = "$lt"
	}
	return bson.M{"$or": bson.A{
		bson.M{field: bson.M{op: key}},
		bson.M{field: key, "_id": bson.M{op: id}},
	}}
}

// filterOf translates a query's filters (not its cursor). A condition that
// can be a plain equality is written as one: FerretDB hands equalities to
// PostgreSQL and filters everything else itself after reading each
// document, so they decide how many documents a query reads.
func filterOf(q products.Query) bson.M {
	f := bson.M{"status": oneOf(q.Statuses)}
	if len(q.Categories) > 0 {
		f["category"] = oneOf(q.Categories)
	}
	if q.Seller != "" {
		f["seller_id"] = q.Seller
	}
	price := bson.M{}
	if q.MinPrice != nil {
		price["$gte"] = *q.MinPrice
	}
	if q.MaxPrice != nil {
		price["$lte"] = *q.MaxPrice
	}
	if len(price) > 0 {
		f["price.amount"] = price
	}
	if len(q.Words) > 0 {
		f["title_words"] = bson.M{"$all": q.Words}
	}
	for _, a := range q.Attributes {
		f["attrs."+a.Name] = attributeCondition(a)
	}
	return f
}

// oneOf matches any of values: an equality when there is one.
func oneOf(values []string) any {
	if len(values) == 1 {
		return values[0]
	}
	return bson.M{"$in": values}
}

func attributeCondition(a products.AttributeFilter) any {
	r := bson.M{}
	if a.Equals != nil {
		_, isString := a.Equals.(string)
		if isString && a.Min == nil && a.Max == nil {
			return a.Equals
		}
		values := bson.A{a.Equals}
		if !isString && a.Text != "" {
			values = append(values, a.Text) // a number or boolean sent for a string attribute
		}
		r["$in"] = values
	}
	if a.Min != nil {
		r["$gte"] = *a.Min
	}
	if a.Max != nil {
		r["$lte"] = *a.Max
	}
	return r
}

// Facets counts, over everything q matches, the products per value of each
// named attribute and per price bucket.
func (s *Store) Facets(ctx context.Context, q products.Query, attributes []string) (products.Facets, error) {
	filter := filterOf(q)
	out := products.Facets{Attributes: map[string][]products.FacetValue{}}
	for _, name := range attributes {
		groups, err := s.countBy(ctx, filter, "$attrs."+name)
		if err != nil {
			return out, err
		}
		values := []products.FacetValue{}
		for _, g := range groups {
			if g.Value != nil {
				values = append(values, products.FacetValue{Value: normalise(g.Value), Count: g.Count})
			}
		}
		out.Attributes[name] = values
	}
	groups, err := s.countBy(ctx, filter, "$price_bucket")
	if err != nil {
		return out, err
	}
	counts := map[int]int64{}
	for _, g := range groups {
		if n, ok := g.Value.(int32); ok {
			counts[int(n)] = g.Count
		}
	}
	out.Prices = products.PriceBuckets(func(i int) int64 { return counts[i] })
	return out, nil
}

type group struct {
	Value any   `bson:"_id"`
	Count int64 `bson:"count"`
}

func (s *Store) countBy(ctx context.Context, filter bson.M, field string) ([]group, error) {
	pipeline := bson.A{
		bson.M{"$match": filter},
		bson.M{"$group": bson.M{"_id": field, "count": bson.M{"$sum": 1}}},
		bson.M{"$sort": bson.D{{Key: "count", Value: -1}, {Key: "_id", Value: 1}}},
		bson.M{"$limit": 50},
	}
	cur, err := s.products.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, fmt.Errorf("count by %s: %w", field, err)
	}
	var groups []group
	if err := cur.All(ctx, &groups); err != nil {
		return nil, fmt.Errorf("count by %s: %w", field, err)
	}
	return groups, nil
}

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

// Package productdb is the MongoDB store of the products service. It keeps
// to what both MongoDB and FerretDB v1 support: single-document writes
// (each product carries its own pending events, so a change and its event
// are one atomic write), equality/range/$in/$all queries, and $match+$group
// aggregations for facet counts.
package productdb

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/products"
)

// codeNamespaceExists is the server's answer to creating a collection that
// exists.
const codeNamespaceExists = 48

// Store implements products.Store.
type Store struct {
	products   *mongo.Collection
	categories *mongo.Collection
	writes     [64]sync.Mutex // by product id; see lock
}

var _ products.Store = (*Store)(nil)

// New returns a store over db's "products" and "categories" collections.
func New(db *mongo.Database) *Store {
	return &Store{products: db.Collection("products"), categories: db.Collection("categories")}
}

// lock serialises this process's updates of one product. FerretDB v1
// runs an update as a query followed by a write of the whole document by
// _id, so its conditional updates are not atomic: two concurrent ones can
// both match the same version, and the second write loses the first
// (with its pending event). MongoDB makes them atomic across processes.
func (s *Store) lock(productID string) func() {
	h := fnv.New32a()
	h.Write([]byte(productID))
	m := &s.writes[h.Sum32()%uint32(len(s.writes))]
	m.Lock()
	return m.Unlock
}

// EnsureIndexes creates the collections and the indexes every query path
// uses; it is idempotent. Creating the collections up front matters with an
// embedded FerretDB: a second process on the same files (`marketplace seed`
// next to `marketplace serve`) creates collections the first one would not
// know of until it restarts.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	db := s.products.Database()
	for _, name := range []string{s.products.Name(), s.categories.Name()} {
		err := db.CreateCollection(ctx, name)
		var cmdErr mongo.CommandError
		if err != nil && !(errors.As(err, &cmdErr) && cmdErr.Code == codeNamespaceExists) {
			return fmt.Errorf("create collection %s: %w", name, err)
		}
	}
	models := []mongo.IndexModel{
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "category", Value: 1}, {Key: "created_at", Value: -1}}},
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "price.amount", Value: 1}}},
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "title_lower", Value: 1}}},
		{Keys: bson.D{{Key: "seller_id", Value: 1}, {Key: "created_at", Value: -1}}},
		{Keys: bson.D{{Key: "title_words", Value: 1}}},
		{Keys: bson.D{{Key: "pending_count", Value: 1}}},
		{Keys: bson.D{{Key: "updated_at", Value: 1}}},
	}
	// Only missing indexes are created: FerretDB 1.24 (SQLite) fails on a
	// createIndexes that names an index which exists already.
	missing, err := missingIndexes(ctx, s.products, models)
	if err != nil || len(missing) == 0 {
		return err
	}
	if _, err := s.products.Indexes().CreateMany(ctx, missing); err != nil {
		return fmt.Errorf("create product indexes: %w", err)
	}
	return nil
}

// EqualityFields are the fields the store's queries match by equality, the
// ones an embedded FerretDB needs indexed its own way (mongo.IndexEqualities).
var EqualityFields = []string{"_id", "seller_id"}

func missingIndexes(ctx context.Context, coll *mongo.Collection, models []mongo.IndexModel) ([]mongo.IndexModel, error) {
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list product indexes: %w", err)
	}
	var existing []struct {
		Key bson.D `bson:"key"`
	}
	if err := cur.All(ctx, &existing); err != nil {
		return nil, fmt.Errorf("list product indexes: %w", err)
	}
	have := map[string]bool{}
	for _, ix := range existing {
		have[keyString(ix.Key)] = true
	}
	var missing []mongo.IndexModel
	for _, m := range models {
		if !have[keyString(m.Keys.(bson.D))] {
			missing = append(missing, m)
		}
	}
	return missing, nil
}

// keyString names an index by its keys and directions.
func keyString(keys bson.D) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:%v,", k.Key, k.Value)
	}
	return b.String()
}

// doc is a product as stored, with derived fields for queries.
type doc struct {
	ID          string                  `bson:"_id"`
	SellerID    string                  `bson:"seller_id"`
	Title       string                  `bson:"title"`
	TitleLower  string                  `bson:"title_lower"`
	TitleWords  []string                `bson:"title_words"`
	Description string                  `bson:"description"`
	Category    string                  `bson:"category"`
	Price       money                   `bson:"price"`
	PriceBucket int                     `bson:"price_bucket"`
	Images      []string                `bson:"images"`
	Attributes  bson.M                  `bson:"attrs"`
	Status      string                  `bson:"status"`
	Version     int64                   `bson:"version"`
	CreatedAt   time.Time               `bson:"created_at"`
	UpdatedAt   time.Time               `bson:"updated_at"`
	Pending     []products.PendingEvent `bson:"pending"`
	PendingN    int                     `bson:"pending_count"`
}

type money struct {
	Amount   int64  `bson:"amount"`
	Currency string `bson:"currency"`
}

func toDoc(p products.Product) doc {
	return doc{ID: p.ID, SellerID: p.SellerID, Title: p.Title, TitleLower: strings.ToLower(p.Title), TitleWords: products.TitleWords(p.Title),
		Description: p.Description, Category: p.Category, Price: money(p.Price), PriceBucket: products.BucketOf(p.Price.Amount),
		Images: p.Images, Attributes: bson.M(p.Attributes), Status: p.Status, Version: p.Version,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (d doc) product() products.Product {
	attrs := map[string]any{}
	for k, v := range d.Attributes {
		attrs[k] = normalise(v)
	}
	return products.Product{ID: d.ID, SellerID: d.SellerID, Title: d.Title, Description: d.Description, Category: d.Category,
		Price: products.Money(d.Price), Images: orEmpty(d.Images), Attributes: attrs, Status: d.Status, Version: d.Version,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

// normalise turns BSON numbers back into float64, as JSON would give them.
func normalise(v any) any {
	switch x := v.(type) {
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	}
	return v
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// InsertProduct stores a new product with its creation event.
func (s *Store) InsertProduct(ctx context.Context, p products.Product, ev products.PendingEvent) error {
	d := toDoc(p)
	d.Pending, d.PendingN = []products.PendingEvent{ev}, 1
	if _, err := s.products.InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return products.ErrDuplicate
		}
		return fmt.Errorf("insert product: %w", err)
	}
	return nil
}

// ReplaceProduct writes p over version p.Version-1 and appends ev to the
// product's pending events, in one single-document update.
func (s *Store) ReplaceProduct(ctx context.Context, p products.Product, ev products.PendingEvent) error {
	defer s.lock(p.ID)()
	d := toDoc(p)
	set := bson.M{"title": d.Title, "title_lower": d.TitleLower, "title_words": d.TitleWords, "description": d.Description,
		"category": d.Category, "price": d.Price, "price_bucket": d.PriceBucket, "images": d.Images, "attrs": d.Attributes,
		"status": d.Status, "version": d.Version, "updated_at": d.UpdatedAt}
	res, err := s.products.UpdateOne(ctx, bson.M{"_id": p.ID, "version": p.Version - 1},
		bson.M{"$set": set, "$push": bson.M{"pending": ev}, "$inc": bson.M{"pending_count": 1}})
	if err != nil {
		return fmt.Errorf("update product: %w", err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	n, err := s.products.CountDocuments(ctx, bson.M{"_id": p.ID})
	if err != nil {
		return fmt.Errorf("update product: %w", err)
	}
	if n == 0 {
		return products.ErrNotFound
	}
	return products.ErrVersionConflict
}

// Product loads one product.
func (s *Store) Product(ctx context.Context, id string) (products.Product, error) {
	var d doc
	err := s.products.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{"pending": 0})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return products.Product{}, products.ErrNotFound
	}
	if err != nil {
		return products.Product{}, fmt.Errorf("find product: %w", err)
	}
	return d.product(), nil
}

// PendingEvents returns up to limit unpublished events, each product's in
// order. Products come in no particular order: sorting them would make
// FerretDB read and decode every pending document to return a batch (after
// a bulk load, the whole catalog for each batch), while unsorted it stops
// at the limit. Consumers need each product's events in order, not an
// order across products.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]products.PendingEvent, error) {
	// $ne rather than $gt: FerretDB hands PostgreSQL $ne (and equality)
	// conditions but filters ranges itself, after reading every document.
	cur, err := s.products.Find(ctx, bson.M{"pending_count": bson.M{"$ne": 0}},
		options.Find().SetLimit(int64(limit)).SetProjection(bson.M{"pending": 1}))
	if err != nil {
		return nil, fmt.Errorf("find pending events: %w", err)
	}
	var docs []doc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read pending events: %w", err)
	}
	var out []products.PendingEvent
	for _, d := range docs {
		for _, ev := range d.Pending {
			if len(out) == limit {
				return out, nil
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

// MarkPublished removes a published event from its product. The update is
// conditional on the pending list being the one read, so an event appended
// meanwhile is never lost; it retries when the list changed. (A $pull with
// a condition on "pending.id" would take one round trip instead of two,
// but FerretDB v1 matches no document with that condition in an update.)
func (s *Store) MarkPublished(ctx context.Context, ev products.PendingEvent) error {
	defer s.lock(ev.Subject)()
	for range 10 {
		var d doc
		err := s.products.FindOne(ctx, bson.M{"_id": ev.Subject}, options.FindOne().SetProjection(bson.M{"pending": 1, "pending_count": 1, "version": 1})).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find product: %w", err)
		}
		rest := slices.DeleteFunc(slices.Clone(d.Pending), func(p products.PendingEvent) bool { return p.ID == ev.ID })
		if len(rest) == len(d.Pending) {
			return nil // already removed
		}
		// A write appending an event raises the version; another relay's
		// removal lowers the count: either makes this update miss and retry.
		res, err := s.products.UpdateOne(ctx, bson.M{"_id": ev.Subject, "version": d.Version, "pending_count": d.PendingN},
			bson.M{"$set": bson.M{"pending": rest, "pending_count": len(rest)}})
		if err != nil {
			return fmt.Errorf("remove published event: %w", err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
	}
	return fmt.Errorf("remove published event %s: product %s keeps changing", ev.ID, ev.Subject)
}

// ChangedSince returns every product written at or after since, whatever
// its status, without its pending events.
func (s *Store) ChangedSince(ctx context.Context, since time.Time) ([]products.Product, error) {
	filter := bson.M{}
	if !since.IsZero() {
		filter["updated_at"] = bson.M{"$gte": since}
	}
	return s.find(ctx, filter, options.Find())
}

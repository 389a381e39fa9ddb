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
	tally      Tally
	writes     [64]sync.Mutex // by product id; see lock
}

var _ products.Store = (*Store)(nil)

// Tally counts the documents of a collection and adds up an integer field
// of theirs. (*platform/mongo.DB).Tally is one that is quick on the
// embedded FerretDB too, whose own $group reads every document.
type Tally func(ctx context.Context, c *mongo.Collection, field string) (count, sum int64, err error)

// New returns a store over db's "products" and "categories" collections,
// summarising the catalog with tally.
func New(db *mongo.Database, tally Tally) *Store {
	return &Store{products: db.Collection("products"), categories: db.Collection("categories"), tally: tally}
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
	if err := syncIndexes(ctx, s.products, indexes, obsoleteIndexes); err != nil {
		return err
	}
	return s.flagUnpublished(ctx)
}

// flagUnpublished marks the documents written before the unpublished flag
// existed that still carry events, so that the relay, which looks for the
// flag, finds them. It is one scan at start and changes nothing after.
func (s *Store) flagUnpublished(ctx context.Context) error {
	_, err := s.products.UpdateMany(ctx, bson.M{"pending_count": bson.M{"$ne": 0}, "unpublished": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"unpublished": true}})
	if err != nil {
		return fmt.Errorf("flag products with unpublished events: %w", err)
	}
	return nil
}

// EqualityFields are the fields the store's queries match by equality, the
// ones an embedded FerretDB needs indexed its own way (mongo.IndexEqualities).
var EqualityFields = []string{"_id", "unpublished"}

// indexes are the indexes of the products collection: the relay finds
// products with unpublished events by their flag. Reads by _id use the
// collection's own index.
var indexes = []bson.D{{{Key: "unpublished", Value: 1}}}

// obsoleteIndexes served the public listing, which the search service
// answers now. They are dropped where an earlier version made them: each
// one made every product write slower.
var obsoleteIndexes = []bson.D{
	{{Key: "status", Value: 1}, {Key: "category", Value: 1}, {Key: "created_at", Value: -1}},
	{{Key: "status", Value: 1}, {Key: "price.amount", Value: 1}},
	{{Key: "status", Value: 1}, {Key: "title_lower", Value: 1}},
	{{Key: "seller_id", Value: 1}, {Key: "created_at", Value: -1}},
	{{Key: "title_words", Value: 1}},
	{{Key: "updated_at", Value: 1}},
}

// syncIndexes creates the indexes of want that coll lacks and drops those
// of drop that it has. Only missing indexes are created: FerretDB 1.24
// fails on a createIndexes that names an index which exists already.
func syncIndexes(ctx context.Context, coll *mongo.Collection, want, drop []bson.D) error {
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("list product indexes: %w", err)
	}
	var existing []struct {
		Name string `bson:"name"`
		Key  bson.D `bson:"key"`
	}
	if err := cur.All(ctx, &existing); err != nil {
		return fmt.Errorf("list product indexes: %w", err)
	}
	have := map[string]string{} // keys -> index name
	for _, ix := range existing {
		have[keyString(ix.Key)] = ix.Name
	}
	var missing []mongo.IndexModel
	for _, keys := range want {
		if _, ok := have[keyString(keys)]; !ok {
			missing = append(missing, mongo.IndexModel{Keys: keys})
		}
	}
	if len(missing) > 0 {
		if _, err := coll.Indexes().CreateMany(ctx, missing); err != nil {
			return fmt.Errorf("create product indexes: %w", err)
		}
	}
	for _, keys := range drop {
		if name, ok := have[keyString(keys)]; ok {
			if err := coll.Indexes().DropOne(ctx, name); err != nil {
				return fmt.Errorf("drop index %s: %w", name, err)
			}
		}
	}
	return nil
}

// keyString names an index by its keys and directions.
func keyString(keys bson.D) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:%v,", k.Key, k.Value)
	}
	return b.String()
}

// doc is a product as stored, with its pending events.
type doc struct {
	ID          string                  `bson:"_id"`
	SellerID    string                  `bson:"seller_id"`
	Title       string                  `bson:"title"`
	Description string                  `bson:"description"`
	Category    string                  `bson:"category"`
	Price       money                   `bson:"price"`
	Images      []string                `bson:"images"`
	Attributes  bson.M                  `bson:"attrs"`
	Status      string                  `bson:"status"`
	Version     int64                   `bson:"version"`
	CreatedAt   time.Time               `bson:"created_at"`
	UpdatedAt   time.Time               `bson:"updated_at"`
	Pending     []products.PendingEvent `bson:"pending"`
	PendingN    int                     `bson:"pending_count"`
	// Unpublished says whether Pending is not empty, as an equality the
	// relay's query can find through an index.
	Unpublished bool `bson:"unpublished"`
}

type money struct {
	Amount   int64  `bson:"amount"`
	Currency string `bson:"currency"`
}

func toDoc(p products.Product) doc {
	return doc{ID: p.ID, SellerID: p.SellerID, Title: p.Title,
		Description: p.Description, Category: p.Category, Price: money(p.Price),
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

// withEvent is a new product's document, carrying its creation event.
func withEvent(p products.Product, ev products.PendingEvent) doc {
	d := toDoc(p)
	d.Pending, d.PendingN, d.Unpublished = []products.PendingEvent{ev}, 1, true
	return d
}

// InsertProduct stores a new product with its creation event.
func (s *Store) InsertProduct(ctx context.Context, p products.Product, ev products.PendingEvent) error {
	if _, err := s.products.InsertOne(ctx, withEvent(p, ev)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return products.ErrDuplicate
		}
		return fmt.Errorf("insert product: %w", err)
	}
	return nil
}

// InsertProducts stores new products with their creation events in one
// insertMany. Unordered: the server may write them in parallel, and a
// duplicate id fails that product alone, reported as ErrDuplicate.
func (s *Store) InsertProducts(ctx context.Context, ps []products.Product, evs []products.PendingEvent) error {
	if len(ps) != len(evs) {
		return fmt.Errorf("insert products: %d products but %d events", len(ps), len(evs))
	}
	docs := make([]any, len(ps))
	for i, p := range ps {
		docs[i] = withEvent(p, evs[i])
	}
	if _, err := s.products.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return products.ErrDuplicate
		}
		return fmt.Errorf("insert products: %w", err)
	}
	return nil
}

// listingFields are the derived fields earlier versions stored for the
// public listing; a write removes them from the product it updates.
var listingFields = bson.M{"title_lower": "", "title_words": "", "price_bucket": ""}

// ReplaceProduct writes p over version p.Version-1 and appends ev to the
// product's pending events, in one single-document update.
func (s *Store) ReplaceProduct(ctx context.Context, p products.Product, ev products.PendingEvent) error {
	defer s.lock(p.ID)()
	d := toDoc(p)
	set := bson.M{"title": d.Title, "description": d.Description, "category": d.Category, "price": d.Price,
		"images": d.Images, "attrs": d.Attributes, "status": d.Status, "version": d.Version, "updated_at": d.UpdatedAt,
		"unpublished": true}
	res, err := s.products.UpdateOne(ctx, bson.M{"_id": p.ID, "version": p.Version - 1},
		bson.M{"$set": set, "$unset": listingFields, "$push": bson.M{"pending": ev}, "$inc": bson.M{"pending_count": 1}})
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

// PendingEvents returns the events of up to limit products that carry
// unpublished ones, as EachPending finds them.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]products.Unpublished, error) {
	var out []products.Unpublished
	err := s.EachPending(ctx, limit, func(u products.Unpublished) error {
		out = append(out, u)
		return nil
	})
	return out, err
}

// pendingBatchSize is how many products a batch of the relay's cursor
// holds: each batch is one round trip, and the relay works on a batch's
// products while the server reads the next, so a small first batch gets
// it going soon.
const pendingBatchSize = 50

// EachPending calls each with the events of up to limit products that
// carry unpublished ones, product by product as the server returns them,
// and stops at the first error each returns; a limit of 0 reads them all,
// in one pass of one cursor. Products come in no
// particular order: sorting them would make FerretDB read and decode every
// pending document to return a batch (after a bulk load, the whole
// catalog for each batch), while unsorted it reads each once. Consumers
// need each product's events in order, not an order across products.
func (s *Store) EachPending(ctx context.Context, limit int, each func(products.Unpublished) error) error {
	opts := options.Find().SetBatchSize(pendingBatchSize).SetProjection(bson.M{"pending": 1, "version": 1})
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	cur, err := s.products.Find(ctx, bson.M{"unpublished": true}, opts)
	if err != nil {
		return fmt.Errorf("find pending events: %w", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		var d doc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("read pending events: %w", err)
		}
		if len(d.Pending) == 0 {
			continue
		}
		if err := each(products.Unpublished{ProductID: d.ID, Version: d.Version, Events: d.Pending}); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("read pending events: %w", err)
	}
	return nil
}

// MarkPublished removes the first n of u's events from its product. While
// the product is as read (same version, same events), that is one
// conditional update. Otherwise (a write appended an event, another relay
// removed some) it reads the product again and removes the published events
// by id, so an event appended meanwhile is never lost. (A $pull with a
// condition on "pending.id" would need no read, but FerretDB v1 matches no
// document with that condition in an update.)
func (s *Store) MarkPublished(ctx context.Context, u products.Unpublished, n int) error {
	defer s.lock(u.ProductID)()
	published := map[string]bool{}
	for _, ev := range u.Events[:n] {
		published[ev.ID] = true
	}
	version, pending := u.Version, u.Events
	for range 10 {
		rest := slices.DeleteFunc(slices.Clone(pending), func(p products.PendingEvent) bool { return published[p.ID] })
		if len(rest) == len(pending) {
			return nil // already removed
		}
		// A write appending an event raises the version; another relay's
		// removal lowers the count: either makes this update miss.
		res, err := s.products.UpdateOne(ctx, bson.M{"_id": u.ProductID, "version": version, "pending_count": len(pending)},
			bson.M{"$set": bson.M{"pending": rest, "pending_count": len(rest), "unpublished": len(rest) > 0}})
		if err != nil {
			return fmt.Errorf("remove published events: %w", err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
		var d doc
		err = s.products.FindOne(ctx, bson.M{"_id": u.ProductID}, options.FindOne().SetProjection(bson.M{"pending": 1, "version": 1})).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find product: %w", err)
		}
		version, pending = d.Version, d.Pending
	}
	return fmt.Errorf("remove published events of product %s: it keeps changing", u.ProductID)
}

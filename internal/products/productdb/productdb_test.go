package productdb_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/marketplace-go/marketplace/internal/platform/mongo/mongotest"
	"github.com/marketplace-go/marketplace/internal/products"
	"github.com/marketplace-go/marketplace/internal/products/productdb"
)

// newStore returns a store over a fresh database of the test server (an
// embedded FerretDB unless MONGODB_URI is set), with its indexes.
func newStore(t *testing.T) *productdb.Store {
	t.Helper()
	s := productdb.New(mongotest.New(t), mongotest.Server(t).Tally)
	if err := s.EnsureIndexes(t.Context()); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return s
}

// ms is a time as BSON keeps it: UTC, to the millisecond.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

var created = ms(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))

// product returns an active product of seller, created i minutes after
// created, with the fields given in change applied.
func product(seller string, i int, change func(*products.Product)) products.Product {
	at := created.Add(time.Duration(i) * time.Minute)
	p := products.Product{ID: uuid.Must(uuid.NewV7()).String(), SellerID: seller, Title: fmt.Sprintf("Product %02d", i),
		Description: "A product", Category: "lamps", Price: products.Money{Amount: 1000, Currency: "EUR"},
		Images: []string{}, Attributes: map[string]any{}, Status: products.StatusActive, Version: 1, CreatedAt: at, UpdatedAt: at}
	if change != nil {
		change(&p)
	}
	return p
}

// event returns the pending event of p's current version.
func event(p products.Product, typ string) products.PendingEvent {
	return products.PendingEvent{ID: uuid.NewString(), Type: typ, Version: 1, Subject: p.ID, Seq: p.Version,
		Time: p.UpdatedAt, Data: json.RawMessage(fmt.Sprintf(`{"title":%q}`, p.Title))}
}

func mustInsert(t *testing.T, s *productdb.Store, ps ...products.Product) {
	t.Helper()
	for _, p := range ps {
		if err := s.InsertProduct(t.Context(), p, event(p, "product.created")); err != nil {
			t.Fatalf("InsertProduct %s: %v", p.Title, err)
		}
	}
}

func TestAProductReadsBackAsWritten(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p := product("seller-1", 0, func(p *products.Product) {
		p.Images = []string{"https://img.example/1.jpg"}
		p.Attributes = map[string]any{"colour": "red", "watts": 40.0, "dimmable": true}
	})
	mustInsert(t, s, p)
	got, err := s.Product(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("Product (-want +got):\n%s", diff)
	}
	if err := s.InsertProduct(ctx, p, event(p, "product.created")); !errors.Is(err, products.ErrDuplicate) {
		t.Errorf("inserting the same id again: %v, want ErrDuplicate", err)
	}
	if _, err := s.Product(ctx, uuid.NewString()); !errors.Is(err, products.ErrNotFound) {
		t.Errorf("Product of an unknown id: %v, want ErrNotFound", err)
	}
}

func TestReplaceProductWritesOverTheVersionBeforeOnly(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p := product("seller-1", 0, nil)
	mustInsert(t, s, p)
	p2 := p
	p2.Title, p2.Version, p2.UpdatedAt = "Renamed", 2, p.UpdatedAt.Add(time.Second)
	if err := s.ReplaceProduct(ctx, p2, event(p2, "product.updated")); err != nil {
		t.Fatalf("ReplaceProduct v2: %v", err)
	}
	if err := s.ReplaceProduct(ctx, p2, event(p2, "product.updated")); !errors.Is(err, products.ErrVersionConflict) {
		t.Errorf("replacing version 1 again: %v, want ErrVersionConflict", err)
	}
	ghost := product("seller-1", 1, func(p *products.Product) { p.Version = 2 })
	if err := s.ReplaceProduct(ctx, ghost, event(ghost, "product.updated")); !errors.Is(err, products.ErrNotFound) {
		t.Errorf("replacing a product that does not exist: %v, want ErrNotFound", err)
	}
	if got, err := s.Product(ctx, p.ID); err != nil || got.Title != "Renamed" || got.Version != 2 {
		t.Errorf("Product = %+v, %v; want version 2", got, err)
	}
}

func TestOfConcurrentWritesOverOneVersionExactlyOneWinsAndNoEventIsLost(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	p := product("seller-1", 0, nil)
	mustInsert(t, s, p)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []string
		lost int
	)
	start := make(chan struct{})
	for i := range 8 {
		wg.Go(func() {
			next := p
			next.Title, next.Version = fmt.Sprintf("Writer %d", i), 2
			ev := event(next, "product.updated")
			<-start
			switch err := s.ReplaceProduct(t.Context(), next, ev); {
			case err == nil:
				mu.Lock()
				won = append(won, ev.ID)
				mu.Unlock()
			case errors.Is(err, products.ErrVersionConflict):
				mu.Lock()
				lost++
				mu.Unlock()
			default:
				t.Errorf("ReplaceProduct: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(won) != 1 || lost != 7 {
		t.Fatalf("%d writes won, %d lost; want 1 and 7", len(won), lost)
	}
	pending := pendingOf(t, s, p.ID)
	if len(pending) != 2 || pending[1].ID != won[0] {
		t.Errorf("pending events %v, want the creation and the winner's update %s", eventIDs(pending), won[0])
	}
}

// pendingOf returns the unpublished events of one product, in order.
func pendingOf(t *testing.T, s *productdb.Store, productID string) []products.PendingEvent {
	t.Helper()
	all, err := s.PendingEvents(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range all {
		if u.ProductID == productID {
			return u.Events
		}
	}
	return nil
}

func eventIDs(evs []products.PendingEvent) []string {
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return ids
}

func TestPublishedEventsLeaveTheirProductAndLaterOnesStay(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	p, q := product("seller-1", 0, nil), product("seller-1", 1, nil)
	mustInsert(t, s, p, q)
	p2 := p
	p2.Version, p2.Title = 2, "Second"
	second := event(p2, "product.updated")
	if err := s.ReplaceProduct(ctx, p2, second); err != nil {
		t.Fatal(err)
	}

	batch, err := s.PendingEvents(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var read products.Unpublished
	for _, u := range batch {
		if u.ProductID == p.ID {
			read = u
		}
	}
	if len(batch) != 2 || len(read.Events) != 2 || read.Events[0].Type != "product.created" || read.Events[1].ID != second.ID {
		t.Fatalf("PendingEvents = %+v, want both products, p's two events in order", batch)
	}
	if diff := cmp.Diff(second, read.Events[1]); diff != "" {
		t.Errorf("a pending event as stored (-want +got):\n%s", diff)
	}

	// A write after the read appends a third event; publishing the first
	// two must keep it.
	p3 := p2
	p3.Version, p3.Title = 3, "Third"
	third := event(p3, "product.updated")
	if err := s.ReplaceProduct(ctx, p3, third); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPublished(ctx, read, 2); err != nil {
		t.Fatal(err)
	}
	if got := eventIDs(pendingOf(t, s, p.ID)); !slices.Equal(got, []string{third.ID}) {
		t.Errorf("p's pending events after publishing two: %v, want only the third %s", got, third.ID)
	}
	if err := s.MarkPublished(ctx, read, 2); err != nil {
		t.Errorf("publishing the same events again: %v, want no error", err)
	}
	if n, err := s.PendingEvents(ctx, 1); err != nil || len(n) != 1 {
		t.Errorf("PendingEvents(1) = %d products, %v; want the limit kept", len(n), err)
	}
}

func TestEachPendingHandsOverEveryProductAcrossCursorBatchesAndStopsAtAnError(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	// More products than one batch of the store's cursor holds.
	var ps []products.Product
	for i := range 120 {
		ps = append(ps, product("seller-1", i, nil))
	}
	mustInsert(t, s, ps...)

	seen := map[string]int{}
	err := s.EachPending(ctx, 0, func(u products.Unpublished) error { // 0: all of them
		seen[u.ProductID] += len(u.Events)
		return nil
	})
	if err != nil || len(seen) != len(ps) {
		t.Fatalf("EachPending handed over %d products, %v; want %d", len(seen), err, len(ps))
	}
	for _, p := range ps {
		if seen[p.ID] != 1 {
			t.Errorf("product %s handed over with %d events, want its one", p.Title, seen[p.ID])
		}
	}

	stop := errors.New("stop")
	calls := 0
	err = s.EachPending(ctx, 1000, func(products.Unpublished) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("EachPending after an error: %d calls, %v; want 1 call and the error", calls, err)
	}
}

func TestCategoriesAreInsertedOnceReplacedAndListedByID(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	books := products.Category{ID: "books", Name: "Books", Facets: []string{"author"}}
	poetry := products.Category{ID: "poetry", Name: "Poetry", Parent: "books", Facets: []string{}}
	for _, c := range []products.Category{poetry, books} {
		if err := s.InsertCategory(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.InsertCategory(ctx, books); !errors.Is(err, products.ErrDuplicate) {
		t.Errorf("inserting books again: %v, want ErrDuplicate", err)
	}
	books.Name, books.Facets = "Books and more", []string{"author", "language"}
	comics := products.Category{ID: "comics", Name: "Comics", Facets: []string{}}
	for _, c := range []products.Category{books, comics} { // a replace may create
		if err := s.ReplaceCategory(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]products.Category{books, comics, poetry}, got); diff != "" {
		t.Errorf("categories (-want +got):\n%s", diff)
	}
}

func TestEnsureIndexesMayRunAgain(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if err := s.EnsureIndexes(t.Context()); err != nil {
		t.Errorf("a second EnsureIndexes: %v", err)
	}
}

func TestEnsureIndexesDropsTheListingIndexesOfEarlierVersions(t *testing.T) {
	t.Parallel()
	db := mongotest.New(t)
	coll := db.Collection("products")
	old := bson.D{{Key: "status", Value: 1}, {Key: "price.amount", Value: 1}}
	if _, err := coll.Indexes().CreateOne(t.Context(), mongo.IndexModel{Keys: old}); err != nil {
		t.Fatal(err)
	}
	if err := productdb.New(db, mongotest.Server(t).Tally).EnsureIndexes(t.Context()); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Indexes().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Key bson.D `bson:"key"`
	}
	if err := cur.All(t.Context(), &got); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, ix := range got {
		keys = append(keys, fmt.Sprint(ix.Key))
	}
	slices.Sort(keys)
	if want := []string{fmt.Sprint(bson.D{{Key: "_id", Value: 1}}), fmt.Sprint(bson.D{{Key: "unpublished", Value: 1}})}; !slices.Equal(keys, want) {
		t.Errorf("indexes %v, want %v", keys, want)
	}
}

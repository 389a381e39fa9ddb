package productdb_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/mongo/mongotest"
	"github.com/marketplace-go/marketplace/internal/products"
	"github.com/marketplace-go/marketplace/internal/products/productdb"
)

// newStore returns a store over a fresh database of the test server (an
// embedded FerretDB unless MONGODB_URI is set), with its indexes.
func newStore(t *testing.T) *productdb.Store {
	t.Helper()
	s := productdb.New(mongotest.New(t))
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

func TestListingsFilterAndSort(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	const alice, bob = "seller-alice", "seller-bob"
	lamp := product(alice, 0, func(p *products.Product) {
		p.Title, p.Price.Amount, p.Attributes = "Brass desk lamp", 4500, map[string]any{"colour": "gold", "watts": 40.0}
	})
	kettle := product(bob, 1, func(p *products.Product) {
		p.Title, p.Category, p.Price.Amount, p.Attributes = "Quiet kettle", "kitchen", 3000, map[string]any{"colour": "red", "watts": 2000.0}
	})
	floor := product(alice, 2, func(p *products.Product) {
		p.Title, p.Price.Amount, p.Attributes = "Floor lamp", 12000, map[string]any{"colour": "red", "watts": 60.0}
	})
	draft := product(alice, 3, func(p *products.Product) { p.Title, p.Status = "Draft lamp", products.StatusDraft })
	archived := product(bob, 4, func(p *products.Product) { p.Title, p.Status = "Old lamp", products.StatusArchived })
	mustInsert(t, s, lamp, kettle, floor, draft, archived)
	active := []string{products.StatusActive}
	price := func(v int64) *int64 { return &v }
	watts := func(v float64) *float64 { return &v }

	tests := []struct {
		name string
		q    products.Query
		want []products.Product
	}{
		{"the active ones, newest first", products.Query{Statuses: active}, []products.Product{floor, kettle, lamp}},
		{"a seller's, in every status", products.Query{Seller: alice, Statuses: []string{"draft", "active", "archived"}},
			[]products.Product{draft, floor, lamp}},
		{"in some categories", products.Query{Categories: []string{"kitchen"}, Statuses: active}, []products.Product{kettle}},
		{"within a price range", products.Query{MinPrice: price(3000), MaxPrice: price(4500), Statuses: active},
			[]products.Product{kettle, lamp}},
		{"every word of the title", products.Query{Words: []string{"lamp", "floor"}, Statuses: active}, []products.Product{floor}},
		{"an attribute equal to a text", products.Query{Attributes: []products.AttributeFilter{{Name: "colour", Equals: "red"}}, Statuses: active},
			[]products.Product{floor, kettle}},
		{"an attribute within a range", products.Query{Attributes: []products.AttributeFilter{{Name: "watts", Min: watts(50), Max: watts(100)}}, Statuses: active},
			[]products.Product{floor}},
		{"by price, low to high", products.Query{Statuses: active, Sort: products.SortPriceAsc}, []products.Product{kettle, lamp, floor}},
		{"by price, high to low", products.Query{Statuses: active, Sort: products.SortPriceDesc}, []products.Product{floor, lamp, kettle}},
		{"by title", products.Query{Statuses: active, Sort: products.SortTitle}, []products.Product{lamp, floor, kettle}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			if q.Sort == "" {
				q.Sort = products.SortNewest
			}
			q.Limit = 100
			got, err := s.ListProducts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(titles(tt.want), titles(got)); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
		})
	}
}

func titles(ps []products.Product) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Title)
	}
	return out
}

func TestListingsPageInEveryOrderWithoutSkipsOrRepeats(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	var all []products.Product
	for i := range 9 {
		// Prices and titles repeat, so the id has to break ties.
		all = append(all, product("seller-1", i/2, func(p *products.Product) {
			p.Price.Amount = int64(1000 * (i % 3))
			p.Title = fmt.Sprintf("Lamp %d", i%4)
		}))
	}
	mustInsert(t, s, all...)
	for _, sort := range []string{products.SortNewest, products.SortPriceAsc, products.SortPriceDesc, products.SortTitle} {
		t.Run(sort, func(t *testing.T) {
			q := products.Query{Statuses: []string{products.StatusActive}, Sort: sort, Limit: 100}
			want, err := s.ListProducts(t.Context(), q)
			if err != nil || len(want) != len(all) {
				t.Fatalf("one page of everything: %d, %v", len(want), err)
			}
			var got []products.Product
			q.Limit = 2
			for range len(all) {
				page, err := s.ListProducts(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page...)
				if len(page) < q.Limit {
					break
				}
				last := page[len(page)-1]
				q.After = &products.Cursor{Sort: sort, ID: last.ID, Key: cursorKey(sort, last)}
			}
			if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
				t.Errorf("pages of 2 (-one page +pages):\n%s", diff)
			}
		})
	}
}

// cursorKey is the sort key of p, as the service puts it in a cursor.
func cursorKey(sort string, p products.Product) any {
	switch sort {
	case products.SortPriceAsc, products.SortPriceDesc:
		return p.Price.Amount
	case products.SortTitle:
		return strings.ToLower(p.Title)
	}
	return p.CreatedAt.UnixMicro()
}

func ids(ps []products.Product) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func TestFacetsCountWhatTheQueryMatches(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	mustInsert(t, s,
		product("a", 0, func(p *products.Product) { p.Price.Amount, p.Attributes = 500, map[string]any{"colour": "red"} }),
		product("a", 1, func(p *products.Product) { p.Price.Amount, p.Attributes = 700, map[string]any{"colour": "red"} }),
		product("a", 2, func(p *products.Product) { p.Price.Amount, p.Attributes = 3000, map[string]any{"colour": "blue"} }),
		product("a", 3, func(p *products.Product) {
			p.Status, p.Attributes = products.StatusDraft, map[string]any{"colour": "blue"}
		}),
		product("a", 4, func(p *products.Product) { p.Category, p.Attributes = "kitchen", map[string]any{"colour": "blue"} }),
	)
	got, err := s.Facets(t.Context(), products.Query{Categories: []string{"lamps"}, Statuses: []string{products.StatusActive}}, []string{"colour", "size"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]products.FacetValue{
		"colour": {{Value: "red", Count: 2}, {Value: "blue", Count: 1}},
		"size":   {},
	}
	if diff := cmp.Diff(want, got.Attributes); diff != "" {
		t.Errorf("attribute facets (-want +got):\n%s", diff)
	}
	counts := map[int64]int64{}
	for _, b := range got.Prices {
		counts[b.Min] = b.Count
	}
	if counts[0] != 2 || counts[2500] != 1 || len(got.Prices) != len(products.PriceBucketEdges) {
		t.Errorf("price buckets %+v, want 2 under 10.00 and 1 from 25.00", got.Prices)
	}
}

func TestChangedSinceFindsEveryStatusWrittenFromThen(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	old := product("a", 0, nil)
	recent := product("a", 10, func(p *products.Product) { p.Status = products.StatusArchived })
	mustInsert(t, s, old, recent)
	got, err := s.ChangedSince(t.Context(), recent.UpdatedAt)
	if err != nil || !slices.Equal(ids(got), []string{recent.ID}) {
		t.Errorf("ChangedSince = %v, %v; want only the recent, archived product", titles(got), err)
	}
	everything, err := s.ChangedSince(t.Context(), time.Time{})
	if err != nil || len(everything) != 2 {
		t.Errorf("ChangedSince(zero) = %d, %v; want both", len(everything), err)
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

package search_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/search"
)

// categoryTree is the products service as the category lookup reads it:
// a tree an admin changes, and a count of the reads.
type categoryTree struct {
	mu    sync.Mutex
	list  []search.Category
	down  bool
	reads atomic.Int64
}

func (c *categoryTree) Categories(context.Context) ([]search.Category, error) {
	c.reads.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil, errors.New("connection refused")
	}
	return slices.Clone(c.list), nil
}

func (c *categoryTree) Export(context.Context, int, func([]search.Product) error) error { return nil }

func (c *categoryTree) Summary(context.Context) (search.Summary, error) { return search.Summary{}, nil }

// put creates or replaces category id, as an admin's PUT does.
func (c *categoryTree) put(id string, facets ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cat := search.Category{ID: id, Name: id, Facets: append([]string{}, facets...)}
	if i := slices.IndexFunc(c.list, func(x search.Category) bool { return x.ID == id }); i >= 0 {
		c.list[i] = cat
		return
	}
	c.list = append(c.list, cat)
}

// newCategoryService returns a service over an empty index whose tree
// was read once, just now, from categories.
func newCategoryService(t *testing.T, categories *categoryTree) *search.Service {
	t.Helper()
	s := search.NewService(openIndex(t), categories, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), search.Config{})
	if err := s.RefreshCategories(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWhatAnAdminAddedJustAfterTheTreeWasReadIsListedAtOnce: the fault
// suite saw a listing of a category created a moment before refused as
// unknown, because the tree held had been read less than the least time
// between reads earlier, though before the category existed. A facet
// added to a category is looked up the same way.
func TestWhatAnAdminAddedJustAfterTheTreeWasReadIsListedAtOnce(t *testing.T) {
	red := search.AttributeFilter{Name: "colour", Equals: "red", Text: "red"}
	cases := []struct {
		name  string
		admin func(*categoryTree)
		query search.Query
	}{
		{"a new category", func(c *categoryTree) { c.put("desks") },
			search.Query{Category: "desks"}},
		{"a new facet of a category, filtered on within it", func(c *categoryTree) { c.put("lamps", "colour") },
			search.Query{Category: "lamps", Attributes: []search.AttributeFilter{red}}},
		{"a new facet of a category, filtered on across the catalog", func(c *categoryTree) { c.put("lamps", "colour") },
			search.Query{Attributes: []search.AttributeFilter{red}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			categories := &categoryTree{}
			categories.put("lamps")
			s := newCategoryService(t, categories)
			tc.admin(categories)
			tc.query.Limit = 20
			if _, err := s.List(t.Context(), nil, tc.query); err != nil {
				t.Fatalf("listing right after the change: %v", err)
			}
		})
	}
}

// TestListingsNamingAnUnknownCategoryShareTheReadsOfTheTree: a stream of
// listings naming a category that does not exist gets 400s, and reads the
// tree at most once per least time between reads, not once per listing.
func TestListingsNamingAnUnknownCategoryShareTheReadsOfTheTree(t *testing.T) {
	categories := &categoryTree{}
	s := newCategoryService(t, categories)
	before := categories.reads.Load()
	const listings = 64
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, listings)
	for range listings {
		wg.Go(func() {
			_, err := s.List(context.Background(), nil, search.Query{Category: "nowhere", Limit: 20})
			errc <- err
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errc)
	for err := range errc {
		if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid || e.Fields["category"] == "" {
			t.Fatalf("a listing of an unknown category got %v, want a validation error on category", err)
		}
	}
	reads := categories.reads.Load() - before
	if most := 1 + int64(elapsed/search.MinRefresh); reads > most {
		t.Errorf("%d listings read the tree %d times in %v, want at most %d", listings, reads, elapsed, most)
	}
}

// TestWhatTheTreeLacksIsAnOutageWhileTheProductsServiceIsDown: whether
// the category or facet exists cannot be told, so the listing gets a 503
// with Retry-After rather than a 400 that would send the client away.
func TestWhatTheTreeLacksIsAnOutageWhileTheProductsServiceIsDown(t *testing.T) {
	for name, q := range map[string]search.Query{
		"a category":                      {Category: "lamps"},
		"an attribute no product has yet": {Attributes: []search.AttributeFilter{{Name: "colour", Equals: "red", Text: "red"}}},
	} {
		t.Run(name, func(t *testing.T) {
			categories := &categoryTree{}
			s := newCategoryService(t, categories)
			categories.mu.Lock()
			categories.down = true
			categories.mu.Unlock()
			q.Limit = 20
			_, err := s.List(t.Context(), nil, q)
			if e, ok := errs.As(err); !ok || e.Kind != errs.Unavailable || e.RetryAfter <= 0 {
				t.Fatalf("got %v, want categories_unavailable with Retry-After", err)
			}
		})
	}
}

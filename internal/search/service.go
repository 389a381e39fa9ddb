package search

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// Source is the products service as the search service reads it: the
// category tree, every product (all statuses) page by page in id order,
// and a summary to tell whether the index is behind.
type Source interface {
	Categories(ctx context.Context) ([]Category, error)
	// Export calls each with every product of the catalog, whatever its
	// status, up to batch at a time, in no particular order. An error from
	// each stops it and is returned.
	Export(ctx context.Context, batch int, each func([]Product) error) error
	Summary(ctx context.Context) (Summary, error)
}

// Summary counts the products of the catalog and adds up their versions:
// every write raises one product's version by one, so an index holding
// every write has the same two numbers.
type Summary struct {
	Products   int64 `json:"products"`
	VersionSum int64 `json:"version_sum"`
}

// Client-facing errors.
var (
	errUnknownCategory = errs.Validation(map[string]string{"category": "is not a known category"})
	errCategoriesDown  = &errs.Error{Kind: errs.Unavailable, Code: "categories_unavailable",
		Message: "the category tree cannot be read right now; try again shortly", RetryAfter: 5 * time.Second}
	errReindexRunning = errs.New(errs.Conflict, "reindex_running", "a reindex is running already; wait for it to finish")
)

// Config tunes the service.
type Config struct {
	// PageSize is how many products a rebuild indexes in one batch.
	PageSize int
	// MaxBatch caps the products one index write takes.
	MaxBatch int
	// Settle is how long a behind check waits between reading the
	// products service's summary and the index's: events of writes made
	// before the summary have arrived by then.
	Settle time.Duration
}

// Service implements listing, search and autocomplete over the index, and
// keeps the index current.
type Service struct {
	engine Engine
	source Source
	shops  Shops
	log    *slog.Logger
	cfg    Config
	writes chan writeRequest
	tree   atomic.Pointer[tree]
	treeMu sync.Mutex // one refresh at a time
	// treeFailed is when a read of the tree last failed; under treeMu.
	treeFailed time.Time
	rebuild    sync.Mutex // one catch-up at a time
	ready      atomic.Bool
	behind     chan struct{} // signalled when an event could not be applied as it was
	// unmerged counts the products written since the index was last
	// compacted (see compactIfDue); compacting is held while it is.
	unmerged   atomic.Int64
	compacting sync.Mutex
	// OnApplied, when set, is told of each write to the index, with
	// whether it came from events (whose lag it measures) or a rebuild.
	OnApplied func(docs []Doc, fromEvents bool)
	now       func() time.Time
}

// NewService returns a service over engine, rebuilding from source and
// reading shop names from shops.
func NewService(engine Engine, source Source, shops Shops, log *slog.Logger, cfg Config) *Service {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 500
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	s := &Service{engine: engine, source: source, shops: shops, log: log, cfg: cfg, writes: make(chan writeRequest),
		behind: make(chan struct{}, 1), now: time.Now}
	s.tree.Store(&tree{})
	return s
}

// Ready reports whether the index can answer: it held products when the
// service started, or its first rebuild has finished.
func (s *Service) Ready() error {
	if !s.ready.Load() {
		return errors.New("search: the index is being built")
	}
	return nil
}

// List returns one page of products matching q, with facet counts for the
// category's attributes and price buckets. Buyers and anonymous callers
// see active products; a seller listing their own shop (seller=<own id>)
// and an admin naming a seller also see drafts and archived ones.
func (s *Service) List(ctx context.Context, c *auth.Claims, q Query) (ListPage, error) {
	since := s.now()
	if err := q.prepare(); err != nil {
		return ListPage{}, err
	}
	r := Request{Query: q, Statuses: []string{StatusActive}, Size: page.Fetch(q.Limit)}
	if q.Seller != "" && c != nil && (c.UserID == q.Seller || c.HasRole(auth.RoleAdmin)) {
		r.Statuses = []string{StatusDraft, StatusActive, StatusArchived}
	}
	if err := s.scope(ctx, since, &r); err != nil {
		return ListPage{}, err
	}
	if err := s.checkAttributes(ctx, since, q); err != nil {
		return ListPage{}, err
	}
	res, err := s.engine.Search(ctx, r)
	if err != nil {
		return ListPage{}, fmt.Errorf("search: %w", err)
	}
	hits := page.Of(res.Hits, q.Limit, func(h Hit) any { return nil })
	out := ListPage{Page: page.Page[Product]{Items: make([]Product, len(hits.Items))}, Facets: res.Facets}
	for i, h := range hits.Items {
		out.Items[i] = h.Product
	}
	if hits.Next != "" {
		out.Next = q.cursorAt(hits.Items[len(hits.Items)-1])
	}
	return out, nil
}

// Suggestion limits.
const (
	DefaultSuggestions = 8
	MaxSuggestions     = 20
)

// Suggest completes what a shopper is typing: the titles of the active
// products that best match text, its last word taken as a prefix.
func (s *Service) Suggest(ctx context.Context, text string, limit int) ([]Suggestion, error) {
	if limit < 1 || limit > MaxSuggestions {
		return nil, errs.Validation(map[string]string{"limit": fmt.Sprintf("must be an integer from 1 to %d", MaxSuggestions)})
	}
	q := Query{Text: text, Limit: limit}
	if err := q.prepare(); err != nil {
		return nil, err
	}
	if len(q.Words) == 0 {
		return nil, errs.Validation(map[string]string{"q": "is required: the text typed so far"})
	}
	res, err := s.engine.Search(ctx, Request{Query: q, Statuses: []string{StatusActive}, Size: 4 * limit, NoFacets: true})
	if err != nil {
		return nil, fmt.Errorf("suggest: %w", err)
	}
	out := []Suggestion{}
	for _, h := range res.Hits {
		if len(out) == limit {
			break
		}
		if !slices.ContainsFunc(out, func(x Suggestion) bool { return x.Text == h.Product.Title }) {
			out = append(out, Suggestion{Text: h.Product.Title, ProductID: h.Product.ID, Category: h.Product.Category})
		}
	}
	return out, nil
}

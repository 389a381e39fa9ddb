package products

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// List returns one page of products matching q, with facet counts for the
// category's attributes and price buckets. Buyers and anonymous callers see
// active products; a seller listing their own shop (seller=<own id>) and an
// admin naming a seller also see drafts and archived ones.
func (s *Service) List(ctx context.Context, c *auth.Claims, q Query) (ListPage, error) {
	q.Sort = cmp.Or(q.Sort, SortNewest)
	q.Limit = cmp.Or(q.Limit, page.DefaultLimit)
	if err := q.Validate(); err != nil {
		return ListPage{}, err
	}
	if err := q.readCursor(); err != nil {
		return ListPage{}, err
	}
	q.Statuses = []string{StatusActive}
	if q.Seller != "" && c != nil && (c.UserID == q.Seller || c.HasRole(auth.RoleAdmin)) {
		q.Statuses = []string{StatusDraft, StatusActive, StatusArchived}
	}
	facets, err := s.scope(ctx, &q)
	if err != nil {
		return ListPage{}, err
	}
	if s.listings != nil && slices.Equal(q.Statuses, []string{StatusActive}) {
		// The index answers faster than a Redis round trip would.
		return s.loadPage(ctx, s.listings, q, facets)
	}
	var page ListPage
	key := s.listingKey(ctx, q.fingerprint()+":"+cursorKey(q)+":"+fmt.Sprint(q.Statuses, q.Limit))
	err = s.cached(ctx, key, &page, func(ctx context.Context) (any, error) { return s.loadPage(ctx, s.store, q, facets) })
	return page, err
}

func cursorKey(q Query) string {
	if q.After == nil {
		return "first"
	}
	return fmt.Sprint(q.After.Key, "/", q.After.ID)
}

// scope expands q's category to its subtree and returns the facet
// attributes it offers, its own and its ancestors'.
func (s *Service) scope(ctx context.Context, q *Query) ([]string, error) {
	if q.Category == "" {
		return nil, nil
	}
	tree, err := s.Categories(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]Category{}
	for _, c := range tree {
		byID[c.ID] = c
	}
	if _, ok := byID[q.Category]; !ok {
		return nil, errUnknownCategory
	}
	q.Categories = subtree(tree, q.Category)
	var facets []string
	for id := q.Category; id != ""; id = byID[id].Parent {
		facets = append(facets, byID[id].Facets...)
		if len(facets) > 4*MaxAttributes { // a cycle would never end
			break
		}
	}
	slices.Sort(facets)
	return slices.Compact(facets), nil
}

// subtree returns root and every category below it.
func subtree(tree []Category, root string) []string {
	children := map[string][]string{}
	for _, c := range tree {
		children[c.Parent] = append(children[c.Parent], c.ID)
	}
	out, queue := []string{}, []string{root}
	seen := map[string]bool{}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
		queue = append(queue, children[id]...)
	}
	slices.Sort(out)
	return out
}

// pageSource answers listings: the store, or the Listings read model.
type pageSource interface {
	ListProducts(ctx context.Context, q Query) ([]Product, error)
	Facets(ctx context.Context, q Query, attributes []string) (Facets, error)
}

func (s *Service) loadPage(ctx context.Context, src pageSource, q Query, facetAttrs []string) (ListPage, error) {
	limit := q.Limit
	q.Limit = page.Fetch(limit)
	items, err := src.ListProducts(ctx, q)
	if err != nil {
		return ListPage{}, fmt.Errorf("list products: %w", err)
	}
	q.Limit = limit
	lp := ListPage{Page: page.Of(items, limit, func(p Product) any { return q.cursorAt(p) })}
	q.After = nil // facets count the whole result, not the page
	lp.Facets, err = src.Facets(ctx, q, facetAttrs)
	if err != nil {
		return ListPage{}, fmt.Errorf("facet counts: %w", err)
	}
	return lp, nil
}

// Categories returns the whole category tree.
func (s *Service) Categories(ctx context.Context) ([]Category, error) {
	var list []Category
	err := s.cached(ctx, s.listingKey(ctx, "categories"), &list, func(ctx context.Context) (any, error) {
		return s.store.Categories(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("load categories: %w", err)
	}
	return list, nil
}

func (s *Service) checkCategory(ctx context.Context, id string) error {
	list, err := s.Categories(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(list, func(c Category) bool { return c.ID == id }) {
		return errUnknownCategory
	}
	return nil
}

// PutCategory creates or replaces a category, for admins. A parent must
// exist and the tree must stay a tree.
func (s *Service) PutCategory(ctx context.Context, c auth.Claims, cat Category) (Category, bool, error) {
	if !c.HasRole(auth.RoleAdmin) {
		return Category{}, false, errAdminOnly
	}
	if cat.Facets == nil {
		cat.Facets = []string{}
	}
	if err := cat.validate(); err != nil {
		return Category{}, false, err
	}
	list, err := s.store.Categories(ctx)
	if err != nil {
		return Category{}, false, fmt.Errorf("load categories: %w", err)
	}
	if err := checkParent(list, cat); err != nil {
		return Category{}, false, err
	}
	created := !slices.ContainsFunc(list, func(x Category) bool { return x.ID == cat.ID })
	if created {
		err = s.store.InsertCategory(ctx, cat)
	} else {
		err = s.store.ReplaceCategory(ctx, cat)
	}
	if errors.Is(err, ErrDuplicate) {
		err = s.store.ReplaceCategory(ctx, cat) // created concurrently: the last write wins
	}
	if err != nil {
		return Category{}, false, fmt.Errorf("save category: %w", err)
	}
	s.invalidate(ctx, invalidation{group: listingsGroup})
	return cat, created, nil
}

func checkParent(list []Category, cat Category) error {
	parent := map[string]string{}
	for _, c := range list {
		parent[c.ID] = c.Parent
	}
	if cat.Parent == "" {
		return nil
	}
	if _, ok := parent[cat.Parent]; !ok {
		return errUnknownParent
	}
	parent[cat.ID] = cat.Parent
	for id, steps := cat.Parent, 0; id != ""; id, steps = parent[id], steps+1 {
		if id == cat.ID || steps > len(parent) {
			return errCycle
		}
	}
	return nil
}

// catchUpOverlap is how far before the last catch-up began the next one
// reads: a write stamped before that moment may have become visible only
// after it, so long as it took less than this.
const catchUpOverlap = time.Minute

// maxQuiet is how long FollowWrites goes without a catch-up even when no
// write was signalled (Redis down, or a signal lost).
const maxQuiet = time.Minute

// ServeListingsFrom fills l with every product of the store and from then
// on answers the public listings from it. Call it before the service is
// used, then run FollowWrites.
func (s *Service) ServeListingsFrom(ctx context.Context, l Listings) error {
	start := s.now()
	all, err := s.store.ChangedSince(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("load the listings: %w", err)
	}
	l.Put(all...)
	s.listings, s.caughtUp = l, start
	return nil
}

// FollowWrites keeps the listings current with the writes of other
// instances and processes (this instance's own reach them at once) until
// ctx ends. Every interval it reads the listings' cache generation, which
// every write bumps: one Redis round trip. Only when it moved by more than
// this instance's own bumps, or after maxQuiet, does it read the products
// changed since the last catch-up: on the embedded FerretDB that read
// decodes the whole collection, so it runs after others' writes only.
//
// The generation minus this instance's bumps counts the others' writes. A
// bump is counted before it is sent (and uncounted if it fails), so while
// one is in flight the difference is one low: at worst a needless
// catch-up, or a write of another instance seen a tick later, never lost.
func (s *Service) FollowWrites(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	seen, last := int64(-1<<62), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gen, genErr := s.cache.Generation(ctx, listingsGroup)
		others := gen - s.bumps.Load() // generation first, then own bumps
		// Any move counts, down too: a generation that expired and started
		// again must not hide the writes that follow.
		if genErr == nil && others == seen && time.Since(last) < maxQuiet {
			continue
		}
		if err := s.catchUp(ctx); err != nil {
			s.log.WarnContext(ctx, "listings catch-up failed; retried", "err", err)
			continue
		}
		if genErr == nil {
			seen = others
		}
		last = time.Now()
	}
}

func (s *Service) catchUp(ctx context.Context) error {
	start := s.now()
	changed, err := s.store.ChangedSince(ctx, s.caughtUp.Add(-catchUpOverlap))
	if err != nil {
		return err
	}
	s.listings.Put(changed...)
	s.caughtUp = start
	return nil
}

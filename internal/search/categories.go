package search

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// tree is the category tree as last read from the products service.
type tree struct {
	byID   map[string]Category
	facets map[string]bool // every attribute some category offers as a facet
	// asked is when the read began: the tree holds every category
	// created before then.
	asked time.Time
}

func newTree(list []Category, asked time.Time) *tree {
	t := &tree{byID: map[string]Category{}, facets: map[string]bool{}, asked: asked}
	for _, c := range list {
		t.byID[c.ID] = c
		for _, f := range c.Facets {
			t.facets[f] = true
		}
	}
	return t
}

// ancestry returns id and its ancestors, nearest first.
func (t *tree) ancestry(id string) []Category {
	var out []Category
	for c, ok := t.byID[id]; ok && len(out) <= len(t.byID); c, ok = t.byID[c.Parent] {
		out = append(out, c)
	}
	return out
}

// subtree returns root and every category below it, sorted.
func (t *tree) subtree(root string) []string {
	children := map[string][]string{}
	for _, c := range t.byID {
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

// minRefresh is the least time between two reads of the tree that
// listings ask for: a category unknown here may be new, but a stream of
// requests naming a category that does not exist must not each call the
// products service. It is also the longest such a listing waits.
const minRefresh = 100 * time.Millisecond

// failedPause is how long after a failed read listings that need one get
// a 503 at once, rather than each waiting on a products service that may
// be hanging until the read's timeout.
const failedPause = time.Second

// RefreshCategories reads the category tree from the products service.
func (s *Service) RefreshCategories(ctx context.Context) error {
	s.treeMu.Lock()
	defer s.treeMu.Unlock()
	return s.refreshLocked(ctx)
}

func (s *Service) refreshLocked(ctx context.Context) error {
	asked := s.now()
	list, err := s.source.Categories(ctx)
	if err != nil {
		if ctx.Err() == nil { // a caller that left says nothing of the products service
			s.treeFailed = s.now()
		}
		return fmt.Errorf("read the category tree: %w", err)
	}
	s.tree.Store(newTree(list, asked))
	return nil
}

// treeKnowing returns a tree that knows what a listing names (a category,
// facets: knows tells) if the products service knew it when the listing
// arrived, at since: the tree held when it knows, or else one whose read
// began after since. So a category created just before a listing is never
// refused as unknown; the fault suite found such a refusal when the tree
// held had been read a moment before the category was created, and less
// than the least time between reads before the listing. Listings arriving
// while a read waits or runs share it, and such reads are minRefresh apart
// at least.
//
// When the products service cannot be read, whether what the listing
// names exists is unknown: that is our outage, a 503 with Retry-After,
// not the caller's mistake (a 400 for a category created since the last
// read sent clients away for good; the fault suite's kill of products
// found it, issue 14).
func (s *Service) treeKnowing(ctx context.Context, since time.Time, knows func(*tree) bool) (*tree, error) {
	t := s.tree.Load()
	if knows(t) {
		return t, nil
	}
	s.treeMu.Lock()
	defer s.treeMu.Unlock()
	if t = s.tree.Load(); knows(t) || !t.asked.Before(since) {
		return t, nil
	}
	if s.now().Sub(s.treeFailed) < failedPause {
		return nil, errCategoriesDown
	}
	select {
	case <-time.After(minRefresh - s.now().Sub(t.asked)): // at once when negative
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := s.refreshLocked(ctx); err != nil {
		s.log.WarnContext(ctx, "search: the category tree cannot be read to check a listing's category or facets", "err", err)
		return nil, errCategoriesDown
	}
	return s.tree.Load(), nil
}

// scope expands r's category to its subtree and sets the facet
// attributes it offers, its own and its ancestors'.
func (s *Service) scope(ctx context.Context, since time.Time, r *Request) error {
	if r.Category == "" {
		return nil
	}
	t, err := s.treeKnowing(ctx, since, func(t *tree) bool { _, ok := t.byID[r.Category]; return ok })
	if err != nil {
		return err
	}
	if _, ok := t.byID[r.Category]; !ok {
		return errUnknownCategory
	}
	r.Categories = t.subtree(r.Category)
	for _, c := range t.ancestry(r.Category) {
		r.FacetAttributes = append(r.FacetAttributes, c.Facets...)
	}
	slices.Sort(r.FacetAttributes)
	r.FacetAttributes = slices.Compact(r.FacetAttributes)
	return nil
}

// checkAttributes refuses a filter on an attribute that no product has
// and no category offers: most likely a typo, which would otherwise
// silently find nothing.
func (s *Service) checkAttributes(ctx context.Context, since time.Time, q Query) error {
	if len(q.Attributes) == 0 {
		return nil
	}
	known := s.engine.Stats().Attributes
	unknown := func(t *tree) []string {
		var names []string
		for _, a := range q.Attributes {
			if !known[a.Name] && !t.facets[a.Name] {
				names = append(names, a.Name)
			}
		}
		return names
	}
	t, err := s.treeKnowing(ctx, since, func(t *tree) bool { return len(unknown(t)) == 0 })
	if err != nil {
		return err
	}
	names := unknown(t)
	if len(names) == 0 {
		return nil
	}
	fields := map[string]string{}
	for _, name := range names {
		fields["attr."+name] = "is not an attribute of any product"
	}
	return errs.Validation(fields)
}

// FollowCategories reads the category tree every interval until ctx ends.
// Categories change rarely and announce no events; a listing naming a
// category not yet seen reads the tree at once.
func (s *Service) FollowCategories(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.RefreshCategories(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "search: category tree not refreshed; kept the last one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// doc is what the engine indexes for p: p and the words of its category
// path.
func (s *Service) doc(p Product) Doc {
	d := Doc{Product: p, CategoryWords: []string{p.Category}}
	for _, c := range s.tree.Load().ancestry(p.Category) {
		d.CategoryWords = append(d.CategoryWords, c.Name)
		if c.ID != p.Category {
			d.CategoryWords = append(d.CategoryWords, c.ID)
		}
	}
	return d
}

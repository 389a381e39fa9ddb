package search

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// tree is the category tree as last read from the products service.
type tree struct {
	byID    map[string]Category
	facets  map[string]bool // every attribute some category offers as a facet
	fetched time.Time
}

func newTree(list []Category, at time.Time) *tree {
	t := &tree{byID: map[string]Category{}, facets: map[string]bool{}, fetched: at}
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

// minRefresh is the least time between two reads of the tree that a
// listing asks for: a category unknown here may be new, but a stream of
// requests naming a category that does not exist must not each call the
// products service.
const minRefresh = time.Second

// RefreshCategories reads the category tree from the products service.
func (s *Service) RefreshCategories(ctx context.Context) error {
	s.treeMu.Lock()
	defer s.treeMu.Unlock()
	return s.refreshLocked(ctx)
}

func (s *Service) refreshLocked(ctx context.Context) error {
	list, err := s.source.Categories(ctx)
	if err != nil {
		if ctx.Err() == nil { // a caller that left says nothing of the products service
			s.treeFailed = s.now()
		}
		return fmt.Errorf("read the category tree: %w", err)
	}
	s.tree.Store(newTree(list, s.now()))
	return nil
}

// treeWith returns a tree that knows id if the products service does:
// the one held, or a fresh read when it lacks id and was not read within
// minRefresh. When the tree held lacks id and the products service cannot
// be read, whether id exists is unknown: that is our outage, a 503 with
// Retry-After, not the caller's mistake (a 400 for a category created
// since the last read sent clients away for good; the fault suite's kill
// of products found it, issue 14). A failed read also counts for
// minRefresh, so that a stream of such listings does not each wait on a
// products service that is down.
func (s *Service) treeWith(ctx context.Context, id string) (*tree, error) {
	t := s.tree.Load()
	if _, ok := t.byID[id]; ok {
		return t, nil
	}
	s.treeMu.Lock()
	defer s.treeMu.Unlock()
	if t = s.tree.Load(); t.byID[id].ID != "" || s.now().Sub(t.fetched) < minRefresh {
		return t, nil
	}
	if s.now().Sub(s.treeFailed) < minRefresh {
		return nil, errCategoriesDown
	}
	if err := s.refreshLocked(ctx); err != nil {
		s.log.WarnContext(ctx, "search: the category tree cannot be read to look up a category", "category", id, "err", err)
		return nil, errCategoriesDown
	}
	return s.tree.Load(), nil
}

// scope expands r's category to its subtree and sets the facet
// attributes it offers, its own and its ancestors'.
func (s *Service) scope(ctx context.Context, r *Request) error {
	if r.Category == "" {
		return nil
	}
	t, err := s.treeWith(ctx, r.Category)
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

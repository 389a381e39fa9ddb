package products

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
)

// categoriesEntry is the cache entry of the category tree, removed by
// every change to it.
const categoriesEntry = "categories"

// Categories returns the whole category tree.
func (s *Service) Categories(ctx context.Context) ([]Category, error) {
	var list []Category
	err := s.cached(ctx, s.key(ctx, categoriesEntry), &list, func(ctx context.Context) (any, error) {
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
	s.invalidate(ctx, categoriesEntry)
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

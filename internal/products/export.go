package products

import (
	"context"
	"fmt"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Summary counts the products of every status and adds up their versions.
// Every write raises one product's version by one, so a read model that
// has applied every write holds the same two numbers.
type Summary struct {
	Products   int64 `json:"products"`
	VersionSum int64 `json:"version_sum"`
}

// MaxExportPage is the largest page of Export.
const MaxExportPage = 1000

// ExportPage is one page of the whole catalog.
type ExportPage struct {
	Items []Product `json:"items"`
	// Next is the id to continue after; empty after the last page.
	Next string `json:"next,omitempty"`
}

// Export returns up to limit products of every status with ids above
// after, in id order, for read models that rebuild themselves from the
// catalog (the search service). It is not part of the public API: it
// shows every seller's drafts.
func (s *Service) Export(ctx context.Context, after string, limit int) (ExportPage, error) {
	if limit < 1 || limit > MaxExportPage || len(after) > 64 {
		return ExportPage{}, errs.Validation(map[string]string{"limit": fmt.Sprintf("must be an integer from 1 to %d", MaxExportPage)})
	}
	items, err := s.store.ProductsAfter(ctx, after, limit+1)
	if err != nil {
		return ExportPage{}, fmt.Errorf("export products: %w", err)
	}
	page := ExportPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.Next = items[limit-1].ID
	}
	if page.Items == nil {
		page.Items = []Product{}
	}
	return page, nil
}

// Summarise returns the catalog's Summary.
func (s *Service) Summarise(ctx context.Context) (Summary, error) {
	sum, err := s.store.Summary(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("summarise the catalog: %w", err)
	}
	return sum, nil
}

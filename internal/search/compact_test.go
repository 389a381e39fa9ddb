package search_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/search"
)

// pagedCatalog is the products service as a catch-up reads it: n active
// products, handed over in pages of the size asked for.
type pagedCatalog struct{ n int }

func (c pagedCatalog) Categories(context.Context) ([]search.Category, error) { return nil, nil }

func (c pagedCatalog) Summary(context.Context) (search.Summary, error) {
	return search.Summary{Products: int64(c.n), VersionSum: int64(c.n)}, nil
}

func (c pagedCatalog) Export(ctx context.Context, page int, fn func([]search.Product) error) error {
	now := time.Now().UTC()
	for start := 0; start < c.n; start += page {
		batch := make([]search.Product, min(page, c.n-start))
		for i := range batch {
			batch[i] = search.Product{ID: uuid.Must(uuid.NewV7()).String(), SellerID: "s1", Title: "Lamp", Category: "lamps",
				Price: search.Money{Amount: 1500, Currency: "EUR"}, Images: []string{}, Attributes: map[string]any{},
				Status: search.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
		}
		if err := fn(batch); err != nil {
			return err
		}
	}
	return nil
}

func TestACatchUpThatIndexedABulkLoadLeavesTheIndexInOneSegment(t *testing.T) {
	tests := []struct {
		name     string
		products int
		oneLeft  bool
	}{
		{"a build of a thousand products is compacted", 1000, true},
		{"a catch-up of a few products is left to Bleve's merges", 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			engine := openIndex(t)
			s := search.NewService(engine, pagedCatalog{n: tt.products}, nil, slog.New(slog.DiscardHandler), search.Config{PageSize: 10})
			p, err := s.CatchUp(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if p.Indexed != int64(tt.products) {
				t.Fatalf("indexed %d products, want %d", p.Indexed, tt.products)
			}
			if got := engine.Stats().Segments; (got == 1) != tt.oneLeft {
				t.Errorf("the index is in %d segments after the catch-up; compacted: want %t", got, tt.oneLeft)
			}
		})
	}
}

package products

import (
	"context"
	"fmt"
)

// Summary counts the products of every status and adds up their versions.
// Every write raises one product's version by one, so a read model that
// has applied every write holds the same two numbers.
type Summary struct {
	Products   int64 `json:"products"`
	VersionSum int64 `json:"version_sum"`
}

// ExportBatch is how many products Export hands on at a time.
const ExportBatch = 500

// Export calls each with every product of the catalog, whatever its status,
// ExportBatch at a time, for read models that rebuild themselves from it
// (the search service). It is not part of the public API: it shows every
// seller's drafts. An error from each stops it and is returned.
func (s *Service) Export(ctx context.Context, each func([]Product) error) error {
	if err := s.store.EachProduct(ctx, ExportBatch, each); err != nil {
		return fmt.Errorf("export products: %w", err)
	}
	return nil
}

// Summarise returns the catalog's Summary.
func (s *Service) Summarise(ctx context.Context) (Summary, error) {
	sum, err := s.store.Summary(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("summarise the catalog: %w", err)
	}
	return sum, nil
}

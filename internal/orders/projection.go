package orders

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
)

// ApplyProductEvent updates the product projection from a product event.
// Duplicates and events older than the copy held change nothing; unknown
// versions of the payload fail, so they go to the dead-letter queue rather
// than being misread.
func (s *Service) ApplyProductEvent(ctx context.Context, e events.Event) error {
	if e.Version != contracts.ProductEventVersion {
		return fmt.Errorf("product event %s: payload version %d not understood", e.ID, e.Version)
	}
	// Every product event carries the product as it is after the change.
	var body struct {
		Product contracts.ProductV1 `json:"product"`
	}
	if err := json.Unmarshal(e.Data, &body); err != nil {
		return fmt.Errorf("product event %s: %w", e.ID, err)
	}
	v := body.Product
	if checkID("id", v.ID) != nil || v.Version < 1 {
		return fmt.Errorf("product event %s: no product in it", e.ID)
	}
	p := Product{ID: v.ID, SellerID: v.SellerID, Title: v.Title, Price: Money{Amount: v.Price, Currency: v.Currency},
		Status: v.Status, Version: v.Version}
	saved, err := s.store.SaveProduct(ctx, p, e.ID)
	if err != nil {
		return fmt.Errorf("product event %s: %w", e.ID, err)
	}
	if saved {
		// Not needed for correctness (a checkout's transaction checks the
		// versions), but the next checkout here then need not fail first.
		s.forgetPrices([]string{p.ID})
	}
	return nil
}

package search

import (
	"context"
	"fmt"
	"time"
)

// Shops is the users service as the search service reads it: the names of
// sellers' shops, so that a shopper who types a shop's name finds its
// products.
type Shops interface {
	// ShopsChanged calls each with every shop opened or renamed at or
	// after since (the zero time: every shop), a page at a time, oldest
	// change first. An error from each stops it and is returned.
	ShopsChanged(ctx context.Context, since time.Time, each func([]Shop) error) error
}

// shopsOverlap is how far before the newest change already read the next
// read of changes starts. A change is stamped when it is written and seen
// by readers only once committed, so one stamped just before the newest
// seen may commit after the read; reading again the last minute's changes
// (which versions make harmless) finds it.
const shopsOverlap = time.Minute

// SyncShops reads the shops changed since since from the users service
// and applies them: each shop newer than the index's is recorded and its
// products re-indexed under its name. It returns where the next read
// should start.
func (s *Service) SyncShops(ctx context.Context, since time.Time) (time.Time, error) {
	next := since
	err := s.shops.ShopsChanged(ctx, since, func(batch []Shop) error {
		if _, err := s.engine.ApplyShops(ctx, batch, s.doc); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		for _, sh := range batch {
			if at := sh.ChangedAt.Add(-shopsOverlap); at.After(next) {
				next = at
			}
		}
		return nil
	})
	if err != nil {
		return since, fmt.Errorf("read shop names: %w", err)
	}
	return next, nil
}

// FollowShops keeps the index's shop names current until ctx ends: it
// reads every shop at once (an index built from scratch gets its names
// here), then every interval the shops changed since. Shop names change
// rarely, as categories do, and are read the same way (without a users
// service, when shops is nil, it returns at once); a failed read is
// tried again at the next interval from where the last one succeeded.
func (s *Service) FollowShops(ctx context.Context, interval time.Duration) {
	if s.shops == nil {
		return
	}
	if len(s.tree.Load().byID) == 0 {
		// Re-indexing a shop's products needs their category words.
		_ = s.RefreshCategories(ctx)
	}
	var since time.Time
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		next, err := s.SyncShops(ctx, since)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "search: shop names not read; trying again later", "err", err, "in", interval)
		}
		since = next
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

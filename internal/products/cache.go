package products

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
)

// A product's detail is one cache entry, removed by every write to the
// product: the cache's per-key counter makes the next read on any instance
// load it afresh, and a warm read costs one Redis round trip. Listings
// carry a generation shared by all of them, which every write bumps, so
// the next read on any instance uses a new key, and a load that raced the
// write can only have stored its stale value under a key nobody reads any
// more.
const listingsGroup = "listings"

// detailKey returns the cache key of a product's detail, or "" when the
// cache may not be used (then the read goes to the store).
func (s *Service) detailKey(ctx context.Context, id string) string {
	if !s.cacheCurrent(ctx) {
		return ""
	}
	return detailEntry(id)
}

func detailEntry(id string) string { return "detail:" + id }

func (s *Service) listingKey(ctx context.Context, fingerprint string) string {
	if !s.cacheCurrent(ctx) {
		return ""
	}
	gen, err := s.cache.Generation(ctx, listingsGroup)
	if err != nil {
		return ""
	}
	return "list:" + strconv.FormatInt(gen, 10) + ":" + fingerprint
}

// cached reads through the cache, or straight from load without a key.
func (s *Service) cached(ctx context.Context, key string, dst any, load func(context.Context) (any, error)) error {
	if key == "" {
		v, err := load(ctx)
		if err != nil {
			return err
		}
		return assign(dst, v)
	}
	return s.cache.GetOrLoad(ctx, key, s.ttl, dst, load)
}

// invalidateProduct removes the cached detail of product id and bumps the
// listings' generation.
func (s *Service) invalidateProduct(ctx context.Context, id string) {
	s.invalidate(ctx, invalidation{entry: detailEntry(id)}, invalidation{group: listingsGroup})
}

// invalidate applies invs. Failing to is logged, not returned: the write
// happened. A failed invalidation is done again before this instance next
// uses the cache (see cacheCurrent); other instances may serve the old
// entries until then or their TTL.
func (s *Service) invalidate(ctx context.Context, invs ...invalidation) {
	for _, inv := range invs {
		if err := inv.apply(ctx, s.cache); err != nil {
			s.log.WarnContext(ctx, "cache invalidation failed; retried when redis answers", "entry", inv.entry, "group", inv.group, "err", err)
			s.missed.add(inv)
		}
	}
}

// invalidation is one entry to delete or one group to bump.
type invalidation struct{ entry, group string }

func (inv invalidation) apply(ctx context.Context, c Cache) error {
	if inv.group != "" {
		return c.Bump(ctx, inv.group)
	}
	return c.Delete(ctx, inv.entry)
}

// cacheCurrent reports whether reads may use the cache: no invalidation is
// outstanding. Without this, entries cached before a write made while Redis
// was unreachable would be served again once it is back.
func (s *Service) cacheCurrent(ctx context.Context) bool {
	pending := s.missed.list()
	if len(pending) == 0 {
		return true
	}
	// Generation fails fast while the cache knows Redis is down.
	if _, err := s.cache.Generation(ctx, listingsGroup); err != nil {
		return false
	}
	for inv, seq := range pending {
		if inv.apply(ctx, s.cache) != nil {
			return false
		}
		s.missed.done(inv, seq)
	}
	return true
}

// missed are the invalidations that failed, each with a sequence number
// so that a retry does not clear a failure that happened after it began.
type missed struct {
	mu      sync.Mutex
	seq     uint64
	pending map[invalidation]uint64
}

func (u *missed) add(inv invalidation) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending == nil {
		u.pending = map[invalidation]uint64{}
	}
	u.seq++
	u.pending[inv] = u.seq
}

func (u *missed) list() map[invalidation]uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return maps.Clone(u.pending)
}

func (u *missed) done(inv invalidation, seq uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending[inv] == seq {
		delete(u.pending, inv)
	}
}

// assign stores v, the value a loader returned, in *dst.
func assign(dst, v any) error {
	d := reflect.ValueOf(dst).Elem()
	val := reflect.ValueOf(v)
	if !val.Type().AssignableTo(d.Type()) {
		return fmt.Errorf("cache: cannot assign %s to %s", val.Type(), d.Type())
	}
	d.Set(val)
	return nil
}

// countingBumps counts the service's own bumps of the listings generation,
// for FollowWrites: before each is sent, and back down if it fails.
type countingBumps struct {
	Cache
	n *atomic.Int64
}

func (c countingBumps) Bump(ctx context.Context, group string) error {
	if group != listingsGroup {
		return c.Cache.Bump(ctx, group)
	}
	c.n.Add(1)
	err := c.Cache.Bump(ctx, group)
	if err != nil {
		c.n.Add(-1)
	}
	return err
}

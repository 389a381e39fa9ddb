package products

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"sync"
)

// Cache keys carry a generation: a product's own for its detail, one shared
// by all listings. A write bumps both, so the next read on any instance
// uses a new key, and a load that raced the write can only have stored its
// stale value under a key nobody reads any more.
const listingsGroup = "listings"

func productGroup(id string) string { return "product:" + id }

// detailKey returns the cache key of a product's detail, or "" when the
// cache cannot say its generation (then the read goes to the store).
func (s *Service) detailKey(ctx context.Context, id string) string {
	if !s.cacheCurrent(ctx) {
		return ""
	}
	gen, err := s.cache.Generation(ctx, productGroup(id))
	if err != nil {
		return ""
	}
	return "detail:" + id + ":" + strconv.FormatInt(gen, 10)
}

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

// invalidate bumps the generations a write to product id affects. Failing
// to is logged, not returned: the write happened. The group is bumped
// again before this instance next uses the cache (see cacheCurrent);
// other instances may serve the old entries until then or their TTL.
func (s *Service) invalidate(ctx context.Context, id string) {
	for _, g := range []string{productGroup(id), listingsGroup} {
		s.bump(ctx, g)
	}
}

func (s *Service) bump(ctx context.Context, group string) {
	if err := s.cache.Bump(ctx, group); err != nil {
		s.log.WarnContext(ctx, "cache invalidation failed; retried when redis answers", "group", group, "err", err)
		s.unbumped.add(group)
	}
}

// cacheCurrent reports whether reads may use the cache: no invalidation is
// outstanding. Without this, entries cached before a write made while Redis
// was unreachable would be served again once it is back.
func (s *Service) cacheCurrent(ctx context.Context) bool {
	pending := s.unbumped.list()
	if len(pending) == 0 {
		return true
	}
	// Generation fails fast while the cache knows Redis is down.
	if _, err := s.cache.Generation(ctx, listingsGroup); err != nil {
		return false
	}
	for group, seq := range pending {
		if s.cache.Bump(ctx, group) != nil {
			return false
		}
		s.unbumped.done(group, seq)
	}
	return true
}

// unbumped are the groups whose invalidation failed, each with a sequence
// number so that a retry does not clear a failure that happened after it
// began.
type unbumped struct {
	mu     sync.Mutex
	seq    uint64
	groups map[string]uint64
}

func (u *unbumped) add(group string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.groups == nil {
		u.groups = map[string]uint64{}
	}
	u.seq++
	u.groups[group] = u.seq
}

func (u *unbumped) list() map[string]uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return maps.Clone(u.groups)
}

func (u *unbumped) done(group string, seq uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.groups[group] == seq {
		delete(u.groups, group)
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

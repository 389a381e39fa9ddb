package products

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"time"
)

// A product's detail and the category tree are cache entries, each removed
// by every write to it: the cache's per-key counter makes the next read on
// any instance load it afresh, so a load that raced the write cannot store
// its stale value for others to read. A warm read is answered in the
// process (the cache's near tier) or costs one Redis round trip.

// detailKey returns the cache key of a product's detail, or "" when the
// cache may not be used (then the read goes to the store).
func (s *Service) detailKey(ctx context.Context, id string) string {
	return s.key(ctx, detailEntry(id))
}

func detailEntry(id string) string { return "detail:" + id }

// key returns entry, or "" when the cache may not be used: while an
// invalidation is outstanding, or when this instance caches nothing (a TTL
// under a millisecond). Then it reads no entry either, not even one
// another instance stored: "caches nothing" measures the store.
func (s *Service) key(ctx context.Context, entry string) string {
	if !s.cacheCurrent(ctx) || s.ttl < time.Millisecond {
		return ""
	}
	return entry
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

// invalidate removes cache entries. Failing to is logged, not returned:
// the write happened. A failed removal is done again before this instance
// next uses the cache (see cacheCurrent); other instances may serve the
// old entry until then or its TTL.
func (s *Service) invalidate(ctx context.Context, entries ...string) {
	for _, e := range entries {
		if err := s.cache.Delete(ctx, e); err != nil {
			s.log.WarnContext(ctx, "cache invalidation failed; retried when redis answers", "entry", e, "err", err)
			s.missed.add(e)
		}
	}
}

// cacheCurrent reports whether reads may use the cache: no invalidation is
// outstanding. Without this, entries cached before a write made while Redis
// was unreachable would be served again once it is back. A removal fails
// fast while the cache knows Redis is down.
func (s *Service) cacheCurrent(ctx context.Context) bool {
	for e, seq := range s.missed.list() {
		if s.cache.Delete(ctx, e) != nil {
			return false
		}
		s.missed.done(e, seq)
	}
	return true
}

// missed are the entries whose removal failed, each with a sequence
// number so that a retry does not clear a failure that happened after it
// began.
type missed struct {
	mu      sync.Mutex
	seq     uint64
	pending map[string]uint64
}

func (u *missed) add(entry string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending == nil {
		u.pending = map[string]uint64{}
	}
	u.seq++
	u.pending[entry] = u.seq
}

func (u *missed) list() map[string]uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return maps.Clone(u.pending)
}

func (u *missed) done(entry string, seq uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending[entry] == seq {
		delete(u.pending, entry)
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

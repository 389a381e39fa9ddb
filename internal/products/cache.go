package products

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
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
	gen, err := s.cache.Generation(ctx, productGroup(id))
	if err != nil {
		return ""
	}
	return "detail:" + id + ":" + strconv.FormatInt(gen, 10)
}

func (s *Service) listingKey(ctx context.Context, fingerprint string) string {
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
// to is logged, not returned: the write happened, and entries expire with
// their TTL anyway.
func (s *Service) invalidate(ctx context.Context, id string) {
	for _, g := range []string{productGroup(id), listingsGroup} {
		if err := s.cache.Bump(ctx, g); err != nil {
			s.log.WarnContext(ctx, "cache invalidation failed; entries expire with their TTL", "group", g, "err", err)
		}
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

package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/cache"
	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
)

func TestReadingAGenerationCreatesNoKeyAndBumpsExpire(t *testing.T) {
	rdb := cachetest.Client(t, cachetest.Addr())
	f := newCache(t, rdb)
	ctx := context.Background()
	for _, group := range []string{"product:never-written-1", "product:never-written-2"} {
		if g, err := f.Generation(ctx, group); err != nil || g != 0 {
			t.Fatalf("Generation(%s) = %d, %v; want 0 before any bump", group, g, err)
		}
	}
	if keys, _ := rdb.Keys(ctx, f.prefix+"*").Result(); len(keys) != 0 {
		t.Errorf("reads created keys %v; lookups of unknown groups must cost no memory", keys)
	}
	if err := f.Bump(ctx, "product:p1"); err != nil {
		t.Fatal(err)
	}
	g, err := f.Generation(ctx, "product:p1")
	if err != nil || g <= time.Now().Add(-time.Minute).UnixMicro() {
		t.Errorf("after a bump the generation is %d, %v; want a counter starting at the current time in microseconds", g, err)
	}
	ttl, err := rdb.PTTL(ctx, f.prefix+"gen:product:p1").Result()
	if err != nil || ttl <= cache.MaxTTL || ttl > cache.GenerationTTL {
		t.Errorf("counter TTL %v, %v; want it within (MaxTTL, GenerationTTL]", ttl, err)
	}
}

package cache_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marketplace-go/marketplace/internal/platform/cache"
	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/proxytest"
)

// newNearCache is an instance of the cache under prefix with a near tier
// whose subscription runs until the test ends, once it is live. Instances
// made with the same prefix are instances of one service.
func newNearCache(t *testing.T, rdb redis.UniversalClient, prefix string) fixture {
	t.Helper()
	f := newFixture(t, rdb, prefix, cache.WithNear(100, time.Hour))
	cache.SetTimeout(f.Cache, time.Second)
	cache.SetNearPing(f.Cache, 50*time.Millisecond)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.RunNear(ctx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	eventually.True(t, "the near tier is subscribed", func() bool { return cache.NearLive(f.Cache) })
	return f
}

// database stands for the store behind the cache: a product whose version
// each write increments.
type database struct{ version atomic.Int32 }

func (d *database) write() int { return int(d.version.Add(1)) }

func (d *database) load(context.Context) (any, error) {
	return product{ID: "p1", Version: int(d.version.Load())}, nil
}

func TestARepeatedReadIsAnsweredInTheProcess(t *testing.T) {
	f := newNearCache(t, cachetest.Client(t, cachetest.Addr()), cachetest.Prefix(t))
	var calls atomic.Int32
	get(t, f.Cache, "detail:p1", time.Minute, counting(&calls))
	if got := get(t, f.Cache, "detail:p1", time.Minute, counting(&calls)); got.Version != 1 {
		t.Errorf("second read got version %d, want 1", got.Version)
	}
	if n := f.metric(t, "cache_near_hits_total"); n != 1 {
		t.Errorf("cache_near_hits_total = %v, want 1", n)
	}
	if n := f.metric(t, "cache_hits_total"); n != 1 {
		t.Errorf("cache_hits_total = %v, want 1 (near hits are hits)", n)
	}
}

func TestTheDeletingInstanceReadsItsOwnWriteAtOnce(t *testing.T) {
	f := newNearCache(t, cachetest.Client(t, cachetest.Addr()), cachetest.Prefix(t))
	var db database
	get(t, f.Cache, "detail:p1", time.Minute, db.load) // kept near
	want := db.write()
	if err := f.Delete(context.Background(), "detail:p1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := get(t, f.Cache, "detail:p1", time.Minute, db.load); got.Version != want {
		t.Errorf("read after Delete got version %d, want %d", got.Version, want)
	}
}

func TestADeleteOnOneInstanceReachesTheNearTierOfAnother(t *testing.T) {
	prefix := cachetest.Prefix(t)
	a := newNearCache(t, cachetest.Client(t, cachetest.Addr()), prefix)
	b := newNearCache(t, cachetest.Client(t, cachetest.Addr()), prefix)
	var db database
	get(t, b.Cache, "detail:p1", time.Minute, db.load)
	get(t, b.Cache, "detail:p1", time.Minute, db.load)
	if n := b.metric(t, "cache_near_hits_total"); n != 1 {
		t.Fatalf("b's near hits = %v, want 1: the entry is not kept near", n)
	}
	want := db.write()
	if err := a.Delete(context.Background(), "detail:p1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	eventually.True(t, "b reads the write", func() bool {
		return get(t, b.Cache, "detail:p1", time.Minute, db.load).Version == want
	})
}

// A read that found the old value in Redis just before another instance's
// Delete, and heard of the Delete before it ended, must not keep the old
// value near: the message that would drop it has already come.
func TestAReadThatOverlapsADeleteDoesNotKeepWhatItRead(t *testing.T) {
	ctx := context.Background()
	prefix := cachetest.Prefix(t)
	a := newNearCache(t, cachetest.Client(t, cachetest.Addr()), prefix)
	var db database
	get(t, a.Cache, "detail:p1", time.Minute, db.load) // in Redis, version 0

	rdb := cachetest.Client(t, cachetest.Addr())
	b := newNearCache(t, rdb, prefix)
	var once sync.Once
	rdb.AddHook(afterMGet(func() {
		once.Do(func() {
			epoch := cache.NearEpoch(b.Cache)
			db.write()
			if err := a.Delete(ctx, "detail:p1"); err != nil {
				t.Errorf("Delete: %v", err)
			}
			// Within the read's Redis timeout; on another goroutine, so no
			// eventually.True.
			for deadline := time.Now().Add(500 * time.Millisecond); cache.NearEpoch(b.Cache) == epoch; {
				if time.Now().After(deadline) {
					t.Error("b did not hear of the Delete")
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}))
	if got := get(t, b.Cache, "detail:p1", time.Minute, db.load); got.Version != 0 {
		t.Fatalf("the overlapping read got version %d, want 0 (what Redis held)", got.Version)
	}
	if got := get(t, b.Cache, "detail:p1", time.Minute, db.load); got.Version != 1 {
		t.Errorf("the next read got version %d, want 1: the overlapping read kept its old value", got.Version)
	}
}

// afterMGet is a Redis hook that calls fn after each MGET is answered.
type afterMGet func()

func (h afterMGet) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h afterMGet) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h afterMGet) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "mget" {
			h()
		}
		return err
	}
}

// While an instance cannot hear invalidations, it must not answer from
// its near tier, and what it kept before must not come back after.
func TestAnInstanceThatCannotHearInvalidationsKeepsNothingNear(t *testing.T) {
	for _, tt := range []struct {
		name string
		cut  func(*proxytest.Proxy)
	}{
		{"connection reset", (*proxytest.Proxy).Stop},
		{"redis hangs", (*proxytest.Proxy).Hang},
		{"connection goes silent", (*proxytest.Proxy).Freeze},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := cachetest.Prefix(t)
			a := newNearCache(t, cachetest.Client(t, cachetest.Addr()), prefix)
			proxy := proxytest.NewProxy(t, cachetest.Addr())
			b := newNearCache(t, cachetest.Client(t, proxy.Addr()), prefix)
			var db database
			get(t, b.Cache, "detail:p1", time.Minute, db.load) // kept near

			tt.cut(proxy)
			eventually.True(t, "b's near tier is off", func() bool { return !cache.NearLive(b.Cache) })
			want := db.write()
			if err := a.Delete(ctx, "detail:p1"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			proxy.Start(t)
			eventually.True(t, "b's near tier is on again", func() bool { return cache.NearLive(b.Cache) })
			if got := get(t, b.Cache, "detail:p1", time.Minute, db.load); got.Version != want {
				t.Errorf("after the outage b read version %d, want %d", got.Version, want)
			}
		})
	}
}

// Readers and writers on two instances race on a few keys. Each writer
// must read its own write at once on its instance; once the writes stop,
// every instance must read the last one.
func TestRacingReadsAndWritesOnTwoInstancesEndOnTheLastWrite(t *testing.T) {
	ctx := context.Background()
	prefix := cachetest.Prefix(t)
	instances := []fixture{
		newNearCache(t, cachetest.Client(t, cachetest.Addr()), prefix),
		newNearCache(t, cachetest.Client(t, cachetest.Addr()), prefix),
	}
	const keys, writes, readers = 3, 40, 8
	dbs := make([]database, keys)
	key := func(k int) string { return fmt.Sprintf("detail:p%d", k) }
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range readers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % keys
				get(t, instances[r%2].Cache, key(k), time.Minute, dbs[k].load)
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 2 * keys {
		writers.Go(func() {
			k, f := w%keys, instances[w%2]
			for range writes {
				want := dbs[k].write()
				if err := f.Delete(ctx, key(k)); err != nil {
					t.Errorf("Delete: %v", err)
					return
				}
				if got := get(t, f.Cache, key(k), time.Minute, dbs[k].load); got.Version < want {
					t.Errorf("instance %d read version %d of %s after writing %d", w%2, got.Version, key(k), want)
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	for i, f := range instances {
		for k := range keys {
			want := int(dbs[k].version.Load())
			eventually.True(t, fmt.Sprintf("instance %d reads the last write of %s", i, key(k)), func() bool {
				return get(t, f.Cache, key(k), time.Minute, dbs[k].load).Version == want
			})
		}
	}
}

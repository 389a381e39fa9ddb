package cache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/marketplace-go/marketplace/internal/platform/cache"
	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
	"github.com/marketplace-go/marketplace/internal/platform/proxytest"
)

type product struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Version int    `json:"version"`
}

// fixture is a cache with its own key prefix, registry and logs.
type fixture struct {
	*cache.Cache
	prefix string
	reg    *prometheus.Registry
	logs   *logtest.Buffer
}

// newCache returns a cache over rdb under a fresh prefix whose keys are
// deleted when the test ends. Its Redis timeout is a generous second, so
// that a busy machine does not change the counts the tests check; the
// outage tests use newOutageCache.
func newCache(t *testing.T, rdb redis.UniversalClient) fixture {
	t.Helper()
	f := newFixture(t, rdb, cachetest.Prefix(t))
	cache.SetTimeout(f.Cache, time.Second)
	return f
}

// newOutageCache is newCache with the production Redis timeout (100ms).
func newOutageCache(t *testing.T, rdb redis.UniversalClient) fixture {
	t.Helper()
	return newFixture(t, rdb, cachetest.Prefix(t))
}

// newFixture is a cache over rdb under prefix, with its own registry and logs.
func newFixture(t *testing.T, rdb redis.UniversalClient, prefix string, opts ...cache.Option) fixture {
	t.Helper()
	f := fixture{prefix: prefix, reg: prometheus.NewRegistry(), logs: &logtest.Buffer{}}
	f.Cache = cache.New(rdb, prefix, f.reg, slog.New(slog.NewTextHandler(f.logs, nil)), opts...)
	return f
}

// metric reads the named counter of f's cache from its registry.
func (f fixture) metric(t *testing.T, name string) float64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == strings.TrimSuffix(f.prefix, ":") {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// counting returns a loader that counts its calls and returns version n on
// the n-th call.
func counting(calls *atomic.Int32) func(context.Context) (any, error) {
	return func(context.Context) (any, error) {
		n := int(calls.Add(1))
		return product{ID: "p1", Title: "Lamp", Version: n}, nil
	}
}

// get calls GetOrLoad and fails the test on error.
func get(t *testing.T, c *cache.Cache, key string, ttl time.Duration, load func(context.Context) (any, error)) product {
	t.Helper()
	var p product
	if err := c.GetOrLoad(context.Background(), key, ttl, &p, load); err != nil {
		t.Fatalf("GetOrLoad(%s): %v", key, err)
	}
	return p
}

func TestGetOrLoadMissesThenHitsUntilTheTTLEnds(t *testing.T) {
	rdb := cachetest.Client(t, cachetest.Addr())
	f := newCache(t, rdb)
	var calls atomic.Int32
	load := counting(&calls)
	const ttl = 300 * time.Millisecond

	want := product{ID: "p1", Title: "Lamp", Version: 1}
	for range 3 {
		if got := get(t, f.Cache, "detail:p1", ttl, load); got != want {
			t.Fatalf("GetOrLoad = %+v, want %+v", got, want)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("load called %d times, want 1", calls.Load())
	}
	if d := rdb.PTTL(context.Background(), f.prefix+"{detail:p1}").Val(); d <= 0 || d > ttl {
		t.Errorf("TTL in Redis = %v, want in (0, %v]", d, ttl)
	}
	eventually.True(t, "the entry expires", func() bool {
		return rdb.Exists(context.Background(), f.prefix+"{detail:p1}").Val() == 0
	})
	if got := get(t, f.Cache, "detail:p1", ttl, load); got.Version != 2 {
		t.Errorf("after expiry got version %d, want a reload (2)", got.Version)
	}
	if h, m := f.metric(t, "cache_hits_total"), f.metric(t, "cache_misses_total"); h != 2 || m != 2 {
		t.Errorf("hits, misses = %v, %v; want 2, 2", h, m)
	}
}

func TestConcurrentMissesLoadOnce(t *testing.T) {
	f := newCache(t, cachetest.Client(t, cachetest.Addr()))
	var calls atomic.Int32
	load := func(ctx context.Context) (any, error) {
		time.Sleep(20 * time.Millisecond) // long enough for the callers to pile up
		return counting(&calls)(ctx)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]product, 50)
	errs := make([]error, 50)
	for i := range results {
		wg.Go(func() {
			<-start
			errs[i] = f.GetOrLoad(context.Background(), "detail:p1", time.Minute, &results[i], load)
		})
	}
	close(start)
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("load called %d times for 50 concurrent misses, want 1 (Redis errors: %v)", calls.Load(), f.metric(t, "cache_errors_total"))
	}
	for i := range results {
		if errs[i] != nil || results[i].Version != 1 {
			t.Fatalf("caller %d got %+v, %v", i, results[i], errs[i])
		}
	}
}

func TestLoadErrorsAreReturnedAndNotCached(t *testing.T) {
	rdb := cachetest.Client(t, cachetest.Addr())
	f := newCache(t, rdb)
	errNotFound := errors.New("not found")
	var calls atomic.Int32
	load := func(context.Context) (any, error) { calls.Add(1); return nil, errNotFound }
	for range 2 {
		var p product
		if err := f.GetOrLoad(context.Background(), "detail:nope", time.Minute, &p, load); err != errNotFound {
			t.Fatalf("GetOrLoad = %v, want the load error itself", err)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("load called %d times, want 2 (errors are not cached)", calls.Load())
	}
	if n := rdb.Exists(context.Background(), f.prefix+"{detail:nope}").Val(); n != 0 {
		t.Errorf("a failed load left a key in Redis")
	}
}

func TestLoadPanicIsReturnedAsAnError(t *testing.T) {
	f := newCache(t, cachetest.Client(t, cachetest.Addr()))
	var p product
	err := f.GetOrLoad(context.Background(), "detail:p1", time.Minute, &p, func(context.Context) (any, error) { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("GetOrLoad = %v, want an error about the panic", err)
	}
}

func TestDeleteInvalidates(t *testing.T) {
	f := newCache(t, cachetest.Client(t, cachetest.Addr()))
	var calls atomic.Int32
	load := counting(&calls)
	get(t, f.Cache, "detail:p1", time.Minute, load)
	if err := f.Delete(context.Background(), "detail:p1", "detail:other"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := get(t, f.Cache, "detail:p1", time.Minute, load); got.Version != 2 {
		t.Errorf("after Delete got version %d, want a reload (2)", got.Version)
	}
}

// A load that read the old value before a write must not cache it after the
// write's Delete, and a reader arriving after the Delete must not share it.
func TestDeleteWinsOverALoadThatStartedBeforeIt(t *testing.T) {
	ctx := context.Background()
	f := newCache(t, cachetest.Client(t, cachetest.Addr()))
	var db atomic.Value // the "database"
	db.Store(product{ID: "p1", Title: "Old"})
	started, release := make(chan struct{}), make(chan struct{})
	slow := func(context.Context) (any, error) {
		v := db.Load()
		close(started)
		<-release
		return v, nil
	}
	fast := func(context.Context) (any, error) { return db.Load(), nil }

	first := make(chan product)
	go func() {
		var p product
		if err := f.GetOrLoad(ctx, "detail:p1", time.Minute, &p, slow); err != nil {
			t.Errorf("first reader: %v", err)
		}
		first <- p
	}()
	<-started
	db.Store(product{ID: "p1", Title: "New"}) // the write...
	if err := f.Delete(ctx, "detail:p1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// Bounded: joining the first reader's flight would wait for release.
	after, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var got product
	if err := f.GetOrLoad(after, "detail:p1", time.Minute, &got, fast); err != nil || got.Title != "New" {
		t.Errorf("reader after Delete got %q, %v; want New from its own load", got.Title, err)
	}
	close(release)
	if got := <-first; got.Title != "Old" {
		t.Errorf("first reader got %q, want the Old it loaded", got.Title)
	}
	mustNotLoad := func(context.Context) (any, error) { return product{Title: "loaded again"}, nil }
	if got := get(t, f.Cache, "detail:p1", time.Minute, mustNotLoad); got.Title != "New" {
		t.Errorf("next read got %q, want New: the stale load overwrote the cache", got.Title)
	}
}

func TestBumpInvalidatesEveryPageOfAGroupForEveryInstance(t *testing.T) {
	ctx := context.Background()
	f := newCache(t, cachetest.Client(t, cachetest.Addr()))
	other := cache.New(cachetest.Client(t, cachetest.Addr()), f.prefix, nil, slog.New(slog.DiscardHandler))
	gen := func(c *cache.Cache) int64 {
		t.Helper()
		g, err := c.Generation(ctx, "list")
		if err != nil {
			t.Fatalf("Generation: %v", err)
		}
		return g
	}
	page := func(c *cache.Cache, n int, calls *atomic.Int32) product {
		return get(t, c, fmt.Sprintf("list:%d:page=%d", gen(c), n), time.Minute, counting(calls))
	}

	g1 := gen(f.Cache)
	if g := gen(other); g != g1 {
		t.Fatalf("instances see generations %d and %d", g1, g)
	}
	var calls atomic.Int32
	page(f.Cache, 1, &calls)
	page(f.Cache, 2, &calls)
	page(other, 1, &calls) // a hit: same key on the other instance
	if calls.Load() != 2 {
		t.Fatalf("load called %d times for two pages, want 2", calls.Load())
	}
	if err := other.Bump(ctx, "list"); err != nil {
		t.Fatalf("Bump: %v", err)
	}
	if g := gen(f.Cache); g <= g1 {
		t.Errorf("generation after Bump = %d, want more than %d", g, g1)
	}
	page(f.Cache, 1, &calls)
	page(f.Cache, 2, &calls)
	if calls.Load() != 4 {
		t.Errorf("load called %d times, want 4: both pages reloaded after Bump", calls.Load())
	}
	// Bump of a group nobody read yet creates it.
	if err := f.Bump(ctx, "fresh"); err != nil {
		t.Errorf("Bump of a new group: %v", err)
	}
}

func TestRedisOutageServesLoadedValuesThenCachingResumes(t *testing.T) {
	proxy := proxytest.NewProxy(t, cachetest.Addr())
	// Default options: the client ignores context deadlines; the cache must
	// still give up on Redis quickly.
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr()})
	t.Cleanup(func() { rdb.Close() })
	f := newOutageCache(t, rdb)
	var calls atomic.Int32
	load := counting(&calls)
	get(t, f.Cache, "detail:p1", time.Minute, load)
	get(t, f.Cache, "detail:p1", time.Minute, load)

	proxy.Stop()
	start := time.Now()
	for i := range 10 {
		if got := get(t, f.Cache, "detail:p1", time.Minute, load); got.Version != 2+i {
			t.Fatalf("during the outage got version %d, want %d (loaded)", got.Version, 2+i)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10 reads during the outage took %v", d)
	}
	if err := f.Delete(context.Background(), "detail:p1"); err == nil {
		t.Errorf("Delete during the outage succeeded")
	}
	if _, err := f.Generation(context.Background(), "list"); !errors.Is(err, cache.ErrUnavailable) {
		t.Errorf("Generation during the outage = %v, want ErrUnavailable", err)
	}
	if n := f.metric(t, "cache_errors_total"); n < 1 {
		t.Errorf("cache_errors_total = %v, want at least 1", n)
	}
	if n := strings.Count(f.logs.String(), "redis unavailable"); n != 1 {
		t.Errorf("logged %d outage warnings, want 1", n)
	}

	proxy.Start(t)
	eventually.True(t, "reads are cached again", func() bool {
		before := calls.Load()
		get(t, f.Cache, "detail:p1", time.Minute, load)
		return calls.Load() == before
	})
}

func TestHangingRedisDoesNotStallReads(t *testing.T) {
	proxy := proxytest.NewProxy(t, cachetest.Addr())
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr()}) // ignores context deadlines
	t.Cleanup(func() { rdb.Close() })
	f := newOutageCache(t, rdb)
	var calls atomic.Int32
	get(t, f.Cache, "detail:p1", time.Minute, counting(&calls))

	proxy.Hang()
	start := time.Now()
	if got := get(t, f.Cache, "detail:p1", time.Minute, counting(&calls)); got.Version != 2 {
		t.Errorf("got version %d, want 2 (loaded)", got.Version)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a read with Redis hanging took %v, want about the 100ms Redis timeout", d)
	}
	proxy.Start(t)
}

func TestASlowAnswerAmongPromptOnesKeepsReadsOnTheCache(t *testing.T) {
	f := newCache(t, cachetest.Client(t, cachetest.Addr()))
	var calls atomic.Int32
	get(t, f.Cache, "detail:p1", time.Minute, counting(&calls)) // stored

	// One call that runs out of time, as on a machine whose cores are
	// busy for a moment: the read loads, and Redis is not taken for down.
	cache.SetTimeout(f.Cache, time.Nanosecond)
	if got := get(t, f.Cache, "detail:p1", time.Minute, counting(&calls)); got.Version != 2 {
		t.Fatalf("the read whose Redis call timed out got version %d, want 2 (loaded)", got.Version)
	}
	cache.SetTimeout(f.Cache, time.Second)
	if got := get(t, f.Cache, "detail:p1", time.Minute, counting(&calls)); got.Version != 1 {
		t.Errorf("the read after one slow answer got version %d, want 1 (from Redis)", got.Version)
	}
	if strings.Contains(f.logs.String(), "redis unavailable") {
		t.Errorf("one slow answer was logged as an outage: %s", f.logs)
	}
}

// TestTimeoutsThatGoOnTakeRedisForDown covers both ways timeouts become an
// outage: no call answers in time (Redis hangs), or calls keep timing out
// between prompt answers (Redis answers small values and not large ones).
func TestTimeoutsThatGoOnTakeRedisForDown(t *testing.T) {
	tests := []struct {
		name   string
		prompt bool // a prompt hit between timeouts
	}{
		{"with no call answered in time", false},
		{"with prompt answers between them", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCache(t, cachetest.Client(t, cachetest.Addr()))
			cache.SetOutageAfter(f.Cache, 50*time.Millisecond)
			cache.SetRetryAfter(f.Cache, time.Hour) // down stays down for the check
			var calls atomic.Int32
			get(t, f.Cache, "detail:p1", time.Minute, counting(&calls)) // stored

			// A tight loop, not eventually's growing pauses: with prompt
			// answers, no pause may come near outageAfter.
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(f.logs.String(), "redis unavailable") {
				if time.Now().After(deadline) {
					t.Fatal("Redis was not taken for down within 10 s of timeouts")
				}
				cache.SetTimeout(f.Cache, time.Nanosecond)
				get(t, f.Cache, "detail:p1", time.Minute, counting(&calls))
				cache.SetTimeout(f.Cache, time.Second)
				if tt.prompt {
					get(t, f.Cache, "detail:p1", time.Minute, counting(&calls))
				}
			}
			before := calls.Load()
			get(t, f.Cache, "detail:p1", time.Minute, counting(&calls))
			if calls.Load() != before+1 {
				t.Errorf("a read while Redis is down was answered from it, want it loaded")
			}
		})
	}
}

func TestMetricsOfSeveralCachesShareARegistry(t *testing.T) {
	rdb := cachetest.Client(t, cachetest.Addr())
	first := newCache(t, rdb)
	second := fixture{prefix: cachetest.Prefix(t), reg: first.reg}
	second.Cache = cache.New(rdb, second.prefix, first.reg, slog.New(slog.DiscardHandler))
	cache.New(rdb, first.prefix, nil, slog.New(slog.DiscardHandler)) // no registry: no metrics, no panic

	var calls atomic.Int32
	get(t, first.Cache, "k", time.Minute, counting(&calls))
	get(t, first.Cache, "k", time.Minute, counting(&calls))
	get(t, second.Cache, "k", time.Minute, counting(&calls))
	got := map[string]float64{}
	for _, f := range []fixture{first, second} {
		for _, m := range []string{"cache_hits_total", "cache_misses_total", "cache_errors_total"} {
			got[f.prefix+m] = f.metric(t, m)
		}
	}
	want := map[string]float64{
		first.prefix + "cache_hits_total": 1, first.prefix + "cache_misses_total": 1, first.prefix + "cache_errors_total": 0,
		second.prefix + "cache_hits_total": 0, second.prefix + "cache_misses_total": 1, second.prefix + "cache_errors_total": 0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

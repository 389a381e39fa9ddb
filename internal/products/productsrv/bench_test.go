//go:build unix

// The CPU accounting below uses getrusage, so these benchmarks build on unix
// systems only; /proc/stat, where present, adds the machine's busy and idle
// time.

package productsrv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/sync/errgroup"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/auth/authtest"
	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/mongo"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/observability/cputime"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/products"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
	"github.com/marketplace-go/marketplace/internal/products/seed"
)

// Read throughput of the catalog (bench/results/products.md): requests per
// second for a product detail, next to a plain
// net/http handler returning a fixed JSON body, all in one run with the
// same client. Run with
//
//	go test -run '^$' -bench BenchmarkHTTP -benchtime 5s -count 3 ./internal/products/productsrv/
//
// With BENCH_PROFILE_DIR set, each sub-benchmark also writes a CPU profile
// of its timed window there (see benchProfile).

const (
	// benchCatalogSize is the number of seeded products, the size of the
	// demo catalog (marketplace seed).
	benchCatalogSize = 2000
	// benchHotProducts is how many product details the detail benchmark
	// cycles over.
	benchHotProducts = 100
	// benchParallelism is the number of concurrent requests per CPU.
	benchParallelism = 8
	// benchCacheTTL outlives every sub-benchmark, so that a warm entry
	// cannot expire while it is measured (production uses 30s).
	benchCacheTTL = 10 * time.Minute
	// benchRelayInterval is PRODUCTS_RELAY_INTERVAL's default: the relay
	// also polls for pending events this often while the reads are measured
	// (one poll is a collection scan on FerretDB; it is timed and logged).
	benchRelayInterval = 10 * time.Second
)

// BenchmarkHTTP measures anonymous GETs over loopback HTTP with one
// keep-alive client and benchParallelism requests per CPU in flight:
//
//   - PlainHandler: net/http returning a fixed JSON body the size of a
//     product detail; the ceiling of this machine and client.
//   - ProductDetailWarmCache: GET /v1/products/{id} over 100 products that
//     are all in the cache.
//
// The service runs as in production, JSON logs at info (formatted and
// discarded), metrics and event relay included, over embedded FerretDB (or
// MONGODB_URI), the local Redis and a RabbitMQ vhost. The catalog is the
// seed package's demo catalog of benchCatalogSize products, with every
// creation event published before the clock starts (markPublished).
func BenchmarkHTTP(b *testing.B) {
	env := newBenchEnv(b)
	start := time.Now()
	ids := env.seed(b, benchCatalogSize)
	seeded := time.Since(start)
	start = time.Now()
	published, poll := env.markPublished(b)
	marked := time.Since(start)
	// RunParallel runs benchParallelism goroutines per GOMAXPROCS.
	conc := benchParallelism * runtime.GOMAXPROCS(0)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: max(256, 4*conc), MaxIdleConnsPerHost: max(64, 2*conc), IdleConnTimeout: 5 * time.Minute,
	}}
	b.Cleanup(client.CloseIdleConnections)

	// Only leaf benchmarks' logs are printed (without -v): the first
	// PlainHandler run reports the set-up.
	var setupLog sync.Once
	logSetup := func(b *testing.B) {
		setupLog.Do(func() {
			b.Logf("seeded %d products in %v; the relay published %d events, the rest were marked published, in %v; one relay poll of the empty outbox takes %v",
				len(ids), seeded.Round(time.Millisecond), published, marked.Round(time.Millisecond), poll.Round(time.Millisecond))
		})
	}

	plainBody := benchPlainBody(b)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(plainBody)
	}))
	b.Cleanup(plain.Close)

	b.Run("PlainHandler", func(b *testing.B) {
		logSetup(b)
		url := plain.URL + "/v1/products/" + ids[0]
		urls := func(uint64) string { return url }
		benchBurst(b, client, conc, urls)
		benchRequests(b, client, env, false, urls)
	})

	b.Run("ProductDetailWarmCache", func(b *testing.B) {
		hot := make([]string, benchHotProducts)
		for i := range hot {
			hot[i] = env.url + "/v1/products/" + ids[i*len(ids)/benchHotProducts]
		}
		urls := func(i uint64) string { return hot[i%uint64(len(hot))] }
		for i := range hot { // one pass: every detail is cached
			benchGetOK(b, client, hot[i])
		}
		benchBurst(b, client, conc, urls)
		benchRequests(b, client, env, true, urls)
	})
}

// benchRequests runs the timed GETs of a sub-benchmark: url(i) is the i-th
// request's URL. It fails on any error or status other than 200 and
// reports req/s with the CPU and cache accounting of benchMeter.
func benchRequests(b *testing.B, client *http.Client, env *benchEnv, service bool, url func(i uint64) string) {
	var next atomic.Uint64
	var bytes atomic.Int64
	var failures atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	m := env.startMeter(service)
	stopProfile := benchProfile(b)
	b.RunParallel(func(pb *testing.PB) {
		var n int64
		defer func() { bytes.Add(n) }()
		for pb.Next() {
			u := url(next.Add(1) - 1)
			size, err := benchGet(client, u)
			if err != nil {
				if failures.Add(1) <= 3 {
					b.Errorf("GET %s: %v", u, err)
				}
				return
			}
			n += size
		}
	})
	b.StopTimer()
	stopProfile()
	if failures.Load() > 0 && service {
		misses, errs := env.cacheCounters()
		b.Logf("%d of %d requests failed; meanwhile the cache missed %.0f times and Redis failed %.0f times",
			failures.Load(), b.N, misses-m.misses, errs-m.errs)
	}
	m.report(b, bytes.Load())
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// benchProfile writes a CPU profile of the timed window to
// $BENCH_PROFILE_DIR/<sub-benchmark>.pprof when that variable is set; the
// last run of each sub-benchmark is the one left. It returns the stop.
func benchProfile(b *testing.B) (stop func()) {
	stop, err := cputime.Profile(os.Getenv("BENCH_PROFILE_DIR"), b.Name())
	if err != nil {
		b.Fatal(err)
	}
	return stop
}

// benchBurst sends n requests at once and waits for them, so that the
// client's and the server's connections are open before the clock starts.
func benchBurst(tb testing.TB, client *http.Client, n int, url func(i uint64) string) {
	tb.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { benchGetOK(tb, client, url(uint64(i))) })
	}
	wg.Wait()
}

func benchGetOK(tb testing.TB, client *http.Client, url string) {
	tb.Helper()
	if _, err := benchGet(client, url); err != nil {
		tb.Errorf("GET %s: %v", url, err)
	}
}

// benchGet reads the whole answer, so that the connection is reused, and
// returns its size; any status other than 200 is an error.
func benchGet(client *http.Client, url string) (int64, error) {
	res, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return 0, fmt.Errorf("status %d: %s", res.StatusCode, body)
	}
	return io.Copy(io.Discard, res.Body)
}

// benchPlainBody is a product detail as the service encodes it (a seeded
// product with fixed ids and times), so the plain handler sends as many
// bytes as the detail benchmark receives.
func benchPlainBody(tb testing.TB) []byte {
	tb.Helper()
	d := seed.Products(1, 1)[0].Draft
	at := time.Date(2026, 11, 25, 12, 0, 0, 123e6, time.UTC)
	p := products.Product{ID: "019ab7c2-5d3e-7a41-9c6f-2b8e4d1f0a93", SellerID: "6f1c2e8a-3b7d-4c59-8e21-9a0d5f4b7c36",
		Title: d.Title, Description: d.Description, Category: d.Category, Price: d.Price, Images: d.Images,
		Attributes: d.Attributes, Status: d.Status, Version: 1, CreatedAt: at, UpdatedAt: at}
	body, err := json.Marshal(p)
	if err != nil {
		tb.Fatal(err)
	}
	return append(body, '\n') // as json.Encoder writes it
}

// benchEnv is the products service under benchmark.
type benchEnv struct {
	url      string
	cfg      productsrv.Config
	products *productsrv.Products
	metrics  *prometheus.Registry // the service's own: cache hits, misses, errors
	redis    *redis.Client        // for the Redis server's CPU time
	stop     func()               // shuts the service down; idempotent
}

// newBenchEnv is newEnv for any testing.TB (testConfig and startEnv take a
// *testing.T), with production logging, relay interval and listings index,
// and a cache TTL that outlives the benchmark; change adjusts the
// configuration. The catalog is on an embedded FerretDB of its own, as
// `make run` has it, so that the service adds the indexes it adds there.
func newBenchEnv(tb testing.TB, change ...func(*productsrv.Config)) *benchEnv {
	tb.Helper()
	issuer := authtest.NewIssuer(tb)
	catalogURL, pool := pgtest.New(tb, nil)
	pool.Close() // FerretDB opens its own
	cfg := productsrv.Config{
		Mongo:         mongo.Config{Database: "catalog", EmbeddedPostgresURL: catalogURL},
		RedisURL:      "redis://" + cachetest.Addr() + "/0",
		CachePrefix:   cachetest.Prefix(tb),
		CacheTTL:      benchCacheTTL,
		Events:        events.Config{URL: eventstest.NewVhost(tb), Name: "products-bench"},
		RelayInterval: benchRelayInterval,
		JWKSURL:       issuer.JWKSURL,
		Issuer:        authtest.IssuerName,
		Audience:      authtest.Audience,
	}
	for _, f := range change {
		f(&cfg)
	}
	// Production logs at info; the lines are formatted and thrown away.
	log := observability.NewLogger(io.Discard, slog.LevelInfo)
	reg := prometheus.NewRegistry()
	p, err := productsrv.New(context.Background(), cfg, server.Deps{Log: log, Registry: reg})
	if err != nil {
		tb.Fatalf("start products service: %v", err)
	}
	srv := server.New(log, observability.NewRegistry(), 5*time.Second)
	addr, err := srv.Add(p.Module("127.0.0.1:0"))
	if err != nil {
		p.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("server shutdown: %v", err)
		}
	})
	tb.Cleanup(stop)
	return &benchEnv{url: "http://" + addr.String(), cfg: cfg, products: p, metrics: reg, redis: cachetest.Client(tb, cachetest.Addr()), stop: stop}
}

// seed loads the demo category tree and n demo products from 4 sellers,
// through the service as the seed command does, and returns the products'
// ids in seed order.
func (e *benchEnv) seed(tb testing.TB, n int) []string {
	tb.Helper()
	ctx := context.Background()
	svc := e.products.Service
	admin := auth.Claims{UserID: uuid.NewString(), Roles: []string{auth.RoleAdmin}}
	for _, c := range seed.Categories {
		if _, _, err := svc.PutCategory(ctx, admin, c); err != nil {
			tb.Fatalf("seed category %s: %v", c.ID, err)
		}
	}
	sellers := []string{uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()}
	list := seed.Products(n, len(sellers))
	ids := make([]string, n)
	var next atomic.Int64
	var g errgroup.Group
	for range 4 {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				c := auth.Claims{UserID: sellers[list[i].Seller], Roles: []string{auth.RoleSeller}}
				p, err := svc.Create(ctx, c, list[i].Draft)
				if err != nil {
					return fmt.Errorf("seed product %d: %w", i, err)
				}
				ids[i] = p.ID
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// markPublished stands in for the relay after seeding: it empties every
// product's outbox, leaving the documents as the relay's MarkPublished does
// once it has published their events, and waits until the relay, which the
// writes woke, has gone back to sleep, so that the benchmarks after it
// measure reads alone (BenchmarkRelayAfterBulkSeed measures the relay).
// It returns how many events the relay published meanwhile, and how long
// one poll of the empty outbox takes (the relay's query on every wake-up
// and every interval).
func (e *benchEnv) markPublished(tb testing.TB) (published int, poll time.Duration) {
	tb.Helper()
	ctx := context.Background()
	// A second FerretDB on the service's PostgreSQL database.
	db, err := mongo.Open(ctx, e.cfg.Mongo, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close(ctx)
	coll := db.Database.Collection("products")
	// The relay, woken by the writes, is publishing some of the events at
	// the same time; repeating the update costs one scan and leaves none.
	for range 10 {
		res, err := coll.UpdateMany(ctx, bson.M{"unpublished": true},
			bson.M{"$set": bson.M{"pending": bson.A{}, "pending_count": 0, "unpublished": false}})
		if err != nil {
			tb.Fatalf("mark the seeded events published: %v", err)
		}
		if res.ModifiedCount == 0 {
			break
		}
	}
	// The relay finishes the batch it had loaded (publishing its events
	// again: delivery is at least once), finds nothing more and sleeps.
	last, quiet := e.counter("events_published_total"), 0
	for deadline := time.Now().Add(5 * time.Minute); quiet < 2; {
		if time.Now().After(deadline) {
			tb.Fatal("the relay did not go idle")
		}
		time.Sleep(time.Second)
		n := e.counter("events_published_total")
		if n == last {
			quiet++
		} else {
			last, quiet = n, 0
		}
	}
	start := time.Now()
	if pending, err := e.products.Store.PendingEvents(ctx, 100); err != nil || len(pending) > 0 {
		tb.Fatalf("pending events: %d, %v", len(pending), err)
	}
	return int(last), time.Since(start)
}

// benchMeter accounts for a sub-benchmark's timed window: CPU time of this
// process (client, service and, when embedded, FerretDB), of the Redis
// server (shared with other tests on the machine) and of everything else,
// the machine's idle share, the response size and, for the service, its
// cache misses and Redis errors.
type benchMeter struct {
	env          *benchEnv
	service      bool
	proc, redis  time.Duration
	busy, idle   time.Duration
	misses, errs float64
}

func (e *benchEnv) startMeter(service bool) *benchMeter {
	m := &benchMeter{env: e, service: service}
	m.misses, m.errs = e.cacheCounters()
	m.redis = e.redisCPU()
	m.busy, m.idle = cputime.Machine()
	m.proc = cputime.Process()
	return m
}

// report adds, per request: cpu-ms (this process), redis-cpu-ms,
// other-cpu-ms (the rest of the machine), resp-B (body bytes) and, for the
// service, miss (cache misses) and cache-err (failed Redis calls, after
// which reads skip the cache for a second); and idle-% of the machine.
func (m *benchMeter) report(b *testing.B, bytes int64) {
	proc := cputime.Process() - m.proc
	busy, idle := cputime.Machine()
	busy, idle = busy-m.busy, idle-m.idle
	redisCPU := m.env.redisCPU() - m.redis
	n := float64(b.N)
	perOp := func(d time.Duration) float64 { return d.Seconds() * 1000 / n }
	b.ReportMetric(perOp(proc), "cpu-ms/op")
	b.ReportMetric(perOp(redisCPU), "redis-cpu-ms/op")
	if busy+idle > 0 {
		b.ReportMetric(perOp(max(busy-proc-redisCPU, 0)), "other-cpu-ms/op")
		b.ReportMetric(100*idle.Seconds()/(busy+idle).Seconds(), "idle-%")
	}
	b.ReportMetric(float64(bytes)/n, "resp-B")
	if m.service {
		misses, errs := m.env.cacheCounters()
		b.ReportMetric((misses-m.misses)/n, "miss/op")
		b.ReportMetric((errs-m.errs)/n, "cache-err/op")
	}
}

// cacheCounters are the service's cache miss and error counts.
func (e *benchEnv) cacheCounters() (misses, errs float64) {
	return e.counter("cache_misses_total"), e.counter("cache_errors_total")
}

// counter sums the service's counter name over its labels.
func (e *benchEnv) counter(name string) float64 {
	families, err := e.metrics.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// redisCPU is the Redis server's CPU time so far.
func (e *benchEnv) redisCPU() time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cputime.Redis(ctx, e.redis)
}

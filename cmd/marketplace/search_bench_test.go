package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth/authtest"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
	"github.com/marketplace-go/marketplace/internal/products/seed"
	"github.com/marketplace-go/marketplace/internal/search"
	"github.com/marketplace-go/marketplace/internal/search/searchapi"
	"github.com/marketplace-go/marketplace/internal/search/searchindex"
	"github.com/marketplace-go/marketplace/internal/search/searchsrv"
)

// The search benchmarks measure an uncached search with facets, as a
// shopper sends it, on the demo catalog of 2,000 products and on one of
// 100,000 (SEARCH_BENCH_PRODUCTS sets the sizes, comma-separated): the
// engine in process (the ceiling) and the search service's API over
// loopback HTTP, with one client and with 16. Each reports its p50 and
// p99 besides ns/op. SEARCH_BENCH_DIR, when set, keeps the built indexes
// there for the next run. The queries cycle through the relevance set's, each
// with a category filter, an attribute filter and the facets.
//
//	go test ./cmd/marketplace -run '^$' -bench 'Search(Engine|API)' -benchtime 2000x

// benchQueries are listing requests with text, filters and facets.
func benchQueries() []url.Values {
	var out []url.Values
	cats := []string{"lamps", "headphones", "shirts", "shoes", "fiction", "non-fiction"}
	for i, c := range relevanceSet() {
		out = append(out, url.Values{"q": {c.q}, "category": {cats[i%len(cats)]}, "attr.colour": {"red"}, "limit": {"20"}})
	}
	return out
}

func benchSizes(b *testing.B) []int {
	s := os.Getenv("SEARCH_BENCH_PRODUCTS")
	if s == "" {
		return []int{2000, 100000}
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			b.Fatalf("SEARCH_BENCH_PRODUCTS: %v", err)
		}
		out = append(out, n)
	}
	return out
}

// benchIndexes holds one built index per size for the whole run: a
// 100,000-product index takes a while to build.
var benchIndexes sync.Map

func benchIndex(b *testing.B, n int) *searchindex.Index {
	if x, ok := benchIndexes.Load(n); ok {
		return x.(*searchindex.Index)
	}
	dir, err := os.MkdirTemp("", "search-bench-")
	if keep := os.Getenv("SEARCH_BENCH_DIR"); keep != "" {
		// Kept between runs: a 100,000-product index takes minutes to
		// build on a busy machine.
		dir, err = filepath.Join(keep, strconv.Itoa(n)), os.MkdirAll(keep, 0o755)
	}
	if err != nil {
		b.Fatal(err)
	}
	x, err := searchindex.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if x.Stats().Products != int64(n) {
		docs := demoDocs(n)
		for i := 0; i < len(docs); i += 1000 {
			if _, err := x.Apply(context.Background(), docs[i:min(i+1000, len(docs))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	// The service merges the index into one segment after bulk writes
	// (ADR 49): measure the index it serves.
	if x.Stats().Segments > 1 {
		if err := x.Compact(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("index of %d products ready in %s (%d segment); the process's resident memory is now %s", n, time.Since(start).Round(time.Millisecond), x.Stats().Segments, residentMemory())
	benchIndexes.Store(n, x)
	return x
}

// benchSource is the demo category tree, for the service's category
// filters; the benchmarks never rebuild.
type benchSource struct{}

func (benchSource) Categories(context.Context) ([]search.Category, error) {
	var out []search.Category
	for _, c := range seed.Categories {
		out = append(out, search.Category{ID: c.ID, Name: c.Name, Parent: c.Parent, Facets: c.Facets})
	}
	return out, nil
}

func (benchSource) Export(context.Context, int, func([]search.Product) error) error { return nil }

func (benchSource) Summary(context.Context) (search.Summary, error) { return search.Summary{}, nil }

// latencies collects per-request times and reports their percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) report(b *testing.B) {
	slices.Sort(l.d)
	if len(l.d) == 0 {
		return
	}
	at := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func BenchmarkSearchEngine(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("products=%d", n), func(b *testing.B) {
			svc := benchService(b, n)
			qs := benchQueries()
			var lat latencies
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				if _, err := svc.List(context.Background(), nil, engineQuery(qs[i%len(qs)])); err != nil {
					b.Fatal(err)
				}
				lat.add(time.Since(start))
			}
			lat.report(b)
		})
	}
}

// BenchmarkEachSearchQuery times each of the benchmark's queries on
// its own, in process: which of them make the tail of the mix.
//
//	go test ./cmd/marketplace -run '^$' -bench EachSearchQuery -benchtime 100x
func BenchmarkEachSearchQuery(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("products=%d", n), func(b *testing.B) {
			svc := benchService(b, n)
			for _, v := range benchQueries() {
				q := engineQuery(v)
				// The first search of a size decodes the index's columns.
				if _, err := svc.List(context.Background(), nil, q); err != nil {
					b.Fatal(err)
				}
				b.Run(fmt.Sprintf("q=%s/category=%s", v.Get("q"), v.Get("category")), func(b *testing.B) {
					for b.Loop() {
						if _, err := svc.List(context.Background(), nil, q); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkBrowseListings times the listings the loadgen's browse
// scenario asks for: a first page in each order, of the whole catalog or
// of one category, and the page after it.
//
//	go test ./cmd/marketplace -run '^$' -bench BrowseListings -benchtime 200x
func BenchmarkBrowseListings(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("products=%d", n), func(b *testing.B) {
			svc := benchService(b, n)
			for _, order := range []string{search.SortNewest, search.SortPriceAsc, search.SortPriceDesc, search.SortTitle} {
				for _, category := range []string{"", "lamps"} {
					first := search.Query{Sort: order, Category: category, Limit: 20}
					page, err := svc.List(context.Background(), nil, first)
					if err != nil || page.Next == "" {
						b.Fatalf("first page: %v (next %q)", err, page.Next)
					}
					next := first
					next.Cursor = page.Next
					for i, q := range []search.Query{first, next} {
						b.Run(fmt.Sprintf("sort=%s/category=%s/page=%d", order, category, i+1), func(b *testing.B) {
							for b.Loop() {
								if _, err := svc.List(context.Background(), nil, q); err != nil {
									b.Fatal(err)
								}
							}
						})
					}
				}
			}
		})
	}
}

// benchService is the search service over an index of n demo products.
func benchService(b *testing.B, n int) *search.Service {
	svc := search.NewService(benchIndex(b, n), benchSource{}, nil, slog.New(slog.DiscardHandler), search.Config{})
	if err := svc.RefreshCategories(context.Background()); err != nil {
		b.Fatal(err)
	}
	return svc
}

// engineQuery is the query the API makes of a benchmark request.
func engineQuery(v url.Values) search.Query {
	return search.Query{Text: v.Get("q"), Category: v.Get("category"), Limit: 20,
		Attributes: []search.AttributeFilter{{Name: "colour", Equals: "red", Text: "red"}}}
}

func BenchmarkSearchAPI(b *testing.B) {
	for _, n := range benchSizes(b) {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("products=%d/clients=%d", n, clients), func(b *testing.B) {
				base := benchAPI(b, n)
				qs := benchQueries()
				hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
				var lat latencies
				var next atomic.Int64
				get := func() bool {
					v := qs[int(next.Add(1))%len(qs)]
					start := time.Now()
					res, err := hc.Get(base + "/v1/products?" + v.Encode())
					if err != nil {
						b.Error(err)
						return false
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("status %d", res.StatusCode)
						return false
					}
					lat.add(time.Since(start))
					return true
				}
				if clients == 1 {
					for b.Loop() {
						if !get() {
							return
						}
					}
				} else {
					// RunParallel runs GOMAXPROCS × parallelism goroutines.
					b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() && get() {
						}
					})
				}
				lat.report(b)
			})
		}
	}
}

// benchAPI serves the search API over an index of n demo products.
func benchAPI(b *testing.B, n int) string {
	log := slog.New(slog.DiscardHandler)
	svc := benchService(b, n)
	issuer := authtest.NewIssuer(b)
	api := searchapi.New(svc, issuer.Verifier(), log)
	reg := observability.NewRegistry()
	u, _ := servertest.Start(b, log, reg, server.Module{Name: "search", Addr: "127.0.0.1:0", Routes: api.Routes,
		Ready: func(context.Context) error { return nil }, Close: func() {}, MaxInFlight: benchMaxInFlight(b)})
	return u
}

// benchMaxInFlight is the searches the search module runs at once, read
// as the module reads it (SEARCH_MAX_IN_FLIGHT, or its default): without
// it the server's general bound would let every client's search share the
// CPU at once, which no deployment does.
func benchMaxInFlight(b *testing.B) int {
	e := config.FromLookup(os.LookupEnv)
	n := searchsrv.LoadConfig(e, config.Shared{}).MaxInFlight
	if err := e.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}

// residentMemory is the process's VmRSS from /proc, or "unknown" where
// there is none: what the index costs in memory, with everything else the
// benchmark holds.
func residentMemory() string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rss, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(rss)
		}
	}
	return "unknown"
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// BenchmarkWebPages measures the storefront's pages through the gateway
// beside the API calls each page makes, for the same data, with the same
// vegeta attacker, back to back in one process (`marketplace serve`, all
// targets, rate limits off, 40 seeded products):
//
//   - Home: GET / and, as the API, GET /v1/products?sort=newest&limit=8
//     (the page also reads the category tree, from a cache)
//   - Search: GET /search?category=lamps and GET /v1/products?category=lamps&sort=newest&limit=12
//   - Product: GET /products/{id} and GET /v1/products/{id}
//
// Each sub-benchmark is one closed-loop attack of BENCH_DURATION (default
// 5s) by BENCH_WORKERS (default 16: sixteen browsers, each asking for its
// next page as soon as the last one came) after a 1s warm-up, whatever
// b.N is. It reports req/s, p50-ms and p99-ms; any status other than 200
// fails it. The page's time less the API's is the pages' own work
// (rendering, the extra calls). See bench/results/web.md.
//
//	go test -run '^$' -bench BenchmarkWebPages -benchtime 1x ./cmd/marketplace/
func BenchmarkWebPages(b *testing.B) {
	gatewayAddr := freeAddr(b)
	vars := testVars(b, map[string]string{"GATEWAY_ADDR": gatewayAddr, "WEB_API_URL": "http://" + gatewayAddr,
		"PRODUCTS_CACHE_TTL": "10m"})
	if err := run(context.Background(), []string{"seed", "--products=40", "--sellers=1"}, lookup(vars), io.Discard, nil); err != nil {
		b.Fatalf("seed: %v", err)
	}
	startServe(b, lookup(vars))
	base := "http://" + gatewayAddr
	// The search service indexes the seed from its events, after serve
	// starts: wait until the catalog lists a lamp.
	id := eventually.Value(b, "the seeded catalog lists a lamp", func() (string, bool) {
		var list struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if err := json.Unmarshal(benchGet(b, base+"/v1/products?category=lamps&limit=1"), &list); err != nil || len(list.Items) == 0 {
			return "", false
		}
		return list.Items[0].ID, true
	}, eventually.Within(time.Minute))
	workers := benchEnvInt(b, "BENCH_WORKERS", 16)
	d := benchEnvDuration(b, "BENCH_DURATION", 5*time.Second)
	for _, pair := range []struct{ name, page, api string }{
		{"Home", "/", "/v1/products?sort=newest&limit=8"},
		{"Search", "/search?category=lamps", "/v1/products?category=lamps&sort=newest&limit=12"},
		{"Product", "/products/" + id, "/v1/products/" + id},
	} {
		for _, side := range []struct{ name, path string }{{"Page", pair.page}, {"API", pair.api}} {
			b.Run(pair.name+side.name, func(b *testing.B) {
				targets := []vegeta.Target{{Method: http.MethodGet, URL: base + side.path}}
				benchAttack(b, targets, workers, time.Second)
				m := benchAttack(b, targets, workers, d)
				b.ReportMetric(m.Throughput, "req/s")
				b.ReportMetric(float64(m.Latencies.P50)/float64(time.Millisecond), "p50-ms")
				b.ReportMetric(float64(m.Latencies.P99)/float64(time.Millisecond), "p99-ms")
			})
		}
	}
}

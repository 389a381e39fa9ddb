package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/observability/cputime"
)

// BenchmarkGateway measures a product detail with a warm cache through the
// gateway next to the ceilings of this machine and load tool, all with
// the same vegeta attacker, back to back in one process:
//
//   - PlainHandler: net/http writing a fixed body, a real product detail
//   - ReverseProxy: httputil.ReverseProxy in front of PlainHandler
//   - Gateway: GET /v1/products/{id} on `marketplace serve` (all targets,
//     the services reached in-process), rate limits off
//   - GatewaySplit: the same through a second gateway (serve
//     --target=gateway), which reaches the services over loopback HTTP
//   - GatewayRateLimited: the same through a third split gateway with the
//     limits on, counted in Redis, at a limit never reached
//   - ReverseProxyToProducts: httputil.ReverseProxy in front of the
//     products service, the gateway's job with nothing but proxying
//   - ProductsDirect: the same request on the products service itself
//
// Each sub-benchmark is one closed-loop attack of BENCH_DURATION (default
// 5s) by BENCH_WORKERS (default 32) workers on keep-alive connections,
// after a 1s warm-up, whatever b.N is. It reports req/s, p50-ms, p99-ms,
// the success ratio (any error or status other than 200 fails the
// benchmark) and, per request, the CPU time of this process, of the Redis
// server and of the rest of the machine. BENCH_PROFILE_DIR=dir writes a
// CPU profile of each timed window. See bench/results/gateway.md.
//
//	go test -run '^$' -bench BenchmarkGateway -benchtime 1x ./cmd/marketplace/
func BenchmarkGateway(b *testing.B) {
	duration := benchEnvDuration(b, "BENCH_DURATION", 5*time.Second)
	workers := benchEnvInt(b, "BENCH_WORKERS", 32)
	p := startBenchPlatform(b)
	plain := benchListen(b, benchFixedBody(p.body))
	proxy := benchListen(b, benchReverseProxy(b, plain))
	proxyProducts := benchListen(b, benchReverseProxy(b, p.products))
	// What the services count, per request: cache misses and failed
	// Redis calls of the products service, and for the limited gateway the
	// decisions Redis took (rather than the fallback bucket).
	cache := []benchCounter{
		{"miss/req", p.productsMetrics, "cache_misses_total", ""},
		{"cache-err/req", p.productsMetrics, "cache_errors_total", ""},
	}
	limits := append(slices.Clone(cache), benchCounter{"redis-limit/req", p.limitedMetrics, "gateway_ratelimit_decisions_total", `backend="redis"`})
	for _, bc := range []struct {
		name, addr string
		counters   []benchCounter
	}{
		{"PlainHandler", plain, nil},
		{"ReverseProxy", proxy, nil},
		{"Gateway", p.gateway, cache},
		{"GatewaySplit", p.split, cache},
		{"GatewayRateLimited", p.limited, limits},
		{"ReverseProxyToProducts", proxyProducts, cache},
		{"ProductsDirect", p.products, cache},
	} {
		b.Run(bc.name, func(b *testing.B) {
			targets := make([]vegeta.Target, len(p.ids))
			for i, id := range p.ids {
				targets[i] = vegeta.Target{Method: http.MethodGet, URL: "http://" + bc.addr + "/v1/products/" + id}
			}
			b.Logf("%d workers for %s over %d targets such as %s", workers, duration, len(targets), targets[0].URL)
			benchAttack(b, targets, workers, time.Second) // warm-up: connections, upstream pools
			m := p.startMeter(b, bc.counters)
			stopProfile := benchProfile(b)
			b.ResetTimer()
			res := benchAttack(b, targets, workers, duration)
			b.StopTimer()
			stopProfile()
			m.report(b, res)
		})
	}
}

// benchPlatform is `marketplace serve` with a seeded catalog, and two
// more gateways in front of the same services, in split mode: one with
// the rate limits off, one with them on.
type benchPlatform struct {
	gateway, split, limited, products string // host:port
	ids                               []string
	body                              []byte // a detail of the median size, as served
	productsMetrics                   string // the products service's /metrics
	limitedMetrics                    string // the limited gateway's /metrics
	redis                             *redis.Client
}

func startBenchPlatform(b *testing.B) *benchPlatform {
	vars := testVars(b, map[string]string{"PRODUCTS_CACHE_TTL": "10m"}) // no entry expires during a run
	if err := run(context.Background(), []string{"seed", "--products=20", "--sellers=2"}, lookup(vars), io.Discard, nil); err != nil {
		b.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(b, lookup(vars))
	// The split gateways are `serve --target=gateway` in front of the same
	// services, which they reach over loopback. The limited one counts
	// under a prefix of its own, so that no other test's requests from
	// 127.0.0.1 share its budget.
	splitVars := maps.Clone(vars)
	maps.Copy(splitVars, map[string]string{
		"AUTH_JWKS_URL":         "http://" + addrs["users"] + "/.well-known/jwks.json",
		"GATEWAY_USERS_URLS":    "http://" + addrs["users"],
		"GATEWAY_PRODUCTS_URLS": "http://" + addrs["products"],
		"GATEWAY_ORDERS_URLS":   "http://" + addrs["orders"],
		"METRICS_ADDR":          "127.0.0.1:0",
	})
	split, _ := startServe(b, lookup(splitVars), "--target=gateway")
	limitedVars := maps.Clone(splitVars)
	maps.Copy(limitedVars, map[string]string{
		"GATEWAY_RATE_LIMITS":    "on",
		"GATEWAY_RATE_ANONYMOUS": "10000000/1s",
		"GATEWAY_RATE_PREFIX":    vars["PRODUCTS_CACHE_PREFIX"] + "gateway:",
	})
	limited, _ := startServe(b, lookup(limitedVars), "--target=gateway")
	p := &benchPlatform{gateway: addrs["gateway"], split: split["gateway"], limited: limited["gateway"], products: addrs["products"],
		productsMetrics: "http://" + addrs["products"] + "/metrics", limitedMetrics: "http://" + limited["metrics"] + "/metrics",
		redis: cachetest.Client(b, cachetest.Addr())}
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(benchGet(b, "http://"+p.products+"/internal/v1/products"), &page); err != nil || len(page.Items) == 0 {
		b.Fatalf("the seeded catalog lists nothing: %v", err)
	}
	for _, it := range page.Items[:min(100, len(page.Items))] {
		p.ids = append(p.ids, it.ID)
	}
	// Warm the cache, and check that every gateway reaches the products
	// service.
	var bodies [][]byte
	for _, id := range p.ids {
		for _, addr := range []string{p.gateway, p.split, p.limited, p.products} {
			body := benchGet(b, "http://"+addr+"/v1/products/"+id)
			if addr == p.products {
				bodies = append(bodies, body)
			}
		}
	}
	slices.SortFunc(bodies, func(x, y []byte) int { return len(x) - len(y) })
	p.body = bodies[len(bodies)/2]
	return p
}

// benchAttack runs one closed-loop attack: workers each send a request as soon
// as their last one is answered, for d. It fails b on any error or status
// other than 200.
func benchAttack(b *testing.B, targets []vegeta.Target, workers int, d time.Duration) *vegeta.Metrics {
	atk := vegeta.NewAttacker(vegeta.Workers(uint64(workers)), vegeta.MaxWorkers(uint64(workers)), vegeta.KeepAlive(true))
	var m vegeta.Metrics
	failed := 0
	for res := range atk.Attack(vegeta.NewStaticTargeter(targets...), vegeta.Rate{Freq: 0}, d, b.Name()) {
		m.Add(res)
		if res.Code != http.StatusOK || res.Error != "" {
			if failed++; failed <= 3 {
				b.Errorf("%s: status %d, error %q, body %.200s", res.URL, res.Code, res.Error, res.Body)
			}
		}
	}
	m.Close()
	if failed > 0 {
		b.Errorf("%d of %d requests failed; status codes %v", failed, m.Requests, m.StatusCodes)
	}
	return &m
}

// benchFixedBody is the plain handler: it answers every request with body.
func benchFixedBody(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

// benchReverseProxy is httputil's proxy in front of addr. Its transport keeps
// as many idle connections as the gateway's (the default keeps 2 per host,
// so most requests would open a new connection).
func benchReverseProxy(b *testing.B, addr string) http.Handler {
	u, err := url.Parse("http://" + addr)
	if err != nil {
		b.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	rp.Transport = tr
	b.Cleanup(tr.CloseIdleConnections)
	return rp
}

// benchListen serves h on a loopback port until the benchmark ends.
func benchListen(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func benchGet(b *testing.B, u string) []byte {
	res, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s = %d %s (%v)", u, res.StatusCode, body, err)
	}
	return body
}

// benchProfile writes a CPU profile of the timed window to
// $BENCH_PROFILE_DIR/<sub-benchmark>.pprof, if set.
func benchProfile(b *testing.B) (stop func()) {
	stop, err := cputime.Profile(os.Getenv("BENCH_PROFILE_DIR"), b.Name())
	if err != nil {
		b.Fatal(err)
	}
	return stop
}

// benchMeter accounts for the CPU time of a timed window: this process
// (the load tool, the servers, the services and their embedded FerretDB),
// the Redis server and the rest of the machine; and for the counters the
// services keep.
type benchMeter struct {
	p              *benchPlatform
	proc, redisCPU time.Duration
	busy, idle     time.Duration
	counters       []benchCounter
	start          []float64
}

// benchCounter is a counter a service exports: the sum of the series of
// Metric whose labels contain Labels, read from URL.
type benchCounter struct {
	Unit, URL, Metric, Labels string
}

func (p *benchPlatform) startMeter(b *testing.B, counters []benchCounter) *benchMeter {
	m := &benchMeter{p: p, counters: counters}
	for _, c := range counters {
		m.start = append(m.start, c.read(b))
	}
	m.redisCPU = p.redisServerCPU()
	m.busy, m.idle = cputime.Machine()
	m.proc = cputime.Process()
	return m
}

// report adds the attack's results and the window's costs per request.
func (m *benchMeter) report(b *testing.B, res *vegeta.Metrics) {
	proc := cputime.Process() - m.proc
	busy, idle := cputime.Machine()
	busy, idle = busy-m.busy, idle-m.idle
	redisCPU := m.p.redisServerCPU() - m.redisCPU
	b.ReportMetric(0, "ns/op") // one op is the whole attack: see req/s
	b.ReportMetric(res.Throughput, "req/s")
	b.ReportMetric(res.Latencies.P50.Seconds()*1000, "p50-ms")
	b.ReportMetric(res.Latencies.P99.Seconds()*1000, "p99-ms")
	b.ReportMetric(res.Success, "success")
	b.ReportMetric(res.BytesIn.Mean, "resp-B")
	n := float64(max(res.Requests, 1))
	perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / n }
	b.ReportMetric(perReq(proc), "cpu-us/req")
	b.ReportMetric(perReq(redisCPU), "redis-cpu-us/req")
	if busy+idle > 0 {
		b.ReportMetric(perReq(max(busy-proc-redisCPU, 0)), "other-cpu-us/req")
		b.ReportMetric(100*idle.Seconds()/(busy+idle).Seconds(), "idle-%")
	}
	for i, c := range m.counters {
		b.ReportMetric((c.read(b)-m.start[i])/n, c.Unit)
	}
}

// read returns the counter's value; it fails b when the metrics cannot be
// read or lack the counter.
func (c benchCounter) read(b *testing.B) float64 {
	text := benchGet(b, c.URL)
	var sum float64
	found := false
	for line := range strings.SplitSeq(string(text), "\n") {
		name, labels, _ := strings.Cut(line, "{")
		f := strings.Fields(line)
		if len(f) < 2 || (name != c.Metric && f[0] != c.Metric) || !strings.Contains(labels, c.Labels) {
			continue
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			b.Fatalf("%s: %q: %v", c.URL, line, err)
		}
		sum += v
		found = true
	}
	if !found {
		b.Fatalf("%s has no %s{%s}", c.URL, c.Metric, c.Labels)
	}
	return sum
}

// redisServerCPU is the Redis server's CPU time so far.
func (p *benchPlatform) redisServerCPU() time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cputime.Redis(ctx, p.redis)
}

func benchEnvDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 5s", name, v)
	}
	return d
}

func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

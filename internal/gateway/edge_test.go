package gateway_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/gateway/ratelimit"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// limited returns an option that limits rates as limits says, counted in
// the test Redis under prefix (gateways given the same prefix share their
// budgets).
func limited(t *testing.T, prefix string, limits gateway.Limits) func(*gateway.Config, *gateway.Deps) {
	t.Helper()
	rdb := cachetest.Client(t, cachetest.Addr())
	return func(c *gateway.Config, d *gateway.Deps) {
		c.Limits = limits
		// A generous Redis timeout: these tests count against Redis, and on
		// a busy machine the 100 ms default would hand a call to the local
		// fallback bucket, which counts otherwise (the ratelimit tests
		// cover that fallback).
		d.Limiter = ratelimit.New(rdb, prefix, d.Log, d.Registry, ratelimit.WithTimeout(10*time.Second))
	}
}

func mustLimit(t *testing.T, s string) ratelimit.Limit {
	t.Helper()
	l, err := ratelimit.ParseLimit(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRateLimitsAnswer429WithRetryAfterAndRateLimitHeaders(t *testing.T) {
	t.Parallel()
	urls, ups := services(t)
	e := start(t, urls, limited(t, cachetest.Prefix(t), gateway.Limits{
		Anonymous: mustLimit(t, "3/1m"), User: mustLimit(t, "5/1m"), Login: mustLimit(t, "2/1m"),
		Checkout: mustLimit(t, "1/1m"),
	}))

	t.Run("anonymous calls are counted per address", func(t *testing.T) {
		for i := range 3 {
			r := e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
			if got := r.Header.Get("RateLimit-Remaining"); got != strconv.Itoa(2-i) {
				t.Errorf("call %d: RateLimit-Remaining %q", i+1, got)
			}
		}
		r := e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil)
		r.WantProblem(t, http.StatusTooManyRequests, "rate_limited")
		if r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Limit") != "3" {
			t.Errorf("429 headers: %v", r.Header)
		}
	})
	t.Run("a bad token counts against the address and is refused", func(t *testing.T) {
		before := ups["orders"].hits.Load()
		e.Do(t, httpxtest.Caller{Token: "not-a-token"}, "GET", "/v1/orders", nil).Want(t, http.StatusTooManyRequests)
		if ups["orders"].hits.Load() != before {
			t.Error("a limited request reached the service")
		}
	})
	t.Run("a user has a budget of its own", func(t *testing.T) {
		buyer := httpxtest.Caller{Token: e.issuer.Token(t, "buyer-1", auth.RoleBuyer)}
		e.Do(t, buyer, "GET", "/v1/orders", nil).Want(t, http.StatusOK)
		e.Do(t, buyer, "POST", "/v1/orders", `{}`).Want(t, http.StatusOK)
		r := e.Do(t, buyer, "POST", "/v1/orders", `{}`)
		r.WantProblem(t, http.StatusTooManyRequests, "rate_limited")
		if r.Header.Get("RateLimit-Limit") != "1" {
			t.Errorf("a refused checkout shows the limit %q, want the checkout class's 1", r.Header.Get("RateLimit-Limit"))
		}
		e.Do(t, buyer, "GET", "/v1/orders", nil).Want(t, http.StatusOK)
		other := httpxtest.Caller{Token: e.issuer.Token(t, "buyer-2", auth.RoleBuyer)}
		e.Do(t, other, "POST", "/v1/orders", `{}`).Want(t, http.StatusOK)
	})
	if got := metricValue(t, e, "gateway_ratelimit_decisions_total", "class", "checkout", "result", "limited"); got != 1 {
		t.Errorf("limited checkouts counted %v, want 1", got)
	}
}

func TestGatewaysSharingRedisShareTheBudget(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	prefix := cachetest.Prefix(t)
	limits := gateway.Limits{Login: mustLimit(t, "4/1m")}
	a, b := start(t, urls, limited(t, prefix, limits)), start(t, urls, limited(t, prefix, limits))
	statuses := map[int]int{}
	for i := range 8 {
		e := []env{a, b}[i%2]
		statuses[e.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/login", `{}`).Status]++
	}
	if statuses[http.StatusOK] != 4 || statuses[http.StatusTooManyRequests] != 4 {
		t.Errorf("8 logins over two gateways with a shared 4/1m: %v", statuses)
	}
}

func TestCORSAllowsTheConfiguredOriginsOnly(t *testing.T) {
	t.Parallel()
	urls, ups := services(t)
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) {
		c.CORS = gateway.CORS{Origins: []string{"https://shop.example.com"}}
	})
	tests := []struct {
		name, origin string
		allowed      bool
	}{
		{"a configured origin", "https://shop.example.com", true},
		{"another origin", "https://evil.example.com", false},
	}
	for _, tt := range tests {
		t.Run("a preflight from "+tt.name+" is answered at the edge", func(t *testing.T) {
			before := ups["orders"].hits.Load()
			r := e.Do(t, httpxtest.Anonymous, "OPTIONS", "/v1/orders", nil,
				"Origin", tt.origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,idempotency-key")
			if ups["orders"].hits.Load() != before {
				t.Error("the preflight reached the service")
			}
			got := r.Header.Get("Access-Control-Allow-Origin")
			if tt.allowed != (got == tt.origin) || !tt.allowed && got != "" {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
			if tt.allowed && !strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "idempotency-key") {
				t.Errorf("Access-Control-Allow-Headers %q", r.Header.Get("Access-Control-Allow-Headers"))
			}
		})
		t.Run("a request from "+tt.name, func(t *testing.T) {
			r := e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil, "Origin", tt.origin).Want(t, http.StatusOK)
			if got := r.Header.Get("Access-Control-Allow-Origin"); tt.allowed != (got == tt.origin) {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
			if tt.allowed && !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Ratelimit-Remaining") &&
				!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "RateLimit-Remaining") {
				t.Errorf("Access-Control-Expose-Headers %q", r.Header.Get("Access-Control-Expose-Headers"))
			}
		})
	}
}

func TestLargeJSONIsGzippedForClientsThatAcceptIt(t *testing.T) {
	t.Parallel()
	urls, ups := services(t)
	ups["products"].size.Store(8 << 10)
	e := start(t, urls)
	tests := []struct {
		name   string
		accept string
		size   int32
		gzip   bool
	}{
		{"a large body for a client accepting gzip is compressed", "gzip", 8 << 10, true},
		{"a large body for a client not accepting gzip is not", "", 8 << 10, false},
		{"a small body is not", "gzip", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups["users"].size.Store(tt.size)
			req, _ := http.NewRequest("GET", e.BaseURL+"/v1/users/me", nil)
			req.Header.Set("Accept-Encoding", tt.accept) // set, so the transport does not decompress
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if got := res.Header.Get("Content-Encoding") == "gzip"; got != tt.gzip {
				t.Fatalf("Content-Encoding %q", res.Header.Get("Content-Encoding"))
			}
			body := io.Reader(res.Body)
			if tt.gzip {
				zr, err := gzip.NewReader(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			b, err := io.ReadAll(body)
			if err != nil || !strings.Contains(string(b), `"service":"users"`) {
				t.Errorf("body %.80q, %v", b, err)
			}
		})
	}
}

func TestUpstreamMetricsCountAttemptsAndRetries(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	urls["products"] = append([]string{deadURL(t)}, urls["products"]...)
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.HealthInterval = time.Hour })
	for range 4 {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
	}
	if got := metricValue(t, e, "gateway_upstream_attempts_total", "upstream", "products", "outcome", "2xx"); got != 4 {
		t.Errorf("2xx attempts %v, want 4", got)
	}
	if metricValue(t, e, "gateway_upstream_retries_total", "upstream", "products") < 1 {
		t.Error("no retry counted after a dead instance")
	}
	if got := metricValue(t, e, "gateway_upstream_breaker_state", "upstream", "products"); got != 0 {
		t.Errorf("breaker state %v, want closed", got)
	}
}

// metricValue returns the value of the series of name whose labels include
// the given name/value pairs, or fails the test.
func metricValue(t *testing.T, e env, name string, labels ...string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// hasSeries reports whether the gateway's registry has a series name with
// the given label pairs.
func hasSeries(t *testing.T, e env, name string, labels ...string) bool {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && slices.ContainsFunc(f.GetMetric(), func(m *dto.Metric) bool { return hasLabels(m, labels) }) {
			return true
		}
	}
	return false
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

package gateway_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/auth/authtest"
	"github.com/marketplace-go/marketplace/internal/platform/discovery"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
)

// upstream stands in for one instance of a service: it answers status
// and echoes what it received.
type upstream struct {
	*httptest.Server
	name   string
	hits   atomic.Int32
	status atomic.Int32
	ready  atomic.Int32  // what /readyz answers
	hold   chan struct{} // when set, requests wait for it to close
	size   atomic.Int32  // padding added to the body
}

type echo struct {
	Service string      `json:"service"`
	Path    string      `json:"path"`
	Header  http.Header `json:"header"`
	Body    string      `json:"body"`
	Padding string      `json:"padding,omitempty"`
}

func newUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	u := &upstream{name: name}
	u.status.Store(http.StatusOK)
	u.ready.Store(http.StatusOK)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(int(u.ready.Load()))
			return
		}
		u.hits.Add(1)
		if u.hold != nil {
			<-u.hold
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(u.status.Load()))
		_ = json.NewEncoder(w).Encode(echo{Service: name, Path: r.URL.RequestURI(), Header: r.Header, Body: string(body),
			Padding: strings.Repeat("x", int(u.size.Load()))})
	}))
	t.Cleanup(u.Close)
	return u
}

// deadURL is a base URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

type env struct {
	httpxtest.Client
	issuer *authtest.Issuer
	reg    *prometheus.Registry
}

// start runs a gateway over upstreams (each service's base URLs, or
// sources), changed by the options.
func start(t *testing.T, upstreams map[string][]string, change ...func(*gateway.Config, *gateway.Deps)) env {
	t.Helper()
	sources := map[string]gateway.Source{}
	for name, urls := range upstreams {
		sources[name] = discovery.Static(urls...)
	}
	return startWith(t, sources, change...)
}

func startWith(t *testing.T, sources map[string]gateway.Source, change ...func(*gateway.Config, *gateway.Deps)) env {
	t.Helper()
	issuer := authtest.NewIssuer(t)
	log := logtest.New(t, slog.LevelError)
	reg := observability.NewRegistry()
	deps := gateway.Deps{
		Verifier: auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: issuer.JWKSURL}),
			auth.VerifierConfig{Issuer: authtest.IssuerName, Audience: authtest.Audience}),
		Log:      log,
		Registry: reg,
	}
	cfg := gateway.Config{Routes: platformRoutes(), Upstreams: sources, EjectFor: time.Minute, HealthInterval: 50 * time.Millisecond}
	for _, f := range change {
		f(&cfg, &deps)
	}
	g, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	url, _ := servertest.Start(t, log, reg, g.Module("127.0.0.1:0"))
	return env{Client: httpxtest.Client{BaseURL: url}, issuer: issuer, reg: reg}
}

func services(t *testing.T) (map[string][]string, map[string]*upstream) {
	t.Helper()
	ups := map[string]*upstream{}
	urls := map[string][]string{}
	for _, name := range platformServices() {
		ups[name] = newUpstream(t, name)
		urls[name] = []string{ups[name].URL}
	}
	return urls, ups
}

func TestEachPathReachesItsService(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	e := start(t, urls)
	tests := []struct{ path, service string }{
		{"/v1/auth/login", "users"},
		{"/v1/users/me", "users"},
		{"/v1/admin/users?limit=5", "users"},
		{"/.well-known/jwks.json", "users"},
		{"/v1/categories", "products"},
		{"/v1/products?category=lamps&attr.colour=red", "products"},
		{"/v1/products/0193a6d0-0000-7000-8000-000000000001", "products"},
		{"/v1/cart/items/0193a6d0-0000-7000-8000-000000000001", "orders"},
		{"/v1/orders", "orders"},
		{"/v1/sub-orders/x/ship", "orders"},
		{"/v1/stock/x/adjustments", "orders"},
		{"/v1/payments/webhook", "orders"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" goes to "+tt.service, func(t *testing.T) {
			var got echo
			e.Do(t, httpxtest.Anonymous, "GET", tt.path, nil).Want(t, http.StatusOK).Decode(t, &got)
			if got.Service != tt.service || got.Path != tt.path {
				t.Errorf("reached %s at %s", got.Service, got.Path)
			}
		})
	}
	e.Do(t, httpxtest.Anonymous, "GET", "/v2/nothing", nil).WantProblem(t, http.StatusNotFound, "route_not_found")
	if r := e.Do(t, httpxtest.Anonymous, "GET", "/api/openapi.yaml", nil).Want(t, http.StatusOK); !strings.HasPrefix(string(r.Body), "openapi:") {
		t.Errorf("/api/openapi.yaml = %.40q", r.Body)
	}
	r := e.Do(t, httpxtest.Anonymous, "GET", "/api/", nil).Want(t, http.StatusOK)
	if !strings.Contains(string(r.Body), "/v1/orders") || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("/api/ is not the API reference: %s %.60q", r.Header.Get("Content-Type"), r.Body)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("the reference page's CSP is %q", csp)
	}
}

func TestBadTokensStopAtTheEdge(t *testing.T) {
	t.Parallel()
	urls, ups := services(t)
	e := start(t, urls)
	forged := authtest.NewIssuer(t).Token(t, "someone", auth.RoleAdmin) // signed by a key the users service never had
	r := e.Do(t, httpxtest.Caller{Token: forged}, "GET", "/v1/orders", nil)
	r.WantProblem(t, http.StatusUnauthorized, "invalid_token")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without a WWW-Authenticate challenge")
	}
	if n := ups["orders"].hits.Load(); n != 0 {
		t.Errorf("a forged token reached the service %d times", n)
	}
	var got echo
	good := e.issuer.Token(t, "buyer-1", auth.RoleBuyer)
	e.Do(t, httpxtest.Caller{Token: good}, "GET", "/v1/orders", nil).Want(t, http.StatusOK).Decode(t, &got)
	if got.Header.Get("Authorization") != "Bearer "+good {
		t.Error("the service did not get the token to verify itself")
	}
	e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
}

func TestATokenIsNotCheckedWhereTheAPINeedsNone(t *testing.T) {
	t.Parallel()
	urls, ups := services(t)
	e := start(t, urls)
	stale := httpxtest.Caller{Token: "expired-or-garbage"}
	tests := []struct {
		method, path string
		status       int
	}{
		{"POST", "/v1/auth/login", http.StatusOK},
		{"POST", "/v1/auth/refresh", http.StatusOK},
		{"GET", "/v1/categories", http.StatusOK},
		{"GET", "/.well-known/jwks.json", http.StatusOK},
		{"GET", "/api/", http.StatusOK},
		// Where a token is optional the service reads it, so a bad one
		// stops at the edge as where it is required.
		{"GET", "/v1/products", http.StatusUnauthorized},
		{"PUT", "/v1/categories/x", http.StatusUnauthorized},
		{"GET", "/v1/orders", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" with a bad token answers "+strconv.Itoa(tt.status), func(t *testing.T) {
			e.Do(t, stale, tt.method, tt.path, nil).Want(t, tt.status)
		})
	}
	if ups["orders"].hits.Load() != 0 {
		t.Error("a bad token reached the orders service")
	}
}

func TestClientHeadersCannotPoseAsTheGatewayOrAService(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	e := start(t, urls)
	var got echo
	r := e.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/login", `{"email":"a@example.com"}`,
		"X-Internal-User", "admin", "X-Forwarded-For", "10.9.8.7", "Forwarded", "for=10.9.8.7",
		"Connection", "X-Secret", "X-Secret", "s3cr3t", "X-Request-ID", "client-req-1").Want(t, http.StatusOK)
	r.Decode(t, &got)
	for _, name := range []string{"X-Internal-User", "Forwarded", "X-Secret"} {
		if v := got.Header.Get(name); v != "" {
			t.Errorf("the service got %s: %q", name, v)
		}
	}
	if v := got.Header.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the client's own address", v)
	}
	if got.Header.Get("X-Request-ID") != "client-req-1" || r.Header.Get("X-Request-ID") != "client-req-1" {
		t.Errorf("request id %q upstream, %q returned", got.Header.Get("X-Request-ID"), r.Header.Get("X-Request-ID"))
	}
	if got.Body != `{"email":"a@example.com"}` {
		t.Errorf("body %q", got.Body)
	}
}

func TestBehindATrustedProxyTheServiceLearnsTheClientsAddress(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	var got echo
	e.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/login", `{}`, "X-Forwarded-For", "198.51.100.1, 203.0.113.7").
		Want(t, http.StatusOK).Decode(t, &got)
	if v := got.Header.Values("X-Forwarded-For"); len(v) != 1 || v[0] != "203.0.113.7" {
		t.Errorf("X-Forwarded-For %q, want the address the trusted proxy saw", v)
	}
}

func TestRequestsAreRetriedOnAnotherInstanceOnlyWhenThatIsSafe(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	lost, good := newUpstream(t, "lost"), newUpstream(t, "good")
	lost.status.Store(http.StatusBadGateway) // as from a proxy that lost the instance behind it
	urls["orders"] = []string{deadURL(t), lost.URL, good.URL}
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.EjectAfter = 1000; c.BreakerFailures = 1000 })

	// A dead instance never received the request: even a POST moves on.
	// A lost one may have acted: a POST that is not idempotent gets its
	// answer, and so does one whose key the operation does not honour.
	for _, path := range []string{"/v1/stock/x/adjustments", "/v1/cart"} {
		statuses := map[int]int{}
		for range 9 {
			statuses[e.Do(t, httpxtest.Anonymous, "POST", path, `{}`, "Idempotency-Key", "k0").Status]++
		}
		if statuses[http.StatusOK]+statuses[http.StatusBadGateway] != 9 || statuses[http.StatusBadGateway] == 0 {
			t.Errorf("POST %s: %v", path, statuses)
		}
	}
	for _, tc := range []struct {
		name   string
		method string
		header []string
	}{
		{"a GET", "GET", nil},
		{"a checkout with an Idempotency-Key", "POST", []string{"Idempotency-Key", "k1"}},
	} {
		t.Run(tc.name+" always reaches the good instance", func(t *testing.T) {
			for range 9 {
				var got echo
				e.Do(t, httpxtest.Anonymous, tc.method, "/v1/orders", `{}`, tc.header...).Want(t, http.StatusOK).Decode(t, &got)
				if got.Service != "good" {
					t.Fatalf("answered by %s", got.Service)
				}
			}
		})
	}
}

func TestAServicesOwn503IsPassedOnNotRetriedAndNotHeldAgainstIt(t *testing.T) {
	t.Parallel()
	urls, ups := services(t)
	busy := ups["users"]
	busy.status.Store(http.StatusServiceUnavailable)
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.EjectAfter, c.BreakerFailures = 2, 2 })
	for range 10 {
		var got echo
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/users/me", nil).Want(t, http.StatusServiceUnavailable).Decode(t, &got)
		if got.Service != "users" {
			t.Fatalf("the answer is not the service's: %+v", got)
		}
	}
	if n := busy.hits.Load(); n != 10 {
		t.Errorf("the busy service got %d requests for 10, want no retries and no ejection", n)
	}
}

func TestARequestGetsOneDeadlineForAllItsAttempts(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	slow1, slow2 := newUpstream(t, "slow1"), newUpstream(t, "slow2")
	slow1.hold, slow2.hold = make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(slow1.hold); close(slow2.hold) })
	urls["products"] = []string{slow1.URL, slow2.URL}
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.Timeout = 300 * time.Millisecond })
	began := time.Now()
	e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).WantProblem(t, http.StatusServiceUnavailable, "upstream_timeout")
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the answer took %s for a 300ms timeout", took)
	}
	if n := slow1.hits.Load() + slow2.hits.Load(); n != 1 {
		t.Errorf("a request that ran out of time was tried %d times", n)
	}
}

func TestRoundRobinSharesEvenlyWhenAnInstanceIsLeftOut(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	b, c := newUpstream(t, "b"), newUpstream(t, "c")
	urls["products"] = []string{deadURL(t), b.URL, c.URL}
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.EjectAfter = 1 })
	for range 100 {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
	}
	if nb, nc := b.hits.Load(), c.hits.Load(); nb < 45 || nc < 45 {
		t.Errorf("with one instance left out the others got %d and %d of 100", nb, nc)
	}
}

func TestAFailingInstanceIsLeftOutForAWhile(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	sick, good := newUpstream(t, "sick"), newUpstream(t, "good")
	sick.status.Store(http.StatusBadGateway)
	urls["products"] = []string{sick.URL, good.URL}
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.EjectAfter = 3 })
	for range 30 {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
	}
	if n := sick.hits.Load(); n != 3 {
		t.Errorf("the failing instance got %d of 30 requests, want 3 before it was left out", n)
	}
}

func TestWhenNoInstanceCanServeTheAnswerIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	urls["users"] = []string{deadURL(t), deadURL(t)}
	e := start(t, urls)
	r := e.Do(t, httpxtest.Anonymous, "GET", "/v1/users/me", nil)
	r.WantProblem(t, http.StatusServiceUnavailable, "service_unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	e.Do(t, httpxtest.Anonymous, "POST", "/v1/products", strings.Repeat("x", 2<<20)).WantProblem(t, http.StatusRequestEntityTooLarge, "body_too_large")
}

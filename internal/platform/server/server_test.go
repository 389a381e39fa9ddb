package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/platform/server"
)

// running is a server started by startServer.
type running struct {
	srv    *server.Server
	addrs  []string // base URLs, one per module
	cancel context.CancelFunc
	done   chan error // receives Run's result
}

// startServer runs modules on loopback ports until the test ends.
func startServer(t *testing.T, shutdownTimeout time.Duration, modules ...server.Module) *running {
	t.Helper()
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), shutdownTimeout)
	r := &running{srv: srv, done: make(chan error, 1)}
	for _, m := range modules {
		m.Addr = "127.0.0.1:0"
		if m.Routes == nil {
			m.Routes = func(*httpx.Router) {}
		}
		addr, err := srv.Add(m)
		if err != nil {
			t.Fatalf("Add %s: %v", m.Name, err)
		}
		r.addrs = append(r.addrs, "http://"+addr.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	return r
}

// wait returns Run's result after cancel.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	err := eventually.Receive(t, "Run to return", r.done)
	r.done <- err // let the cleanup see it too
	return err
}

// response is what fetch read.
type response struct {
	status int
	header http.Header
	body   string
}

// fetch sends a request on a fresh connection and reads the whole answer.
func fetch(t *testing.T, method, url string) response {
	t.Helper()
	res, err := tryFetch(method, url, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return res
}

func tryFetch(method, url string, header http.Header) (response, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return response{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(body)}, err
}

// problemCode returns the code of a problem response, failing when the
// answer is not a problem.
func problemCode(t *testing.T, res response) string {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %q", ct, res.body)
	}
	var p httpx.Problem
	if err := json.Unmarshal([]byte(res.body), &p); err != nil {
		t.Fatalf("decode problem %q: %v", res.body, err)
	}
	return p.Code
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	dbDown := errors.New("dial tcp 10.9.8.7:5432: connection refused")
	tests := []struct {
		name      string
		ready     func(context.Context) error
		readyz    int
		readyCode string // problem code when not ready
	}{
		{name: "a module without a readiness check is ready", ready: nil, readyz: http.StatusOK},
		{name: "a module whose dependencies answer is ready", ready: func(context.Context) error { return nil }, readyz: http.StatusOK},
		{
			name: "a module whose dependency fails is not ready", ready: func(context.Context) error { return dbDown },
			readyz: http.StatusServiceUnavailable, readyCode: "not_ready",
		},
		{
			name: "a module whose check outlives its deadline is not ready",
			ready: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			},
			readyz: http.StatusServiceUnavailable, readyCode: "not_ready",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := startServer(t, 5*time.Second, server.Module{Name: "users", Ready: tt.ready})

			if res := fetch(t, http.MethodGet, r.addrs[0]+"/healthz"); res.status != http.StatusOK || !strings.Contains(res.body, `"ok"`) {
				t.Errorf("/healthz = %d %q, want 200 ok", res.status, res.body)
			}
			res := fetch(t, http.MethodGet, r.addrs[0]+"/readyz")
			if res.status != tt.readyz {
				t.Fatalf("/readyz = %d %q, want %d", res.status, res.body, tt.readyz)
			}
			if tt.readyCode == "" {
				return
			}
			if code := problemCode(t, res); code != tt.readyCode {
				t.Errorf("/readyz problem code = %q, want %q", code, tt.readyCode)
			}
			if strings.Contains(res.body, "10.9.8.7") {
				t.Errorf("/readyz body %q leaks the dependency error", res.body)
			}
		})
	}
}

func TestReadyzFollowsPostgreSQL(t *testing.T) {
	t.Parallel()
	down, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/app?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatalf("pool config: %v", err)
	}
	t.Cleanup(down.Close)
	_, up := pgtest.New(t, nil)

	r := startServer(t, 5*time.Second,
		server.Module{Name: "orders", Ready: down.Ping},
		server.Module{Name: "users", Ready: up.Ping},
	)
	if res := fetch(t, http.MethodGet, r.addrs[0]+"/readyz"); res.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with PostgreSQL unreachable = %d %q, want 503", res.status, res.body)
	}
	if res := fetch(t, http.MethodGet, r.addrs[1]+"/readyz"); res.status != http.StatusOK {
		t.Errorf("/readyz with PostgreSQL up = %d %q, want 200", res.status, res.body)
	}
}

func TestModuleRoutesAreServedAndMeasured(t *testing.T) {
	t.Parallel()
	r := startServer(t, 5*time.Second, server.Module{
		Name: "users",
		Routes: func(rt *httpx.Router) {
			rt.HandleFunc("GET /v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
				httpx.JSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
			})
		},
	})
	if res := fetch(t, http.MethodGet, r.addrs[0]+"/v1/users/42"); res.status != http.StatusOK || !strings.Contains(res.body, `"42"`) {
		t.Fatalf("GET /v1/users/42 = %d %q, want 200 with the id", res.status, res.body)
	}
	fetch(t, http.MethodGet, r.addrs[0]+"/healthz")

	metrics := fetch(t, http.MethodGet, r.addrs[0]+"/metrics")
	if metrics.status != http.StatusOK {
		t.Fatalf("/metrics = %d", metrics.status)
	}
	for _, want := range []string{
		`http_requests_total{method="GET",route="GET /v1/users/{id}",service="users",status="200"} 1`,
		`http_requests_total{method="GET",route="GET /healthz",service="users",status="200"} 1`,
		`http_request_duration_seconds_count{method="GET",route="GET /v1/users/{id}",service="users",status="200"} 1`,
	} {
		if !strings.Contains(metrics.body, want) {
			t.Errorf("/metrics does not contain %s", want)
		}
	}
	if strings.Contains(metrics.body, `route="/v1/users/42"`) {
		t.Error("/metrics labels a series by raw path")
	}
}

func TestEveryResponseCarriesARequestIDAndSecurityHeaders(t *testing.T) {
	t.Parallel()
	r := startServer(t, 5*time.Second, server.Module{
		Name:  "users",
		Ready: func(context.Context) error { return errors.New("down") },
		Routes: func(rt *httpx.Router) {
			rt.HandleFunc("GET /v1/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
		},
	})
	tests := []struct {
		name   string
		method string
		path   string
		status int
	}{
		{name: "health", method: http.MethodGet, path: "/healthz", status: http.StatusOK},
		{name: "readiness failing", method: http.MethodGet, path: "/readyz", status: http.StatusServiceUnavailable},
		{name: "metrics", method: http.MethodGet, path: "/metrics", status: http.StatusOK},
		{name: "an unknown route", method: http.MethodGet, path: "/v1/nothing", status: http.StatusNotFound},
		{name: "a wrong method", method: http.MethodDelete, path: "/healthz", status: http.StatusMethodNotAllowed},
		{name: "a panicking handler", method: http.MethodGet, path: "/v1/panic", status: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := fetch(t, tt.method, r.addrs[0]+tt.path)
			if res.status != tt.status {
				t.Errorf("status = %d, want %d", res.status, tt.status)
			}
			if res.header.Get(httpx.RequestIDHeader) == "" {
				t.Errorf("no %s header", httpx.RequestIDHeader)
			}
			if res.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", res.header.Get("X-Content-Type-Options"))
			}

			echoed, err := tryFetch(tt.method, r.addrs[0]+tt.path, http.Header{"X-Request-Id": {"client-id-1"}})
			if err != nil {
				t.Fatalf("fetch with an id: %v", err)
			}
			if got := echoed.header.Get(httpx.RequestIDHeader); got != "client-id-1" {
				t.Errorf("%s = %q, want the client's client-id-1", httpx.RequestIDHeader, got)
			}
		})
	}
	if res := fetch(t, http.MethodGet, r.addrs[0]+"/healthz"); res.status != http.StatusOK {
		t.Errorf("after a panic /healthz = %d, want 200", res.status)
	}
}

func TestModulesRunOnTheirOwnListeners(t *testing.T) {
	t.Parallel()
	route := func(name string) func(*httpx.Router) {
		return func(rt *httpx.Router) {
			rt.HandleFunc("GET /whoami", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) })
		}
	}
	r := startServer(t, 5*time.Second, server.Module{Name: "users", Routes: route("users")}, server.Module{Name: "orders", Routes: route("orders")})
	for i, want := range []string{"users", "orders"} {
		if res := fetch(t, http.MethodGet, r.addrs[i]+"/whoami"); res.body != want {
			t.Errorf("module %d answered %q, want %q", i, res.body, want)
		}
	}
}

func TestAPublicModuleLeavesMetricsToTheMetricsListener(t *testing.T) {
	t.Parallel()
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 5*time.Second)
	public, err := srv.Add(server.Module{Name: "gateway", Addr: "127.0.0.1:0", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := srv.AddMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if res := fetch(t, http.MethodGet, "http://"+public.String()+"/metrics"); res.status != http.StatusNotFound {
		t.Errorf("a public listener answered /metrics with %d", res.status)
	}
	if res := fetch(t, http.MethodGet, "http://"+metrics.String()+"/metrics"); res.status != http.StatusOK || !strings.Contains(res.body, "http_requests_total") {
		t.Errorf("the metrics listener answered %d %.80q", res.status, res.body)
	}
}

func TestAddReportsAnAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), time.Second)
	_, err = srv.Add(server.Module{Name: "users", Addr: ln.Addr().String(), Routes: func(*httpx.Router) {}})
	if err == nil || !strings.Contains(err.Error(), "users: listen on "+ln.Addr().String()) {
		t.Errorf("Add on a busy address = %v, want an error naming the module and address", err)
	}
}

// slowModule is a module whose GET /slow holds the request until release is
// closed, and which records when it is closed.
type slowModule struct {
	started     chan struct{}
	release     chan struct{}
	finished    atomic.Bool // the slow handler has written its answer
	closed      atomic.Bool
	closedEarly atomic.Bool // Close ran while a request was still in flight
}

func newSlowModule() *slowModule {
	return &slowModule{started: make(chan struct{}, 1), release: make(chan struct{})}
}

func (s *slowModule) module() server.Module {
	return server.Module{
		Name: "users",
		Routes: func(rt *httpx.Router) {
			rt.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
				s.started <- struct{}{}
				select {
				case <-s.release:
				case <-time.After(5 * time.Second):
				}
				time.Sleep(50 * time.Millisecond) // still working after release
				_, _ = io.WriteString(w, "done")
				s.finished.Store(true)
			})
		},
		Close: func() {
			s.closedEarly.Store(!s.finished.Load())
			s.closed.Store(true)
		},
	}
}

func TestGracefulShutdownFinishesRequestsInFlight(t *testing.T) {
	t.Parallel()
	slow := newSlowModule()
	r := startServer(t, 5*time.Second, slow.module())
	base := r.addrs[0]

	result := make(chan response, 1)
	go func() {
		res, err := tryFetch(http.MethodGet, base+"/slow", nil)
		if err != nil {
			res.body = err.Error()
		}
		result <- res
	}()
	<-slow.started
	r.cancel()

	// While the request drains, the listener is gone: new clients are refused.
	eventually.True(t, "new connections refused once shutdown began", func() bool {
		_, err := tryFetch(http.MethodGet, base+"/healthz", nil)
		return err != nil
	})
	if slow.closed.Load() {
		t.Error("module closed while a request was still in flight")
	}

	close(slow.release)
	res := <-result
	if res.status != http.StatusOK || res.body != "done" {
		t.Errorf("request in flight during shutdown = %d %q, want 200 done", res.status, res.body)
	}
	if err := r.wait(t); err != nil {
		t.Errorf("Run = %v, want nil after a clean shutdown", err)
	}
	if !slow.closed.Load() || slow.closedEarly.Load() {
		t.Errorf("module closed = %v, closed before the request finished = %v; want closed after it", slow.closed.Load(), slow.closedEarly.Load())
	}
	if _, err := tryFetch(http.MethodGet, base+"/healthz", nil); err == nil {
		t.Error("a request after Run returned was served")
	}
}

func TestShutdownGivesUpAfterItsTimeoutAndStillCloses(t *testing.T) {
	t.Parallel()
	slow := newSlowModule()
	t.Cleanup(func() { close(slow.release) })
	r := startServer(t, 100*time.Millisecond, slow.module())

	go func() { _, _ = tryFetch(http.MethodGet, r.addrs[0]+"/slow", nil) }()
	<-slow.started
	r.cancel()
	err := r.wait(t)
	if err == nil || !strings.Contains(err.Error(), "users: shutdown") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want a users shutdown deadline error", err)
	}
	if !slow.closed.Load() {
		t.Error("module not closed after the shutdown timeout")
	}
}

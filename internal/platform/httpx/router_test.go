package httpx_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// newTestRouter returns a router with one item route and the registry its
// metrics are in.
func newTestRouter(t *testing.T) (*httpx.Router, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	rt := httpx.NewRouter("catalog", observability.NewHTTPMetrics(reg))
	rt.HandleFunc("GET /v1/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	rt.HandleFunc("DELETE /v1/items/{id}", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return rt, reg
}

func TestRouterAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		url        string
		status     int
		wantCode   string // problem code, "" for a non-problem answer
		wantBody   string // for a non-problem answer
		wantAllow  []string
		wantRoute  string // route label the request is counted under
		wantMethod string
	}{
		{
			name: "a registered route is served", method: http.MethodGet, url: "/v1/items/42",
			status: http.StatusOK, wantBody: `{"id":"42"}`, wantRoute: "GET /v1/items/{id}",
		},
		{
			name: "a second method on the same path is served", method: http.MethodDelete, url: "/v1/items/42",
			status: http.StatusNoContent, wantRoute: "DELETE /v1/items/{id}",
		},
		{
			name: "an unknown path is a route_not_found problem", method: http.MethodGet, url: "/v1/nothing/here",
			status: http.StatusNotFound, wantCode: "route_not_found", wantRoute: "unmatched",
		},
		{
			name: "a wrong method is a method_not_allowed problem with Allow", method: http.MethodPost, url: "/v1/items/42",
			status: http.StatusMethodNotAllowed, wantCode: "method_not_allowed", wantAllow: []string{"DELETE", "GET", "HEAD"},
			wantRoute: "unmatched",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt, reg := newTestRouter(t)
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, httptest.NewRequest(tt.method, tt.url, nil))

			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %q", w.Code, tt.status, w.Body)
			}
			if tt.wantCode != "" {
				p := decodeProblem(t, w)
				if p.Code != tt.wantCode || p.Status != tt.status || p.Instance != tt.url {
					t.Errorf("problem = %+v, want code %s, status %d, instance %s", p, tt.wantCode, tt.status, tt.url)
				}
			} else if got := strings.TrimSpace(w.Body.String()); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if tt.wantAllow != nil {
				for _, m := range tt.wantAllow {
					if !strings.Contains(w.Header().Get("Allow"), m) {
						t.Errorf("Allow = %q, want it to list %s", w.Header().Get("Allow"), m)
					}
				}
			}

			labels := map[string]string{"service": "catalog", "route": tt.wantRoute, "method": tt.method, "status": strconv.Itoa(tt.status)}
			if got := metricValue(t, reg, "http_requests_total", labels); got != 1 {
				t.Errorf("http_requests_total%v = %v, want 1", labels, got)
			}
			if got := histogramCount(t, reg, "http_request_duration_seconds", labels); got != 1 {
				t.Errorf("http_request_duration_seconds%v count = %d, want 1", labels, got)
			}
			inFlight := map[string]string{"service": "catalog", "route": tt.wantRoute}
			if got := metricValue(t, reg, "http_requests_in_flight", inFlight); got != 0 {
				t.Errorf("http_requests_in_flight%v = %v after the request, want 0", inFlight, got)
			}
		})
	}
}

func TestRouterLabelsMetricsByPatternNotPath(t *testing.T) {
	t.Parallel()
	rt, reg := newTestRouter(t)
	for _, url := range []string{"/v1/items/1", "/v1/items/2", "/v1/items/3", "/no/such/a", "/no/such/b"} {
		rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, url, nil))
	}
	byRoute := map[string]float64{}
	for _, m := range family(t, reg, "http_requests_total").GetMetric() {
		byRoute[label(m, "route")] += m.GetCounter().GetValue()
	}
	want := map[string]float64{"GET /v1/items/{id}": 3, "unmatched": 2}
	if len(byRoute) != len(want) {
		t.Errorf("routes labelled = %v, want only %v", byRoute, want)
	}
	for route, n := range want {
		if byRoute[route] != n {
			t.Errorf("requests for route %q = %v, want %v (all: %v)", route, byRoute[route], n, byRoute)
		}
	}
}

func TestRouterCountsInFlightRequests(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	rt := httpx.NewRouter("catalog", observability.NewHTTPMetrics(reg))
	labels := map[string]string{"service": "catalog", "route": "GET /slow"}
	var during float64
	rt.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		during = metricValue(t, reg, "http_requests_in_flight", labels)
	})
	rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/slow", nil))
	if during != 1 {
		t.Errorf("in flight during the request = %v, want 1", during)
	}
	if after := metricValue(t, reg, "http_requests_in_flight", labels); after != 0 {
		t.Errorf("in flight after the request = %v, want 0", after)
	}
}

func TestRouterPassesThroughAPanicAfterCounting(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	rt := httpx.NewRouter("catalog", observability.NewHTTPMetrics(reg))
	rt.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	log, _ := newTestLogger(t)
	w := httptest.NewRecorder()
	httpx.Recover(log)(rt).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", w.Code)
	}
	inFlight := map[string]string{"service": "catalog", "route": "GET /boom"}
	if got := metricValue(t, reg, "http_requests_in_flight", inFlight); got != 0 {
		t.Errorf("in flight after a panic = %v, want 0", got)
	}
}

func TestRouterKeepsHandlerResponsesIntact(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	rt := httpx.NewRouter("catalog", observability.NewHTTPMetrics(reg))
	// A handler's own 404 is the handler's answer, not the router's problem.
	rt.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, _ *http.Request) {
		httpx.JSON(w, http.StatusNotFound, map[string]string{"mine": "yes"})
	})
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/things/1", nil))
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["mine"] != "yes" {
		t.Errorf("body = %q, want the handler's own", w.Body)
	}
}

// family returns the gathered metric family called name.
func family(t *testing.T, g prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	t.Fatalf("no metric family %s", name)
	return nil
}

// find returns the metric of family name whose labels are exactly labels,
// or nil.
func find(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	for _, m := range family(t, g, name).GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && label(m, k) == v
		}
		if match {
			return m
		}
	}
	return nil
}

// metricValue returns a counter's or gauge's value, failing when the series
// does not exist.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(t, g, name, labels)
	if m == nil {
		t.Fatalf("no %s series with labels %v", name, labels)
	}
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// histogramCount returns how many observations a histogram series holds.
func histogramCount(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	m := find(t, g, name, labels)
	if m == nil {
		t.Fatalf("no %s series with labels %v", name, labels)
	}
	return m.GetHistogram().GetSampleCount()
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

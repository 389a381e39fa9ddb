package httpx_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// TestTheAccessLogNamesTheRouteUserAndProblemCode serves requests through
// the access log and a router, as the server does, and reads the one line
// each request logged.
func TestTheAccessLogNamesTheRouteUserAndProblemCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path string
		want       map[string]any // fields the line must have
		absent     []string       // fields it must not have
	}{
		{
			name:   "a served request names its route template and its user",
			path:   "/v1/items/7",
			want:   map[string]any{"route": "GET /v1/items/{id}", "path": "/v1/items/7", "user_id": "user-1", "status": float64(200)},
			absent: []string{"error_code"},
		},
		{
			name: "a refused request names the problem code it was answered with",
			path: "/v1/items/missing",
			want: map[string]any{"route": "GET /v1/items/{id}", "error_code": "item_not_found", "status": float64(404)},
		},
		{
			name:   "a request no route matches is logged as unmatched with its code",
			path:   "/no/such/path",
			want:   map[string]any{"route": "unmatched", "error_code": "route_not_found", "status": float64(404)},
			absent: []string{"user_id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, logs := newTestLogger(t)
			rt := httpx.NewRouter("catalog", observability.NewHTTPMetrics(prometheus.NewRegistry()))
			rt.HandleFunc("GET /v1/items/{id}", func(w http.ResponseWriter, r *http.Request) {
				observability.SetUserID(r.Context(), "user-1")
				if r.PathValue("id") == "missing" {
					httpx.Error(w, r, log, errs.New(errs.NotFound, "item_not_found", "no such item"))
					return
				}
				httpx.JSON(w, http.StatusOK, map[string]string{})
			})
			httpx.Chain(rt, httpx.AccessLog(log)).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, tt.path, nil))
			var line map[string]any
			if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
				t.Fatalf("log %q is not one JSON line: %v", logs, err)
			}
			for key, want := range tt.want {
				if line[key] != want {
					t.Errorf("%s = %v, want %v (line %v)", key, line[key], want, line)
				}
			}
			for _, key := range tt.absent {
				if v, ok := line[key]; ok {
					t.Errorf("%s = %v, want none", key, v)
				}
			}
		})
	}
}

func TestTheRouterCountsProblemsByTheirCode(t *testing.T) {
	t.Parallel()
	rt, reg := newTestRouter(t)
	rt.HandleFunc("GET /v1/broken", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, r, http.StatusConflict, errs.New(errs.Conflict, "item_taken", "taken"))
	})
	for _, url := range []string{"/v1/items/1", "/v1/broken", "/v1/broken", "/no/such/a"} {
		rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, url, nil))
	}
	byCode := map[string]float64{}
	for _, m := range family(t, reg, "http_problems_total").GetMetric() {
		byCode[label(m, "code")] += m.GetCounter().GetValue()
	}
	want := map[string]float64{"item_taken": 2, "route_not_found": 1}
	if len(byCode) != len(want) || byCode["item_taken"] != 2 || byCode["route_not_found"] != 1 {
		t.Errorf("problems by code = %v, want %v", byCode, want)
	}
}

// TestAServiceCalledInProcessLogsAndCountsItsOwnRequest stands for the
// gateway calling a service in-process in "all" mode: the inner request
// carries the outer one's context, yet the problem is counted once, by
// the service that answered it, not again by its caller.
func TestAServiceCalledInProcessLogsAndCountsItsOwnRequest(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger(t)
	reg := prometheus.NewRegistry()
	metrics := observability.NewHTTPMetrics(reg)
	inner := httpx.NewRouter("orders", metrics)
	inner.HandleFunc("GET /v1/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, r, http.StatusNotFound, errs.New(errs.NotFound, "order_not_found", "no such order"))
	})
	innerChain := httpx.Chain(inner, httpx.AccessLog(log))
	outer := httpx.NewRouter("gateway", metrics)
	outer.HandleFunc("GET /v1/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		innerChain.ServeHTTP(w, r) // the in-process upstream gets the caller's context
	})
	httpx.Chain(outer, httpx.AccessLog(log)).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/orders/42", nil))

	byService := map[string]float64{}
	for _, m := range family(t, reg, "http_problems_total").GetMetric() {
		byService[label(m, "service")] += m.GetCounter().GetValue()
	}
	if byService["orders"] != 1 || byService["gateway"] != 0 {
		t.Errorf("problems by service = %v, want one, counted by orders", byService)
	}
}

package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

// Shutdown closes the listeners as it starts draining, so the 503 cannot be
// seen from outside; this test looks at the handler directly.
func TestReadyzAnswers503WhileDraining(t *testing.T) {
	t.Parallel()
	s := New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), time.Second)
	run := &running{module: Module{Name: "users", Routes: func(*httpx.Router) {}, Ready: func(context.Context) error { return nil }}}
	h := s.handler(run)
	serve := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}

	if w := serve("/readyz"); w.Code != http.StatusOK {
		t.Fatalf("/readyz before draining = %d, want 200", w.Code)
	}
	run.draining.Store(true)

	w := serve("/readyz")
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining = %d, want 503", w.Code)
	}
	var p httpx.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code != "shutting_down" {
		t.Errorf("/readyz while draining body %q, want a shutting_down problem", w.Body)
	}
	if p.RequestID == "" || p.RequestID != w.Header().Get(httpx.RequestIDHeader) {
		t.Errorf("problem request_id %q, header %q; want both set and equal", p.RequestID, w.Header().Get(httpx.RequestIDHeader))
	}
	if w := serve("/healthz"); w.Code != http.StatusOK {
		t.Errorf("/healthz while draining = %d, want 200: the process is still alive", w.Code)
	}
}

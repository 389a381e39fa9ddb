package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
)

func TestOnlyInProcessCallsAreMarkedInProcess(t *testing.T) {
	t.Parallel()
	m := server.Module{Name: "mark", Addr: "127.0.0.1:0", Routes: func(rt *httpx.Router) {
		rt.HandleFunc("GET /mark", func(w http.ResponseWriter, r *http.Request) {
			_, _ = fmt.Fprint(w, httpx.InProcess(r))
		})
	}}
	srv, addr := addUnserved(t, m)
	if _, body := roundTrip(t, srv.Local(http.DefaultTransport), http.MethodGet, "http://"+addr+"/mark", "", nil); body != "true" {
		t.Errorf("an in-process call is marked %s, want true", body)
	}
	url, _ := servertest.Start(t, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), m)
	if _, body := roundTrip(t, http.DefaultTransport, http.MethodGet, url+"/mark", "", nil); body != "false" {
		t.Errorf("a call over loopback is marked %s, want false", body)
	}
}

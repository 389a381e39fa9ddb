package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
)

func TestShutdownKeepsServingWith503ReadinessDuringTheDrainDelay(t *testing.T) {
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 5*time.Second)
	srv.SetDrainDelay(time.Second)
	addr, err := srv.Add(server.Module{Name: "svc", Addr: "127.0.0.1:0", Routes: func(*httpx.Router) {}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	if res := fetch(t, "GET", base+"/readyz"); res.status != http.StatusOK {
		t.Fatalf("readyz before shutdown = %d", res.status)
	}
	start := time.Now()
	cancel()
	eventually.True(t, "readyz answers 503 once shutdown begins", func() bool {
		return fetch(t, "GET", base+"/readyz").status == http.StatusServiceUnavailable
	})
	if res := fetch(t, "GET", base+"/readyz"); problemCode(t, res) != "shutting_down" {
		t.Errorf("readyz during the drain delay = %d %s, want 503 shutting_down", res.status, res.body)
	}
	if res := fetch(t, "GET", base+"/healthz"); res.status != http.StatusOK {
		t.Errorf("healthz during the drain delay = %d, want 200: the listener must still serve", res.status)
	}
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("Run returned after %v, before the 1s drain delay", waited)
	}
}

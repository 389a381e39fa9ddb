// Package servertest runs a service module on a loopback port for a test,
// as `marketplace serve` would, and shuts it down when the test ends.
package servertest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/server"
)

// Start serves m (whose Addr should be "127.0.0.1:0") and returns its base
// URL and a stop function, which the test may call early (a crash, a
// deploy) and which runs at cleanup otherwise. reg is the registry
// /metrics serves; pass the one the service registered on.
func Start(tb testing.TB, log *slog.Logger, reg *prometheus.Registry, m server.Module) (baseURL string, stop func()) {
	tb.Helper()
	// Longer than the 5s net/http gives a connection that was opened but
	// never sent a request (a client's spare dial) before Shutdown stops
	// waiting for it.
	srv := server.New(log, reg, 10*time.Second)
	addr, err := srv.Add(m)
	if err != nil {
		tb.Fatalf("servertest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("server shutdown: %v", err)
		}
	})
	tb.Cleanup(stop)
	return "http://" + addr.String(), stop
}

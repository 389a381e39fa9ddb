package server_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
)

// startChecked runs m with readiness checked every interval, each check
// given timeout, and returns its base URL.
func startChecked(t *testing.T, interval, timeout time.Duration, m server.Module) string {
	t.Helper()
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 5*time.Second)
	srv.SetReadiness(interval, timeout)
	m.Addr = "127.0.0.1:0"
	m.Routes = func(*httpx.Router) {}
	addr, err := srv.Add(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return "http://" + addr.String()
}

// quickFetch is fetch with a client that gives up after limit.
func quickFetch(t *testing.T, url string, limit time.Duration) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s within %s: %v", url, limit, err)
	}
	defer res.Body.Close()
	return response{status: res.StatusCode, header: res.Header}
}

func TestAReadinessCheckThatNeverReturnsDoesNotMakeReadyzSlow(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	var calls atomic.Int32
	base := startChecked(t, 50*time.Millisecond, 100*time.Millisecond, server.Module{Name: "stuck",
		Ready: func(context.Context) error { calls.Add(1); <-block; return nil }})
	for range 20 {
		if res := quickFetch(t, base+"/readyz", 500*time.Millisecond); res.status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz with a check that never returns = %d, want 503", res.status)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Ready was called %d times while its first call had not returned, want 1", n)
	}
}

func TestReadyzFollowsTheBackgroundChecks(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	base := startChecked(t, 20*time.Millisecond, time.Second, server.Module{Name: "svc",
		Ready: func(context.Context) error {
			if failing.Load() {
				return errors.New("database unreachable")
			}
			return nil
		}})
	status := func() int { return quickFetch(t, base+"/readyz", time.Second).status }
	tests := []struct {
		name    string
		failing bool
		want    int
	}{
		{name: "a passing first check makes the first answer 200", failing: false, want: http.StatusOK},
		{name: "a failing check turns readyz 503", failing: true, want: http.StatusServiceUnavailable},
		{name: "a check that passes again turns it back to 200", failing: false, want: http.StatusOK},
	}
	for _, tt := range tests {
		failing.Store(tt.failing)
		eventually.True(t, tt.name, func() bool { return status() == tt.want })
	}
}

func TestAllReadyWaitsForEveryModuleToPassACheck(t *testing.T) {
	t.Parallel()
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 5*time.Second)
	srv.SetReadiness(50*time.Millisecond, time.Second)
	var up atomic.Bool
	refused := make(chan struct{}, 1) // a check of the slow module said not ready
	modules := []server.Module{
		{Name: "quick", Ready: func(context.Context) error { return nil }},
		{Name: "slow", Ready: func(context.Context) error {
			if up.Load() {
				return nil
			}
			select {
			case refused <- struct{}{}:
			default:
			}
			return errors.New("not yet")
		}},
		{Name: "unchecked"}, // no Ready: ready from the start
	}
	for _, m := range modules {
		m.Addr = "127.0.0.1:0"
		if _, err := srv.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	<-refused
	select {
	case <-srv.AllReady():
		t.Fatal("AllReady while a module has not passed a check")
	default:
	}
	up.Store(true)
	eventually.Receive(t, "AllReady closed once the last module is ready", srv.AllReady())
}

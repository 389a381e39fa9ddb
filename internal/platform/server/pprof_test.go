package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
)

func TestProfilesAreServedOnTheMetricsListenerOnlyAndOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		enabled  bool
		listener string // "metrics", "public" or "service"
		want     int
	}{
		{name: "enabled, the metrics listener serves them", enabled: true, listener: "metrics", want: http.StatusOK},
		{name: "enabled, a public module's port does not", enabled: true, listener: "public", want: http.StatusNotFound},
		{name: "enabled, a service's own port does not", enabled: true, listener: "service", want: http.StatusNotFound},
		{name: "disabled, the metrics listener does not", enabled: false, listener: "metrics", want: http.StatusNotFound},
	}
	t.Run("an unknown profile is a 404 problem", func(t *testing.T) {
		t.Parallel()
		res := fetch(t, http.MethodGet, startWithMetrics(t, true)["metrics"]+"/debug/pprof/no-such-profile")
		if res.status != http.StatusNotFound || problemCode(t, res) != "profile_not_found" {
			t.Errorf("unknown profile = %d %s, want 404 profile_not_found", res.status, res.body)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bases := startWithMetrics(t, tt.enabled)
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
				if res := fetch(t, http.MethodGet, bases[tt.listener]+path); res.status != tt.want {
					t.Errorf("GET %s on the %s listener = %d, want %d", path, tt.listener, res.status, tt.want)
				}
			}
		})
	}
}

// startWithMetrics runs a public module, a service module and the metrics
// listener, with profiles enabled or not, and returns their base URLs.
func startWithMetrics(t *testing.T, pprof bool) map[string]string {
	t.Helper()
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 5*time.Second)
	srv.SetPprof(pprof)
	bases := map[string]string{}
	for name, m := range map[string]server.Module{
		"public":  {Name: "gateway", Public: true},
		"service": {Name: "users"},
	} {
		m.Addr, m.Routes = "127.0.0.1:0", func(*httpx.Router) {}
		addr, err := srv.Add(m)
		if err != nil {
			t.Fatal(err)
		}
		bases[name] = "http://" + addr.String()
	}
	addr, err := srv.AddMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bases["metrics"] = "http://" + addr.String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return bases
}

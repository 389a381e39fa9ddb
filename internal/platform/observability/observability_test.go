package observability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

func TestLoggerStampsTheRequestID(t *testing.T) {
	t.Parallel()
	withID := observability.WithRequestID(context.Background(), "req-7")
	tests := []struct {
		name   string
		log    func(*slog.Logger)
		wantID string // "" when the line must have no request_id
	}{
		{
			name:   "a line logged with a request context carries its id",
			log:    func(l *slog.Logger) { l.InfoContext(withID, "order placed", "order", 1) },
			wantID: "req-7",
		},
		{
			name:   "a line logged through With keeps the id",
			log:    func(l *slog.Logger) { l.With("service", "users").WarnContext(withID, "slow query") },
			wantID: "req-7",
		},
		{
			name: "a line logged with a context without an id has none",
			log:  func(l *slog.Logger) { l.InfoContext(context.Background(), "started") },
		},
		{
			name: "a line logged without a context has none",
			log:  func(l *slog.Logger) { l.Info("started") },
		},
		{
			name: "an empty id is not stamped",
			log: func(l *slog.Logger) {
				l.InfoContext(observability.WithRequestID(context.Background(), ""), "started")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tt.log(observability.NewLogger(&buf, slog.LevelInfo))
			line := decodeLine(t, buf.String())
			id, has := line["request_id"]
			switch {
			case tt.wantID == "" && has:
				t.Errorf("request_id = %v, want none", id)
			case tt.wantID != "" && id != tt.wantID:
				t.Errorf("request_id = %v, want %q", id, tt.wantID)
			}
		})
	}
}

func TestLoggerWritesJSONWithLevelAndAttributes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := observability.NewLogger(&buf, slog.LevelInfo).With("service", "users")
	log.WarnContext(observability.WithRequestID(context.Background(), "r1"), "not ready", "attempt", 3)
	line := decodeLine(t, buf.String())
	for key, want := range map[string]any{"level": "WARN", "msg": "not ready", "service": "users", "attempt": float64(3), "request_id": "r1"} {
		if line[key] != want {
			t.Errorf("%s = %v, want %v", key, line[key], want)
		}
	}
	if _, ok := line["time"]; !ok {
		t.Errorf("line %v has no time", line)
	}
}

func TestLoggerDropsRecordsBelowItsLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := observability.NewLogger(&buf, slog.LevelWarn)
	log.InfoContext(observability.WithRequestID(context.Background(), "r1"), "chatty")
	if buf.Len() != 0 {
		t.Errorf("an info line was written at warn level: %q", buf.String())
	}
}

func TestRequestIDReadsBackWhatWasStored(t *testing.T) {
	t.Parallel()
	if got := observability.RequestID(context.Background()); got != "" {
		t.Errorf("RequestID of a bare context = %q, want empty", got)
	}
	ctx := observability.WithRequestID(context.Background(), "abc")
	if got := observability.RequestID(ctx); got != "abc" {
		t.Errorf("RequestID = %q, want abc", got)
	}
}

func TestNewHTTPMetricsRegistersTheInstruments(t *testing.T) {
	t.Parallel()
	reg := observability.NewRegistry()
	m := observability.NewHTTPMetrics(reg)
	m.Requests.WithLabelValues("users", "GET /healthz", "GET", "200").Inc()
	m.Duration.WithLabelValues("users", "GET /healthz", "GET", "200").Observe(0.01)
	m.InFlight.WithLabelValues("users", "GET /healthz").Set(0)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"http_requests_total", "http_request_duration_seconds", "http_requests_in_flight", "go_goroutines", "process_cpu_seconds_total"} {
		if !names[want] {
			t.Errorf("registry has no %s", want)
		}
	}
}

// decodeLine parses the single JSON log line in out.
func decodeLine(t *testing.T, out string) map[string]any {
	t.Helper()
	if n := strings.Count(out, "\n"); n != 1 {
		t.Fatalf("output %q has %d lines, want 1", out, n)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(out), &line); err != nil {
		t.Fatalf("line %q is not JSON: %v", out, err)
	}
	return line
}

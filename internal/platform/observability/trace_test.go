package observability_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

func TestLoggerStampsTheSpan(t *testing.T) {
	t.Parallel()
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	inSpan, span := tp.Tracer("test").Start(context.Background(), "work")
	defer span.End()
	sc := span.SpanContext()
	tests := []struct {
		name      string
		log       func(*slog.Logger)
		wantTrace string // "" when the line must have no trace_id or span_id
		wantSpan  string
	}{
		{
			name:      "a line logged inside a span carries its trace and span ids",
			log:       func(l *slog.Logger) { l.InfoContext(inSpan, "order placed") },
			wantTrace: sc.TraceID().String(), wantSpan: sc.SpanID().String(),
		},
		{
			name:      "a line logged through With inside a span carries them too",
			log:       func(l *slog.Logger) { l.With("service", "orders").WarnContext(inSpan, "slow") },
			wantTrace: sc.TraceID().String(), wantSpan: sc.SpanID().String(),
		},
		{
			name: "a line logged outside any span has neither",
			log:  func(l *slog.Logger) { l.InfoContext(context.Background(), "started") },
		},
		{
			name: "a line whose context holds an invalid span context has neither",
			log: func(l *slog.Logger) {
				l.InfoContext(trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}), "started")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tt.log(observability.NewLogger(&buf, slog.LevelInfo))
			line := decodeLine(t, buf.String())
			for key, want := range map[string]string{"trace_id": tt.wantTrace, "span_id": tt.wantSpan} {
				got, has := line[key]
				switch {
				case want == "" && has:
					t.Errorf("%s = %v, want none", key, got)
				case want != "" && got != want:
					t.Errorf("%s = %v, want %q", key, got, want)
				}
			}
		})
	}
}

package tracing

import (
	"context"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// noopMeters keeps the instrumentation libraries' own metrics off: the
// services export Prometheus metrics of their own, and the libraries would
// otherwise reach for the global MeterProvider.
var noopMeters = metricnoop.NewMeterProvider()

// ChildrenOnly wraps tp so that its tracers only make spans inside a trace
// already under way. Datastore clients use it: a pool's health pings, a
// relay's polling and a cache's background refreshes would otherwise each
// start a trace of their own, many a second, that nobody asked for. A nil
// tp returns nil.
func ChildrenOnly(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return nil
	}
	return childrenOnly{tp: tp}
}

type childrenOnly struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (c childrenOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childTracer{t: c.tp.Tracer(name, opts...)}
}

type childTracer struct {
	embedded.Tracer
	t trace.Tracer
}

// Start starts a span only under a recording parent; otherwise it returns
// ctx and the span ctx already holds, which records nothing.
func (c childTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return c.t.Start(ctx, name, opts...)
}

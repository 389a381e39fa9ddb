package mongo

import (
	"context"
	"sync"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// tracerName names this instrumentation in spans.
const tracerName = "github.com/marketplace-go/marketplace/internal/platform/mongo"

// commandSpans turns the driver's command monitor into client spans, one
// per command sent inside a trace (the contrib otelmongo package for the
// v2 driver is not served here, and this is all of it we need). The span
// names the command and collection, never the filter: that holds values.
type commandSpans struct {
	tracer trace.Tracer
	spans  sync.Map // by connection id and request id: trace.Span
}

type commandKey struct {
	conn string
	req  int64
}

// newCommandMonitor returns a monitor making spans with tp, or nil when tp
// is nil.
func newCommandMonitor(tp trace.TracerProvider) *event.CommandMonitor {
	if tp == nil {
		return nil
	}
	c := &commandSpans{tracer: tracing.ChildrenOnly(tp).Tracer(tracerName)}
	return &event.CommandMonitor{Started: c.started, Succeeded: c.succeeded, Failed: c.failed}
}

func (c *commandSpans) started(ctx context.Context, e *event.CommandStartedEvent) {
	collection := ""
	if v, err := e.Command.IndexErr(0); err == nil {
		collection, _ = v.Value().StringValueOK()
	}
	name := e.CommandName
	if collection != "" {
		name += " " + collection
	}
	_, span := c.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system.name", "mongodb"),
		attribute.String("db.namespace", e.DatabaseName),
		attribute.String("db.operation.name", e.CommandName),
		attribute.String("db.collection.name", collection),
	))
	if span.IsRecording() {
		c.spans.Store(commandKey{e.ConnectionID, e.RequestID}, span)
	}
}

func (c *commandSpans) succeeded(_ context.Context, e *event.CommandSucceededEvent) {
	if s, ok := c.spans.LoadAndDelete(commandKey{e.ConnectionID, e.RequestID}); ok {
		s.(trace.Span).End()
	}
}

func (c *commandSpans) failed(_ context.Context, e *event.CommandFailedEvent) {
	if s, ok := c.spans.LoadAndDelete(commandKey{e.ConnectionID, e.RequestID}); ok {
		span := s.(trace.Span)
		span.RecordError(e.Failure)
		span.SetStatus(codes.Error, e.Failure.Error())
		span.End()
	}
}

// joinMonitors returns a monitor calling a's functions, then b's; a may be
// nil.
func joinMonitors(a, b *event.CommandMonitor) *event.CommandMonitor {
	if a == nil {
		return b
	}
	return &event.CommandMonitor{
		Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			call(a.Started, ctx, e)
			call(b.Started, ctx, e)
		},
		Succeeded: func(ctx context.Context, e *event.CommandSucceededEvent) {
			call(a.Succeeded, ctx, e)
			call(b.Succeeded, ctx, e)
		},
		Failed: func(ctx context.Context, e *event.CommandFailedEvent) {
			call(a.Failed, ctx, e)
			call(b.Failed, ctx, e)
		},
	}
}

// call calls f when it is set.
func call[E any](f func(context.Context, E), ctx context.Context, e E) {
	if f != nil {
		f(ctx, e)
	}
}

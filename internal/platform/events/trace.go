package events

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// tracerName names the instrumentation in the spans this package makes.
const tracerName = "github.com/marketplace-go/marketplace/internal/platform/events"

// headerCarrier lets the propagator read and write AMQP headers: the W3C
// traceparent travels in them, so a consumer's span continues the
// publisher's trace.
type headerCarrier amqp.Table

func (c headerCarrier) Get(key string) string {
	s, _ := c[key].(string)
	return s
}

func (c headerCarrier) Set(key, value string) { c[key] = value }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// messagingAttrs are the semantic-convention attributes of a span about e.
func messagingAttrs(exchange string, e Event, op string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "rabbitmq"),
		attribute.String("messaging.operation.type", op),
		attribute.String("messaging.destination.name", exchange),
		attribute.String("messaging.rabbitmq.destination.routing_key", e.Type),
		attribute.String("messaging.message.id", e.ID),
	}
}

// startPublish starts the producer span of one publish, a child of the
// span in ctx (the request or, through the outbox, the transaction that
// stored the event), and puts its context in msg's headers. Without a
// tracer it returns ctx and a span that records nothing.
func startPublish(ctx context.Context, tp trace.TracerProvider, exchange string, e Event, msg *amqp.Publishing) (context.Context, trace.Span) {
	if tp == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx, span := tp.Tracer(tracerName).Start(ctx, "publish "+e.Type,
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(messagingAttrs(exchange, e, "send")...))
	if msg.Headers == nil {
		msg.Headers = amqp.Table{}
	}
	tracing.Propagator().Inject(ctx, headerCarrier(msg.Headers))
	return ctx, span
}

// startProcess starts the consumer span of handling d's event, a child of
// the producer span whose context arrived in d's headers.
func startProcess(ctx context.Context, tp trace.TracerProvider, queue string, e Event, d amqp.Delivery) (context.Context, trace.Span) {
	if tp == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	if d.Headers != nil {
		ctx = tracing.Propagator().Extract(ctx, headerCarrier(d.Headers))
	}
	attrs := append(messagingAttrs(d.Exchange, e, "process"),
		attribute.String("messaging.destination.subscription.name", queue),
		attribute.Int("messaging.rabbitmq.attempt", attemptOf(d.Headers)))
	return tp.Tracer(tracerName).Start(ctx, "process "+e.Type,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// endSpan records err, if any, and ends span.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, fmt.Sprint(err))
	}
	span.End()
}

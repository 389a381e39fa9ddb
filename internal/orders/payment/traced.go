package payment

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/orders"
)

// tracerName names this instrumentation in spans.
const tracerName = "github.com/marketplace-go/marketplace/internal/orders/payment"

// Traced wraps g so that each charge and refund is a client span naming
// the provider and the outcome, whatever the adapter (the simulated one
// sends no HTTP; Stripe's HTTP calls are spans of their own beneath). A
// nil tp returns g.
func Traced(g orders.PaymentGateway, provider string, tp trace.TracerProvider) orders.PaymentGateway {
	if tp == nil {
		return g
	}
	return traced{g: g, provider: provider, tracer: tp.Tracer(tracerName)}
}

type traced struct {
	g        orders.PaymentGateway
	provider string
	tracer   trace.Tracer
}

func (t traced) Charge(ctx context.Context, req orders.ChargeRequest) (orders.Charge, error) {
	ctx, span := t.tracer.Start(ctx, "payment charge", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("payment.provider", t.provider), attribute.String("payment.currency", req.Currency)))
	defer span.End()
	c, err := t.g.Charge(ctx, req)
	span.SetAttributes(attribute.String("payment.status", string(c.Status)))
	fail(span, err)
	return c, err
}

func (t traced) Refund(ctx context.Context, req orders.RefundRequest) (orders.Refund, error) {
	ctx, span := t.tracer.Start(ctx, "payment refund", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("payment.provider", t.provider)))
	defer span.End()
	r, err := t.g.Refund(ctx, req)
	fail(span, err)
	return r, err
}

// fail marks span as failed by err, if any.
func fail(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

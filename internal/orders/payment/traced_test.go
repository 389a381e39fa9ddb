package payment_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/orders/payment"
)

func TestEachChargeIsAClientSpanNamingTheProviderAndTheOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		paymentMethod string
		wantStatus    string // the payment.status attribute
		wantError     bool
	}{
		{"a charge that succeeds", "pm_card_visa", "succeeded", false},
		{"a declined charge", payment.DeclinedPaymentMethod, "declined", false},
		{"a charge the provider refuses as invalid", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spans := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
			g := payment.Traced(payment.NewSimulated(payment.SimulatedConfig{Seed: 1}), "simulated", tp)
			_, _ = g.Charge(context.Background(), chargeRequest(tt.name, tt.paymentMethod))
			got := spans.GetSpans()
			if len(got) != 1 {
				t.Fatalf("%d spans, want 1", len(got))
			}
			s := got[0]
			if s.Name != "payment charge" || s.SpanKind != trace.SpanKindClient {
				t.Errorf("span %q of kind %v, want a client span payment charge", s.Name, s.SpanKind)
			}
			attrs := attribute.NewSet(s.Attributes...)
			if v, _ := attrs.Value("payment.provider"); v.AsString() != "simulated" {
				t.Errorf("payment.provider %q, want simulated", v.AsString())
			}
			if v, _ := attrs.Value("payment.status"); v.AsString() != tt.wantStatus {
				t.Errorf("payment.status %q, want %q", v.AsString(), tt.wantStatus)
			}
			if failed := s.Status.Code == codes.Error; failed != tt.wantError {
				t.Errorf("span status %v (%s), want an error: %v", s.Status.Code, s.Status.Description, tt.wantError)
			}
		})
	}
}

func TestWithoutATracerProviderTheGatewayIsLeftAsItIs(t *testing.T) {
	t.Parallel()
	g := payment.NewSimulated(payment.SimulatedConfig{Seed: 1})
	if got := payment.Traced(g, "simulated", nil); got != g {
		t.Errorf("Traced with no provider returned %T, want the gateway itself", got)
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/tracing/tracingtest"
)

// TestOneCheckoutThroughTheGatewayIsOneTrace runs the platform in one
// process exporting to an in-process OTLP/HTTP receiver, sends one
// checkout through the gateway as part of a trace the test starts (its
// traceparent header), and checks that the trace holds the gateway's
// spans, the orders service's, its PostgreSQL statements, the outbox
// relay's publish of order.created and the users service's handling of it
// (the buyer's order confirmation, ADR 40) with its own PostgreSQL
// statements, each hop the child of the one before. A price change
// through the gateway is then followed the same way into the consumers of
// product events in orders and search.
func TestOneCheckoutThroughTheGatewayIsOneTrace(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	receiver := tracingtest.NewReceiver(t)
	vars := testVars(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "100",
	})
	getenv := lookup(vars)
	if err := run(context.Background(), []string{"seed", "--products=1", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	edge := httpxtest.Client{BaseURL: "http://" + addrs["gateway"]}

	seller := login(t, edge, sellerEmail(1), seedPassword)
	var product struct {
		ID string `json:"id"`
	}
	edge.Do(t, seller, "POST", "/v1/products", map[string]any{"title": "Traced lamp", "description": "Watched all the way.",
		"category": "lamps", "price": map[string]any{"amount": 4500, "currency": "EUR"}, "status": "active"}).
		Want(t, http.StatusCreated).Decode(t, &product)
	edge.Do(t, seller, "PUT", "/v1/stock/"+product.ID, map[string]any{"on_hand": 5}).Want(t, http.StatusOK)
	email := "tracer-" + uuid.NewString()[:8] + "@example.com"
	edge.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/register",
		map[string]any{"email": email, "password": "plum-kettle-orbit-42", "display_name": "Tracer"}).Want(t, http.StatusCreated)
	buyer := login(t, edge, email, "plum-kettle-orbit-42")

	traceID, parent := newTraceParent()
	var order struct {
		ID string `json:"id"`
	}
	edge.Do(t, buyer, "POST", "/v1/orders", orderOf(orderLine(product.ID, 1)),
		"traceparent", "00-"+traceID+"-"+parent+"-01").Want(t, http.StatusCreated).Decode(t, &order)

	var checkout spans
	eventually.NoError(t, "the checkout's trace holds every hop", func() error {
		checkout = spans(receiver.Trace(traceID))
		gatewayIn, err := checkout.one("gateway", "POST /v1/orders", tracepb.Span_SPAN_KIND_SERVER)
		if err != nil {
			return err
		}
		if gatewayIn.ParentID != parent {
			return fmt.Errorf("the gateway's span has parent %q, want the caller's %s", gatewayIn.ParentID, parent)
		}
		gatewayOut, err := checkout.childOf(gatewayIn, "gateway", tracepb.Span_SPAN_KIND_CLIENT)
		if err != nil {
			return err
		}
		ordersIn, err := checkout.childOf(gatewayOut, "orders", tracepb.Span_SPAN_KIND_SERVER)
		if err != nil {
			return err
		}
		if ordersIn.Name != "POST /v1/orders" {
			return fmt.Errorf("the orders span is named %q, want its route POST /v1/orders", ordersIn.Name)
		}
		if _, err := checkout.below(ordersIn, "orders", "github.com/exaring/otelpgx"); err != nil {
			return fmt.Errorf("no PostgreSQL span below the orders span: %w", err)
		}
		publish, err := checkout.childOf(ordersIn, "orders", tracepb.Span_SPAN_KIND_PRODUCER)
		if err != nil {
			return fmt.Errorf("the outbox publish: %w", err)
		}
		if publish.Name != "publish "+contracts.OrderCreated {
			return fmt.Errorf("the publish span is %q, want publish %s", publish.Name, contracts.OrderCreated)
		}
		confirmation, err := checkout.childOf(publish, "users", tracepb.Span_SPAN_KIND_CONSUMER)
		if err != nil {
			return fmt.Errorf("the order confirmation's consumer: %w", err)
		}
		if _, err := checkout.below(confirmation, "users", "github.com/exaring/otelpgx"); err != nil {
			return fmt.Errorf("no PostgreSQL span below the users consumer's span: %w", err)
		}
		return nil
	})
	t.Logf("the checkout's trace %s has %d spans: %s", traceID, len(checkout), checkout.names())
	for _, s := range checkout {
		if strings.Contains(s.Name, product.ID) || strings.Contains(s.Name, order.ID) {
			t.Errorf("span %q of %s is named with an id: span names must stay a bounded set", s.Name, s.Service)
		}
	}

	// A product event crosses from products to its consumers in orders
	// and search within the trace of the change that made it.
	traceID, parent = newTraceParent()
	edge.Do(t, seller, "PATCH", "/v1/products/"+product.ID, map[string]any{"price": map[string]any{"amount": 3900, "currency": "EUR"}},
		"If-Match", `"1"`, "traceparent", "00-"+traceID+"-"+parent+"-01").Want(t, http.StatusOK)
	eventually.NoError(t, "the price change's trace reaches the product event's consumers", func() error {
		change := spans(receiver.Trace(traceID))
		productsIn, err := change.one("products", "PATCH /v1/products/{id}", tracepb.Span_SPAN_KIND_SERVER)
		if err != nil {
			return err
		}
		if _, err := change.below(productsIn, "products", "github.com/marketplace-go/marketplace/internal/platform/mongo"); err != nil {
			return fmt.Errorf("no MongoDB span below the products span: %w", err)
		}
		// The write drops the product's cached detail in Redis.
		if _, err := change.below(productsIn, "products", "github.com/redis/go-redis/extra/redisotel"); err != nil {
			return fmt.Errorf("no Redis span below the products span: %w", err)
		}
		publish, err := change.one("products", "publish product.updated", tracepb.Span_SPAN_KIND_PRODUCER)
		if err != nil {
			return err
		}
		for _, consumer := range []string{"orders", "search"} {
			if _, err := change.childOf(publish, consumer, tracepb.Span_SPAN_KIND_CONSUMER); err != nil {
				return fmt.Errorf("the consumer in %s: %w", consumer, err)
			}
		}
		return nil
	})
}

// newTraceParent returns a fresh trace id and a parent span id, in hex,
// for a traceparent header the test sends as the trace's caller.
func newTraceParent() (traceID, spanID string) {
	id := strings.ReplaceAll(uuid.NewString(), "-", "")
	return id, id[:16]
}

// spans are the spans of one trace.
type spans []tracingtest.Span

// one returns the only span of service with that name and kind.
func (tr spans) one(service, name string, kind tracepb.Span_SpanKind) (tracingtest.Span, error) {
	var found []tracingtest.Span
	for _, s := range tr {
		if s.Service == service && s.Name == name && s.Kind == kind {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		return tracingtest.Span{}, fmt.Errorf("%d %s spans %q of kind %s, want 1 (the trace has %s)", len(found), service, name, kind, tr.names())
	}
	return found[0], nil
}

// childOf returns a child of parent made by service, of the given kind.
func (tr spans) childOf(parent tracingtest.Span, service string, kind tracepb.Span_SpanKind) (tracingtest.Span, error) {
	for _, s := range tr {
		if s.ParentID == parent.SpanID && s.Service == service && s.Kind == kind {
			return s, nil
		}
	}
	return tracingtest.Span{}, fmt.Errorf("no %s span of kind %s is a child of %s %q (the trace has %s)", service, kind, parent.Service, parent.Name, tr.names())
}

// below returns a span of service from the given instrumentation scope
// that descends from ancestor.
func (tr spans) below(ancestor tracingtest.Span, service, scope string) (tracingtest.Span, error) {
	byID := map[string]tracingtest.Span{}
	for _, s := range tr {
		byID[s.SpanID] = s
	}
	for _, s := range tr {
		if s.Service != service || s.Scope != scope {
			continue
		}
		for p, ok := byID[s.ParentID]; ok; p, ok = byID[p.ParentID] {
			if p.SpanID == ancestor.SpanID {
				return s, nil
			}
		}
	}
	return tracingtest.Span{}, fmt.Errorf("no %s span from %s below %q", service, scope, ancestor.Name)
}

// names lists the spans as service:name, for failure messages.
func (tr spans) names() string {
	var b strings.Builder
	for i, s := range tr {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.Service + ":" + s.Name)
	}
	return "[" + b.String() + "]"
}

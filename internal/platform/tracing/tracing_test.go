package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
	"github.com/marketplace-go/marketplace/internal/platform/tracing/tracingtest"
)

func load(t *testing.T, env map[string]string) (tracing.Config, error) {
	t.Helper()
	e := config.FromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	c := tracing.LoadConfig(e)
	return c, e.Err()
}

func TestConfigReadsTheStandardVariables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		env          map[string]string
		wantEndpoint string
		wantErr      bool
	}{
		{name: "nothing set leaves tracing off", env: nil},
		{name: "the base endpoint gets the traces path", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			wantEndpoint: "http://collector:4318/v1/traces"},
		{name: "the traces endpoint wins over the base", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/otlp/v1/traces"}, wantEndpoint: "https://b/otlp/v1/traces"},
		{name: "OTEL_SDK_DISABLED turns an endpoint off", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
			"OTEL_SDK_DISABLED": "true"}},
		{name: "an unknown sampler is refused", env: map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, wantErr: true},
		{name: "a ratio above one is refused", env: map[string]string{"OTEL_TRACES_SAMPLER_ARG": "1.5"}, wantErr: true},
		{name: "a ratio that is not a number is refused", env: map[string]string{"OTEL_TRACES_SAMPLER_ARG": "ten percent"}, wantErr: true},
		{name: "headers without a key are refused", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "=secret"}, wantErr: true},
		{name: "an endpoint that is not a URL is refused", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, wantErr: true},
		{name: "an unknown compression is refused", env: map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := load(t, tt.env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want one: %v", err, tt.wantErr)
			}
			if !tt.wantErr && c.Endpoint != tt.wantEndpoint {
				t.Errorf("endpoint = %q, want %q", c.Endpoint, tt.wantEndpoint)
			}
		})
	}
}

func TestTracingOffMakesNoProviderAndWrapsNothing(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := tracing.New(c)
	tp, err := tr.Provider("orders")
	if err != nil || tp != nil {
		t.Fatalf("Provider = %v, %v; want nil, nil", tp, err)
	}
	h := http.NotFoundHandler()
	if got := tracing.Handler(h, nil, nil); got == nil {
		t.Fatal("Handler returned nil")
	}
	if got := tracing.Transport(http.DefaultTransport, nil); got != http.DefaultTransport {
		t.Errorf("Transport wrapped the transport with tracing off")
	}
	if tracing.ChildrenOnly(nil) != nil {
		t.Errorf("ChildrenOnly(nil) is not nil")
	}
}

func TestAServedRequestIsExportedAsASpanNamedForItsRoute(t *testing.T) {
	t.Parallel()
	rcv := tracingtest.NewReceiver(t)
	c, err := load(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL, "OTEL_BSP_SCHEDULE_DELAY": "50"})
	if err != nil {
		t.Fatal(err)
	}
	tr := tracing.New(c)
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	tp, err := tr.Provider("orders")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	var inner trace.SpanContext
	mux.HandleFunc("GET /v1/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		tracing.NameRoute(r, "GET /v1/orders/{id}")
		// A datastore span below the request's.
		_, span := tracing.ChildrenOnly(tp).Tracer("db").Start(r.Context(), "select")
		inner = span.SpanContext()
		span.End()
	})
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(tracing.Handler(mux, tp, func(r *http.Request) bool { return r.URL.Path == "/healthz" }))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/healthz", "/v1/orders/0198c7a2-aaaa-7bbb-8ccc-123456789abc"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	var spans []tracingtest.Span
	eventually.True(t, "the request's two spans arrive", func() bool {
		spans = rcv.Trace(inner.TraceID().String())
		return len(spans) == 2
	})
	byName := map[string]tracingtest.Span{}
	for _, s := range spans {
		byName[s.Name] = s
		if s.Service != "orders" {
			t.Errorf("span %q has service.name %q, want orders", s.Name, s.Service)
		}
	}
	server, ok := byName["GET /v1/orders/{id}"]
	if !ok || server.Attrs["http.route"] != "/v1/orders/{id}" {
		t.Fatalf("no server span named for the route with its http.route: %+v", spans)
	}
	if byName["select"].ParentID != server.SpanID {
		t.Errorf("the datastore span's parent is %q, want the server span %q", byName["select"].ParentID, server.SpanID)
	}
	if n := len(rcv.Spans()); n != 2 {
		t.Errorf("%d spans received in all, want 2: the health check makes none", n)
	}
}

func TestChildrenOnlyStartsNoTraceOfItsOwn(t *testing.T) {
	t.Parallel()
	rcv := tracingtest.NewReceiver(t)
	c, err := load(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tr := tracing.New(c)
	tp, err := tr.Provider("products")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tracing.ChildrenOnly(tp).Tracer("db").Start(context.Background(), "ping")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("a span without a parent was started")
	}
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.Spans()); n != 0 {
		t.Errorf("%d spans exported, want none", n)
	}
}

func TestACarrierContinuesTheTraceItWasTakenFrom(t *testing.T) {
	t.Parallel()
	if tracing.Carrier(context.Background()) != nil {
		t.Error("a context without a trace gave a carrier")
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	c := tracing.Carrier(trace.ContextWithSpanContext(context.Background(), sc))
	got := trace.SpanContextFromContext(tracing.FromCarrier(context.Background(), c))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() || !got.IsRemote() {
		t.Errorf("FromCarrier(%v) = %v, want the remote span context %v", c, got, sc)
	}
}

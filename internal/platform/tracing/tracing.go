// Package tracing provides OpenTelemetry tracing for the services: a
// TracerProvider per service, exporting over OTLP/HTTP when an endpoint is
// configured and absent (nil, so that nothing is even wrapped) when not;
// the W3C propagator every hop uses; and the small adapters that put spans
// on HTTP servers and clients, database pools and message headers.
//
// Providers are passed explicitly (server.Deps.Tracer). A nil
// trace.TracerProvider means "not traced" everywhere in this code base:
// the helpers here return their input unchanged for it, so tracing that is
// off costs nothing on the hot paths.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Namespace is every service's service.namespace.
const Namespace = "marketplace"

// Tracing makes the TracerProviders of one process: one per service, so
// that in one process (target all) each module's spans still carry their
// own service.name and a trace viewer shows the hops between them.
type Tracing struct {
	cfg      Config
	version  string
	instance string

	mu        sync.Mutex
	providers map[string]*sdktrace.TracerProvider
}

// New returns the process's tracing. Nothing is exported until Provider
// is called with an endpoint configured.
func New(cfg Config) *Tracing {
	return &Tracing{cfg: cfg, version: Version(), instance: uuid.NewString(),
		providers: map[string]*sdktrace.TracerProvider{}}
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t != nil && t.cfg.Enabled() }

// Provider returns the TracerProvider of service, made on first use, or
// nil when tracing is off. Errors are configuration errors of the
// exporter.
func (t *Tracing) Provider(service string) (trace.TracerProvider, error) {
	if !t.Enabled() {
		return nil, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tp, ok := t.providers[service]; ok {
		return tp, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(t.cfg.Endpoint), otlptracehttp.WithTimeout(t.cfg.Timeout)}
	if len(t.cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(t.cfg.Headers))
	}
	if t.cfg.Gzip {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	} else {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	}
	// Making the exporter connects nothing: exports start with spans.
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter for %s: %w", service, err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(t.cfg.BatchDelay)),
		sdktrace.WithSampler(t.sampler()),
		sdktrace.WithResource(t.resource(service)),
	)
	t.providers[service] = tp
	return tp, nil
}

// resource describes one service of this process. The configured
// attributes come first so that they cannot rename the service.
func (t *Tracing) resource(service string) *resource.Resource {
	attrs := make([]attribute.KeyValue, 0, len(t.cfg.Attributes)+4)
	for k, v := range t.cfg.Attributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	attrs = append(attrs,
		semconv.ServiceName(service),
		semconv.ServiceNamespace(Namespace),
		semconv.ServiceVersion(t.version),
		semconv.ServiceInstanceID(t.instance),
	)
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...)
}

// sampler builds the configured sampler.
func (t *Tracing) sampler() sdktrace.Sampler {
	switch t.cfg.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(t.cfg.SamplerArg)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(t.cfg.SamplerArg))
	default: // parentbased_always_on, the specification's default
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
}

// Shutdown exports the spans still buffered and stops every provider; the
// process calls it last, after its services have stopped making spans.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for name, tp := range t.providers {
		if err := tp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("tracing: flush %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Propagator is the W3C trace context and baggage, the one format spans
// cross process boundaries in: HTTP headers, message headers, the outbox.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Version is the binary's module version, as the resource reports it.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Carrier returns the trace context of ctx as header-like pairs
// (traceparent, and tracestate and baggage when set), for a store that
// keeps work to be done later in the same trace, such as the outbox. It
// returns nil when ctx carries no trace.
func Carrier(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := propagation.MapCarrier{}
	Propagator().Inject(ctx, c)
	return c
}

// FromCarrier returns ctx continuing the trace Carrier saved; with no
// pairs it returns ctx.
func FromCarrier(ctx context.Context, c map[string]string) context.Context {
	if len(c) == 0 {
		return ctx
	}
	return Propagator().Extract(ctx, propagation.MapCarrier(c))
}

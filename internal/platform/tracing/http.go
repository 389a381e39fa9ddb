package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Handler puts a server span around h, continuing the caller's trace from
// its traceparent header. The span is named for the method until the
// router names the route (NameRoute): a span's name must never be a raw
// path, which would give it an unbounded set of names. Requests skip(r)
// selects (health checks, scrapes) get no span. A nil tp returns h.
func Handler(h http.Handler, tp trace.TracerProvider, skip func(*http.Request) bool) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithMeterProvider(noopMeters),
		otelhttp.WithFilter(func(r *http.Request) bool { return skip == nil || !skip(r) }),
		otelhttp.WithSpanNameFormatter(serverSpanName),
	)
}

// serverSpanName is the method and, once a mux has matched the request
// (otelhttp renames the span when it sees the pattern), the route.
func serverSpanName(_ string, r *http.Request) string {
	if r.Pattern == "" {
		return r.Method
	}
	_, path, _ := cutMethod(r.Pattern)
	return r.Method + " " + path
}

// NameRoute names the server span of r for the route pattern that
// matched it, such as "POST /v1/orders", and records the route, once the
// router knows it. Without a span it does nothing.
func NameRoute(r *http.Request, pattern string) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	_, route, _ := cutMethod(pattern)
	span.SetName(r.Method + " " + route)
	span.SetAttributes(attribute.String("http.route", route))
}

// cutMethod splits "GET /x" into its method and path.
func cutMethod(pattern string) (method, path string, ok bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return "", pattern, false
}

// Transport makes a client span for each request sent through rt and
// passes the trace on in the traceparent header. A nil tp returns rt.
func Transport(rt http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	if tp == nil {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithMeterProvider(noopMeters),
		// A client span is named for the method only: the URL holds ids.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method }),
	)
}

// Client returns a copy of c (nil: a zero client) whose requests make
// client spans; with a nil tp it returns c.
func Client(c *http.Client, tp trace.TracerProvider) *http.Client {
	if tp == nil {
		return c
	}
	out := &http.Client{}
	if c != nil {
		*out = *c
	}
	out.Transport = Transport(out.Transport, tp)
	return out
}

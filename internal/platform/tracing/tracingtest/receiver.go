// Package tracingtest is an in-process OTLP/HTTP trace receiver for tests:
// it decodes what exporters POST to /v1/traces (protobuf, gzipped or not)
// and keeps the spans, so a test can wait for a trace and check its shape
// without a Jaeger or a collector to run.
package tracingtest

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is a received span with the service that sent it.
type Span struct {
	Service  string // the resource's service.name
	Scope    string // the instrumentation scope, such as github.com/exaring/otelpgx
	TraceID  string // hex
	SpanID   string // hex
	ParentID string // hex; "" for a root span
	Name     string
	Kind     tracepb.Span_SpanKind
	Attrs    map[string]string // string-valued attributes
}

// Receiver collects the spans exported to it.
type Receiver struct {
	// URL is the base URL to set as OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string

	mu    sync.Mutex
	spans []Span
}

// NewReceiver starts a receiver on a free loopback port, closed when the
// test ends.
func NewReceiver(tb testing.TB) *Receiver {
	tb.Helper()
	r := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// serve decodes one export request, as an OTLP/HTTP collector does.
func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		http.Error(w, "want POST /v1/traces", http.StatusNotFound)
		return
	}
	body := io.Reader(req.Body)
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var export collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &export); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&export)
	out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *Receiver) add(export *collectorpb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range export.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, kv := range s.GetAttributes() {
					if v, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok {
						attrs[kv.GetKey()] = v.StringValue
					}
				}
				parent := ""
				if len(s.GetParentSpanId()) > 0 {
					parent = hex.EncodeToString(s.GetParentSpanId())
				}
				r.spans = append(r.spans, Span{
					Service: service, Scope: ss.GetScope().GetName(),
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentID: parent, Name: s.GetName(), Kind: s.GetKind(), Attrs: attrs,
				})
			}
		}
	}
}

// Trace returns the spans received so far of the trace with the given id.
func (r *Receiver) Trace(traceID string) []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Span
	for _, s := range r.spans {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// Spans returns every span received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

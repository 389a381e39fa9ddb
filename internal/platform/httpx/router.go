package httpx

import (
	"net/http"
	"strconv"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// Router is an http.ServeMux whose routes are measured by their pattern, so
// metrics have a bounded set of labels whatever paths clients send; the
// request's server span, if any, is named for the pattern too.
type Router struct {
	mux     *http.ServeMux
	service string
	metrics *observability.HTTPMetrics
}

// NewRouter returns a router whose metrics carry the given service label.
func NewRouter(service string, metrics *observability.HTTPMetrics) *Router {
	return &Router{mux: http.NewServeMux(), service: service, metrics: metrics}
}

// Handle registers h for a Go 1.22 pattern such as "POST /v1/auth/login".
// h runs only when the path's wildcard values and the query are acceptable
// text (see checkRequestText), so no handler acts on a NUL or a 5,000
// character id.
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, rt.instrument(pattern, textChecked(h, pattern)))
}

// HandleFunc registers f for pattern.
func (rt *Router) HandleFunc(pattern string, f http.HandlerFunc) { rt.Handle(pattern, f) }

// ServeHTTP routes the request. The mux's own plain-text 404 and 405
// answers are rewritten as problems; its Allow header and redirects stay.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, pattern := rt.mux.Handler(r); pattern == "" {
		ctx, _ := observability.WithRequestInfo(r.Context())
		r = r.WithContext(ctx)
		rt.instrument("unmatched", h).ServeHTTP(&problemWriter{ResponseWriter: w, r: r}, r)
		return
	}
	rt.mux.ServeHTTP(w, r)
}

// problemWriter replaces an error body written by the mux with a problem.
type problemWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool
}

func (p *problemWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		p.swallow = true
		WriteProblem(p.ResponseWriter, p.r, code, errs.New(errs.NotFound, "route_not_found", "no such endpoint"))
	case http.StatusMethodNotAllowed:
		p.swallow = true
		WriteProblem(p.ResponseWriter, p.r, code, errs.New(errs.Invalid, "method_not_allowed", "this endpoint does not accept %s", p.r.Method))
	default:
		p.ResponseWriter.WriteHeader(code)
	}
}

func (p *problemWriter) Write(b []byte) (int, error) {
	if p.swallow {
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}

// instrument measures the route's requests, records its template for the
// access log, and counts the problems it answers by their stable code.
func (rt *Router) instrument(route string, h http.Handler) http.Handler {
	inFlight := rt.metrics.InFlight.WithLabelValues(rt.service, route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, info := observability.WithRequestInfo(r.Context())
		r = r.WithContext(ctx)
		observability.SetRoute(ctx, route)
		tracing.NameRoute(r, route)
		inFlight.Inc()
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		returned := false
		defer func() {
			// A panicking handler is counted as the 500 Recover will send.
			status := rec.Status()
			if !returned {
				status = http.StatusInternalServerError
			}
			labels := []string{rt.service, route, r.Method, strconv.Itoa(status)}
			rt.metrics.Requests.WithLabelValues(labels...).Inc()
			rt.metrics.Duration.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
			if code := info.ProblemCode(); code != "" || !returned {
				if !returned {
					code = "internal"
				}
				rt.metrics.Problems.WithLabelValues(rt.service, code).Inc()
			}
			inFlight.Dec()
		}()
		h.ServeHTTP(rec, r)
		returned = true
	})
}

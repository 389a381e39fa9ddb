package httpx

import (
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// RequestIDHeader carries the request id between clients, the gateway and
// services.
const RequestIDHeader = "X-Request-ID"

// A client-chosen id is kept only when it cannot smuggle anything into logs.
var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain applies middleware so that the first one listed runs first.
func Chain(h http.Handler, mw ...Middleware) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// RequestID accepts a well-formed X-Request-ID or makes one, echoes it in the
// response and puts it in the request context for the logger.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !safeRequestID.MatchString(id) {
			id = uuid.NewString()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(observability.WithRequestID(r.Context(), id)))
	})
}

// Recover turns a panic into a logged 500 problem so one bad request cannot
// take the process down.
func Recover(log *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic serving request", "panic", v, "path", r.URL.Path)
					WriteProblem(w, r, http.StatusInternalServerError, errs.New(errs.Internal, "internal", "an unexpected error occurred"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// AccessLog logs one line per request after it is served: at info level,
// except probes (health checks and metrics scrapes), which come every few
// seconds from machines and are logged at debug level, so that an idle
// service's log stays quiet. The line names the route template, never
// only the raw path, the authenticated user by id (never a token or an
// email), the status, the problem code of an error answer, and the
// duration; docs/observability.md describes its fields.
func AccessLog(log *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			ctx, info := observability.NewRequestInfo(r.Context())
			next.ServeHTTP(rec, r.WithContext(ctx))
			level := slog.LevelInfo
			if IsProbe(r.URL.Path) {
				level = slog.LevelDebug
			}
			if !log.Enabled(ctx, level) {
				return
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("route", info.Route()), slog.String("path", r.URL.Path),
				slog.Int("status", rec.Status()), slog.Int("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			}
			if id := info.UserID(); id != "" {
				attrs = append(attrs, slog.String("user_id", id))
			}
			if code := info.ProblemCode(); code != "" {
				attrs = append(attrs, slog.String("error_code", code))
			}
			log.LogAttrs(ctx, level, "request", attrs...)
		})
	}
}

// IsProbe says whether path is one that machines poll: liveness,
// readiness and metrics.
func IsProbe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// statusRecorder remembers what a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Status is the status code sent, 200 when the handler wrote nothing.
func (s *statusRecorder) Status() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// SecurityHeaders sets the headers an API response should always carry: no
// MIME sniffing, no framing, no referrer, and a CSP that lets a JSON body
// run nothing if a browser ever renders it.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

package gateway

import (
	"fmt"
	"net/http"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"github.com/rs/cors"
)

// CORS says which browser origins may call the API. With no origins,
// browsers keep their same-origin rule.
type CORS struct {
	// Origins such as "https://shop.example.com"; "*" allows any.
	Origins []string
	// MaxAge is how long a browser may cache a preflight answer (default 10m).
	MaxAge time.Duration
}

// edgeMiddleware is what every gateway response passes through on its
// way out: CORS (answering preflights itself, before limits or upstreams
// see them) and gzip for large bodies.
func edgeMiddleware(cfg Config) (func(http.Handler) http.Handler, error) {
	gzip, err := gzhttp.NewWrapper(gzhttp.MinSize(cfg.GzipMinSize), gzhttp.ContentTypes([]string{
		"application/json", "application/problem+json", "application/yaml", "text/html",
	}))
	if err != nil {
		return nil, fmt.Errorf("gateway: gzip: %w", err)
	}
	if len(cfg.CORS.Origins) == 0 {
		return func(h http.Handler) http.Handler { return gzip(h) }, nil
	}
	maxAge := cfg.CORS.MaxAge
	if maxAge <= 0 {
		maxAge = 10 * time.Minute
	}
	c := cors.New(cors.Options{
		AllowedOrigins: cfg.CORS.Origins,
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match", "X-Request-ID"},
		ExposedHeaders: []string{"ETag", "Location", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
			"RateLimit-Policy", "X-Request-ID"},
		// Tokens travel in the Authorization header, never in cookies, so
		// no request needs the browser's credentials.
		AllowCredentials: false,
		MaxAge:           int(maxAge.Seconds()),
	})
	return func(h http.Handler) http.Handler { return c.Handler(gzip(h)) }, nil
}

package gateway

import (
	"fmt"
	"net/http"
	"time"

	"github.com/klauspost/compress/gzhttp"
	kgzip "github.com/klauspost/compress/gzip"
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
	// Stateless compression keeps no encoder between writes. A stateful
	// writer holds about 600 KB of tables for as long as its response is
	// being written, and under an overload thousands are written at once:
	// the heap grew past 3 GB at three times the sustainable rate, two
	// thirds of it gzip writers. JSON compresses a little less this way.
	gzip, err := gzhttp.NewWrapper(gzhttp.MinSize(cfg.GzipMinSize), gzhttp.CompressionLevel(kgzip.StatelessCompression),
		gzhttp.ContentTypes([]string{"application/json", "application/problem+json", "application/yaml", "text/html"}))
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

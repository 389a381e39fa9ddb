// Package gateway is the single entry point for clients. It routes /v1/...
// to the users, products and orders services by path, rejects bad access
// tokens before they reach a service (which still verifies them itself),
// and spreads each service's requests over its instances: an instance that
// fails several times in a row is left out for a while, and a request that
// is safe to repeat is retried on another instance.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
)

// Route sends the paths under Prefix to Service.
type Route struct {
	Prefix  string
	Service string
	// Timeout bounds one attempt; zero means Config.Timeout.
	Timeout time.Duration
}

// Routes is the public API's map: which service answers which paths.
func Routes() []Route {
	return []Route{
		{Prefix: "/v1/auth", Service: "users"},
		{Prefix: "/v1/users", Service: "users"},
		{Prefix: "/v1/admin", Service: "users"},
		{Prefix: "/.well-known/jwks.json", Service: "users"},
		{Prefix: "/v1/categories", Service: "products"},
		{Prefix: "/v1/products", Service: "products"},
		{Prefix: "/v1/cart", Service: "orders"},
		{Prefix: "/v1/orders", Service: "orders", Timeout: 30 * time.Second}, // payments wait for the provider
		{Prefix: "/v1/sub-orders", Service: "orders"},
		{Prefix: "/v1/stock", Service: "orders"},
		{Prefix: "/v1/payments", Service: "orders"},
	}
}

// Config tunes the gateway.
type Config struct {
	// Upstreams lists each service's instances as base URLs.
	Upstreams map[string][]string
	// Timeout bounds one attempt at an upstream (default 10s).
	Timeout time.Duration
	// MaxBody caps request bodies (default 1 MiB); services cap theirs lower.
	MaxBody int64
	// Retries is how many other instances a request safe to repeat may try
	// (default 2).
	Retries int
	// EjectAfter consecutive failures leave an instance out for EjectFor
	// (defaults 3 and 10s).
	EjectAfter int
	EjectFor   time.Duration
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 2
	}
	if c.EjectAfter <= 0 {
		c.EjectAfter = 3
	}
	if c.EjectFor <= 0 {
		c.EjectFor = 10 * time.Second
	}
	return c
}

// Gateway forwards client requests to the services.
type Gateway struct {
	cfg       Config
	pools     map[string]*pool
	verifier  *auth.Verifier
	transport http.RoundTripper
	log       *slog.Logger
	openAPI   []byte
}

// New returns a gateway over cfg's upstreams. verifier checks tokens at
// the edge; openAPI is served at /api/openapi.yaml.
func New(cfg Config, verifier *auth.Verifier, openAPI []byte, log *slog.Logger) (*Gateway, error) {
	cfg = cfg.withDefaults()
	g := &Gateway{cfg: cfg, pools: map[string]*pool{}, verifier: verifier, log: log, openAPI: openAPI,
		transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
			DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}
	for _, r := range Routes() {
		if g.pools[r.Service] != nil {
			continue
		}
		p, err := newPool(r.Service, cfg.Upstreams[r.Service], cfg.EjectAfter, cfg.EjectFor)
		if err != nil {
			return nil, err
		}
		g.pools[r.Service] = p
	}
	return g, nil
}

// Routes registers the public paths and the API description.
func (g *Gateway) Routes(rt *httpx.Router) {
	for _, r := range Routes() {
		h := g.forward(r)
		rt.Handle(r.Prefix, h)
		if !strings.HasSuffix(r.Prefix, ".json") {
			rt.Handle(r.Prefix+"/", h)
		}
	}
	rt.HandleFunc("GET /api/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(g.openAPI)
	})
}

var (
	errNoUpstream = &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable",
		Message: "the service cannot be reached; try again shortly", RetryAfter: time.Second}
	errTooLarge = errs.New(errs.TooLarge, "body_too_large", "the body is too large")
)

// forward returns the handler of one route.
func (g *Gateway) forward(route Route) http.Handler {
	p := g.pools[route.Service]
	timeout := route.Timeout
	if timeout <= 0 {
		timeout = g.cfg.Timeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			if _, err := g.verifier.FromRequest(r); err != nil {
				auth.SetChallenge(w, err)
				httpx.Error(w, r, g.log, err)
				return
			}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBody))
		if err != nil {
			httpx.Error(w, r, g.log, errTooLarge)
			return
		}
		out := outboundHeader(r, w.Header().Get(httpx.RequestIDHeader))
		// A request the upstream never received may always go elsewhere; one
		// it may have acted on only if repeating it is harmless.
		safe := idempotent(r)
		tried := map[*instance]bool{}
		for attempt := 0; ; attempt++ {
			inst := p.pick(tried)
			if inst == nil {
				httpx.Error(w, r, g.log, errNoUpstream)
				return
			}
			tried[inst] = true
			res, err := g.try(r.Context(), inst, r, out, body, timeout)
			retry := attempt < g.cfg.Retries && (neverSent(err) || safe && (err != nil || retryableStatus(res)))
			if err != nil || retryableStatus(res) {
				inst.failed()
			} else {
				inst.succeeded()
			}
			if retry {
				if res != nil {
					res.Body.Close()
				}
				continue
			}
			if err != nil {
				g.log.WarnContext(r.Context(), "upstream failed", "service", route.Service, "err", err)
				httpx.Error(w, r, g.log, errNoUpstream)
				return
			}
			copyResponse(w, res)
			return
		}
	})
}

func (g *Gateway) try(ctx context.Context, inst *instance, r *http.Request, h http.Header, body []byte, timeout time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, r.Method, inst.base+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header = h.Clone()
	req.ContentLength = int64(len(body))
	res, err := g.transport.RoundTrip(req)
	if err != nil {
		cancel()
		return nil, err
	}
	res.Body = &cancelOnClose{ReadCloser: res.Body, cancel: cancel}
	return res, nil
}

// cancelOnClose ends an attempt's context once its body is read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// neverSent reports whether a request failed before reaching the upstream.
func neverSent(err error) bool {
	var op *net.OpError
	return err != nil && errors.As(err, &op) && op.Op == "dial"
}

func retryableStatus(res *http.Response) bool {
	return res != nil && (res.StatusCode == http.StatusBadGateway || res.StatusCode == http.StatusServiceUnavailable ||
		res.StatusCode == http.StatusGatewayTimeout)
}

// hopByHop are headers of one connection, never forwarded (RFC 9110 7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// outboundHeader is what an upstream receives: the client's headers minus
// hop-by-hop ones and any it might use to pose as the gateway or as
// another service, plus the request id and where the request came from.
func outboundHeader(r *http.Request, requestID string) http.Header {
	h := r.Header.Clone()
	for _, name := range hopByHop {
		h.Del(name)
	}
	for _, name := range strings.Split(r.Header.Get("Connection"), ",") {
		h.Del(strings.TrimSpace(name))
	}
	for name := range h {
		if strings.HasPrefix(name, "X-Internal-") || strings.HasPrefix(name, "X-Forwarded-") || name == "Forwarded" {
			h.Del(name)
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		h.Set("X-Forwarded-For", host)
	}
	h.Set("X-Forwarded-Host", r.Host)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	h.Set("X-Forwarded-Proto", proto)
	h.Set(httpx.RequestIDHeader, requestID)
	return h
}

func copyResponse(w http.ResponseWriter, res *http.Response) {
	defer res.Body.Close()
	for _, name := range hopByHop {
		res.Header.Del(name)
	}
	for name, values := range res.Header {
		w.Header()[name] = values
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body) // the status is sent; a failure here means the client left
}

// Module returns the gateway as the server runs it. It holds no state, so
// it is ready as soon as it listens.
func (g *Gateway) Module(addr string) server.Module {
	return server.Module{Name: "gateway", Addr: addr, Routes: g.Routes,
		Ready: func(context.Context) error { return nil }, Close: func() {}}
}

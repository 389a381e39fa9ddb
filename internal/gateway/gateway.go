// Package gateway is the single entry point for clients. It routes /v1/...
// to the services by path (the binary's module table says which paths), rejects bad access
// tokens before they reach a service (which still verifies them itself),
// limits request rates, and spreads each service's requests over the
// instances its discovery source reports: an instance that fails its
// health checks or several requests in a row is left out for a while
// (never the last healthy one, and when most look unhealthy all of them
// get requests again), a request that is safe to repeat is retried on
// another instance, and a service that cannot be reached has its breaker
// opened. Slowness is none of these: a request that times out counts
// against neither the instance nor the breaker.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/api"
	"github.com/marketplace-go/marketplace/internal/gateway/ratelimit"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/discovery"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// Route sends the paths under Prefix to Service. A Prefix that starts
// with a method ("GET /v1/products") takes that method on that one path,
// ahead of a route of the same path without one.
type Route struct {
	Prefix  string
	Service string
	// Timeout bounds one attempt; zero means Config.Timeout.
	Timeout time.Duration
}

// services are the upstreams routes name, each once, in order.
func services(routes []Route) []string {
	var out []string
	for _, r := range routes {
		if !slices.Contains(out, r.Service) {
			out = append(out, r.Service)
		}
	}
	return out
}

// A Source reports a service's instances (base URLs) each time they change:
// static, DNS or etcd, from the discovery package.
type Source = discovery.Source

// Config tunes the gateway. Zero values mean the defaults.
type Config struct {
	// Routes are the public API's map: which service answers which paths.
	// The binary derives them from its module table.
	Routes []Route
	// Upstreams says where each service's instances are found.
	Upstreams map[string]Source
	// Balance is RoundRobin (default) or LeastInFlight.
	Balance string
	// Timeout bounds one attempt at an upstream (default 10s).
	Timeout time.Duration
	// MaxBody caps request bodies (default 1 MiB); services cap theirs lower.
	MaxBody int64
	// Retries is how many other instances a request safe to repeat may try
	// (default 2; negative for none).
	Retries int
	// EjectAfter consecutive failed requests leave an instance out for
	// EjectFor (defaults 3 and 10s).
	EjectAfter int
	EjectFor   time.Duration
	// Each instance's /readyz is asked every HealthInterval (default 2s,
	// timeout HealthTimeout, 1s); HealthFailures failures in a row (default
	// 2) leave it out until it passes again.
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthFailures int
	// A service's breaker opens after BreakerFailures failed requests in a
	// row (default 5), or when half of 20 or more in BreakerWindow (default
	// 10s) failed, and stays open BreakerOpenFor (default 5s).
	BreakerFailures int
	BreakerWindow   time.Duration
	BreakerOpenFor  time.Duration
	// Limits are the request rates allowed, by class.
	Limits Limits
	// TrustedProxies may set X-Forwarded-For: the client address that
	// anonymous limits count against.
	TrustedProxies []netip.Prefix
	// CORS lists the browser origins allowed to call the API.
	CORS CORS
	// GzipMinSize is the smallest response compressed (default 1 KiB).
	GzipMinSize int
	// MaxPending is the most requests one service may have outstanding
	// through this gateway (default 64, a service's own MAX_IN_FLIGHT).
	// Past it a request waits at the gateway, in the service's own queue,
	// rather than opening a connection for every request a flood brings:
	// between processes, each waiting request is a socket and buffers on
	// both sides. At or below the service's own bound, a burst waits at
	// the gateway rather than in the service's queue, which stands after
	// a second: fed a slot at a time, a burst's last requests would meet
	// it standing and get 503. It must stay below MaxInFlight. Its slots and its queue together may take
	// the whole door until the queue has stood for PendingStandingAfter
	// (pendingLimits, ADR 63).
	MaxPending int
	// PendingStandingAfter is how long a service's queue at the gateway
	// must stay non-empty to count as standing (default 5 s): longer than
	// a burst the door let through takes to drain (300 checkouts: under a
	// second here).
	PendingStandingAfter time.Duration
	// MaxInFlight is the most requests the gateway works on at once, all
	// services together (default 256); past it requests wait for a slot
	// in a queue like a service's (server.Limits). It is the door:
	// past it a request is refused with 503 before it costs a token
	// check, a rate-limit round trip or a body read, so that under
	// overload the work admitted, and the memory it holds, stay bounded
	// and the refusals come at once (ADR 43). At 1,024 an overload of
	// the split platform admitted so much that answers took seconds and
	// clients opened connections faster than it could accept them (ADR 63).
	MaxInFlight int
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Timeout, 10*time.Second)
	def(&c.EjectFor, 10*time.Second)
	def(&c.HealthInterval, 2*time.Second)
	def(&c.HealthTimeout, time.Second)
	def(&c.BreakerWindow, 10*time.Second)
	def(&c.BreakerOpenFor, 5*time.Second)
	def(&c.PendingStandingAfter, 5*time.Second)
	defInt(&c.EjectAfter, 3)
	defInt(&c.HealthFailures, 2)
	defInt(&c.BreakerFailures, 5)
	defInt(&c.GzipMinSize, 1024)
	defInt(&c.MaxPending, 64)
	defInt(&c.MaxInFlight, 256)
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 2
	}
	if c.Balance == "" {
		c.Balance = RoundRobin
	}
	return c
}

// Validate reports a configuration the gateway cannot run with.
func (c Config) Validate() error {
	var problems []error
	if len(c.Routes) == 0 {
		problems = append(problems, errors.New("gateway: no routes"))
	}
	for _, s := range services(c.Routes) {
		if c.Upstreams[s] == nil {
			problems = append(problems, errors.New("gateway: no source of "+s+" instances"))
		}
	}
	if c.Balance != "" && c.Balance != RoundRobin && c.Balance != LeastInFlight {
		problems = append(problems, errors.New("gateway: balance "+c.Balance+" is neither "+RoundRobin+" nor "+LeastInFlight))
	}
	if d := c.withDefaults(); d.MaxPending >= d.MaxInFlight {
		problems = append(problems, fmt.Errorf("gateway: a service's pending bound (%d) must be below the gateway's in-flight bound (%d), or a service's requests could not wait at the gateway",
			d.MaxPending, d.MaxInFlight))
	}
	return errors.Join(problems...)
}

// Deps are what the gateway works with.
type Deps struct {
	// Verifier checks access tokens at the edge.
	Verifier *auth.Verifier
	// Limiter counts request rates (in Redis, or locally while Redis is
	// down); nil means no limits.
	Limiter  *ratelimit.Limiter
	Log      *slog.Logger
	Registry prometheus.Registerer
	// Transport reaches the instances; nil means NewTransport. In one
	// process it is the server's Local transport, which serves the
	// services' own addresses without a socket.
	Transport http.RoundTripper
	// Tracer makes a client span of each forwarded request, which passes
	// the trace on to the service; nil traces nothing.
	Tracer trace.TracerProvider
}

// Gateway forwards client requests to the services.
type Gateway struct {
	cfg       Config
	deps      Deps
	pools     map[string]*pool
	transport http.RoundTripper
	forwarder http.RoundTripper // transport, with a span per forwarded request
	metrics   *metrics
	edge      func(http.Handler) http.Handler
	ops       operations
	stop      context.CancelFunc
	done      chan struct{}
}

// New returns a gateway over cfg's upstreams. It watches their sources
// and checks their instances until Close.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Verifier == nil || deps.Log == nil {
		return nil, errors.New("gateway: a token verifier and a logger are required")
	}
	cfg = cfg.withDefaults()
	edge, err := edgeMiddleware(cfg)
	if err != nil {
		return nil, err
	}
	ops, err := readOperations(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	transport := deps.Transport
	if transport == nil {
		transport = NewTransport()
	}
	ctx, stop := context.WithCancel(context.Background())
	// Health checks go through the bare transport: a span each, every
	// few seconds per instance, would bury the requests' traces.
	g := &Gateway{cfg: cfg, deps: deps, pools: map[string]*pool{}, transport: transport, forwarder: tracing.Transport(transport, deps.Tracer),
		metrics: newMetrics(deps.Registry), edge: edge, ops: ops, stop: stop, done: make(chan struct{})}
	health := &http.Client{Transport: transport, Timeout: cfg.HealthTimeout}
	upstreams := services(cfg.Routes)
	watching := make(chan struct{}, len(upstreams))
	for _, s := range upstreams {
		p := newPool(ctx, s, cfg, g.metrics, health, deps.Log)
		g.pools[s] = p
		go func() {
			g.watch(ctx, s, p)
			watching <- struct{}{}
		}()
	}
	go func() {
		for range upstreams {
			<-watching
		}
		close(g.done)
	}()
	return g, nil
}

// watch keeps a pool's instances up to date with its source until ctx
// ends; a source that fails is watched again after a pause.
func (g *Gateway) watch(ctx context.Context, service string, p *pool) {
	for {
		err := g.cfg.Upstreams[service].Watch(ctx, p.set)
		if ctx.Err() != nil {
			return
		}
		g.deps.Log.WarnContext(ctx, "upstream discovery failed; retrying", "upstream", service, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// Close stops watching and checking the upstreams.
func (g *Gateway) Close() {
	g.stop()
	<-g.done
	for _, p := range g.pools {
		p.checks.Wait()
	}
	if c, ok := g.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// NewTransport returns the transport the gateway uses unless told
// otherwise: it keeps enough idle connections per instance for a busy
// gateway (the default keeps 2) and gives up dialling an instance soon, so
// that the request can go to another.
func NewTransport() *http.Transport {
	return &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
}

// Routes registers the public paths and the API description.
func (g *Gateway) Routes(rt *httpx.Router) {
	for _, r := range g.cfg.Routes {
		h := g.edge(g.forward(r))
		rt.Handle(r.Prefix, h)
		// A route with a method is that method on one path; others take
		// the paths below them too. A prefix ending in a slash ("/", the
		// web pages) already covers them: "//" would make the mux
		// redirect /a to /a/.
		if !strings.HasSuffix(r.Prefix, ".json") && !strings.Contains(r.Prefix, " ") && !strings.HasSuffix(r.Prefix, "/") {
			rt.Handle(r.Prefix+"/", h)
		}
	}
	rt.Handle("GET /api/openapi.yaml", g.edge(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(api.OpenAPI())
	})))
	rt.Handle("GET /api/{$}", g.edge(http.HandlerFunc(g.reference)))
}

// reference serves the rendered API reference. The page has no scripts,
// so it may load nothing but its own inline style.
func (g *Gateway) reference(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(api.Reference())
}

var (
	errNoUpstream = &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable",
		Message: "the service cannot be reached; try again shortly", RetryAfter: time.Second}
	errPending = &errs.Error{Kind: errs.Unavailable, Code: "overloaded",
		Message: "the service is busy; try again shortly", RetryAfter: time.Second}
	errTimeout = &errs.Error{Kind: errs.Unavailable, Code: "upstream_timeout",
		Message: "the service did not answer in time; try again shortly", RetryAfter: time.Second}
	errKeys = &errs.Error{Kind: errs.Unavailable, Code: "auth_unavailable",
		Message: "access tokens cannot be checked right now; try again shortly", RetryAfter: time.Second}
	errTooLarge = errs.New(errs.TooLarge, "body_too_large", "the body is too large")
	errBadBody  = errs.New(errs.Invalid, "body_unreadable", "the body could not be read")
	errMethod   = errs.New(errs.Invalid, "method_not_allowed", "the gateway does not forward this method")
)

// forwarded are the methods the API uses; CONNECT and TRACE are not.
var forwarded = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions}

// forward returns the handler of one route. A route's own timeout is a
// floor: payments may wait for the provider whatever GATEWAY_TIMEOUT says.
func (g *Gateway) forward(route Route) http.Handler {
	p := g.pools[route.Service]
	timeout := max(route.Timeout, g.cfg.Timeout)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(forwarded, r.Method) {
			w.Header().Set("Allow", strings.Join(forwarded, ", "))
			httpx.Error(w, r, g.deps.Log, errMethod)
			return
		}
		claims, authErr := g.authenticate(r)
		if !g.admit(w, r, claims) {
			return
		}
		if authErr != nil {
			auth.SetChallenge(w, authErr)
			httpx.Error(w, r, g.deps.Log, authErr)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBody))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				httpx.Error(w, r, g.deps.Log, errTooLarge)
			} else {
				httpx.Error(w, r, g.deps.Log, errBadBody)
			}
			return
		}
		if err := p.enter(r.Context()); err != nil {
			if r.Context().Err() == nil {
				httpx.Error(w, r, g.deps.Log, errPending)
			} // else the client left: nobody to answer
			return
		}
		defer p.leave()
		done, err := p.breaker.Allow()
		if err != nil {
			httpx.Error(w, r, g.deps.Log, &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable",
				Message: "the service is failing; try again shortly", RetryAfter: g.cfg.BreakerOpenFor})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		out := outboundHeader(r, httpx.ClientIP(r, g.cfg.TrustedProxies), w.Header().Get(httpx.RequestIDHeader))
		res, err := g.send(ctx, r, p, out, body)
		done(breakerOutcome(ctx, res, err))
		switch {
		case err == nil:
			copyResponse(w, res)
		case r.Context().Err() != nil: // the client left: nobody to answer
		case errors.Is(err, context.DeadlineExceeded):
			httpx.Error(w, r, g.deps.Log, errTimeout)
		default:
			g.deps.Log.WarnContext(r.Context(), "upstream failed", "upstream", route.Service, "err", err)
			httpx.Error(w, r, g.deps.Log, errNoUpstream)
		}
	})
}

// authenticate verifies the access token a request carries, if any. Where
// the operation needs none, a token that does not verify is ignored (as
// the service ignores it) and one that does still names the caller for
// the rate limits. A failure to fetch the keys is no fault of the client.
func (g *Gateway) authenticate(r *http.Request) (*auth.Claims, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, nil
	}
	c, err := g.deps.Verifier.FromRequest(r)
	switch {
	case err == nil:
		return &c, nil
	case g.ops.public(r):
		return nil, nil
	}
	if _, ok := errors.AsType[*errs.Error](err); !ok {
		g.deps.Log.WarnContext(r.Context(), "access token keys unavailable", "err", err)
		return nil, errKeys
	}
	return nil, err
}

// send tries instances until one answers, the request's time is up, or
// repeating it is no longer safe. A request no instance received may
// always go elsewhere; one an instance may have acted on only if the
// operation is idempotent (by method, or by its Idempotency-Key).
func (g *Gateway) send(ctx context.Context, r *http.Request, p *pool, h http.Header, body []byte) (*http.Response, error) {
	if !p.discovered(ctx) {
		return nil, errors.Join(errNoInstance, ctx.Err())
	}
	safe := g.ops.idempotent(r)
	inst := p.pick(nil)
	if inst == nil {
		return nil, errNoInstance
	}
	tried := []*instance{inst}
	for attempt := 0; ; attempt++ {
		res, err := g.try(ctx, p, inst, r, h, body)
		switch {
		case ctx.Err() != nil: // out of time, or the client left: the instance may be fine
		case err != nil || unavailable(res):
			p.failed(inst)
		default:
			inst.succeeded()
		}
		if ctx.Err() != nil || attempt >= g.cfg.Retries || !(neverSent(err) || safe && (err != nil || unavailable(res))) {
			return res, err
		}
		// With no other instance to try, the client gets this answer
		// rather than a 503 of the gateway's own.
		if inst = p.pick(tried); inst == nil {
			return res, err
		}
		tried = append(tried, inst)
		if res != nil {
			res.Body.Close()
		}
		p.stats.retries.Inc()
	}
}

var errNoInstance = errors.New("no healthy instance")

// breakerOutcome is what a request tells its service's breaker. The
// breaker is for a service that cannot be reached at all: connections
// refused or reset, 502 or 504 from a proxy in front of it, no instance
// left to try. A request that ran out of time (ctx ended: the route's
// timeout, or the client left) is not counted: one breaker per service
// counting timeouts would let a listing that takes longer than the
// timeout open the breaker for product detail reads that take 16 ms. Per
// route breakers would only move the problem (a slow and a fast query on
// one route). A hung instance is still found by its health checks, which
// time out on it while /readyz answers at once from memory on a busy one.
// A service's own 503 (overloaded, not ready) is an answer: it reached
// the service, so it counts as a success, like passive ejection does.
func breakerOutcome(ctx context.Context, res *http.Response, err error) error {
	switch {
	case ctx.Err() != nil:
		return errNotCounted
	case err != nil:
		return err
	case unavailable(res):
		return errNoUpstream
	}
	return nil
}

// errNotCounted is an outcome the breaker neither counts as a success nor
// as a failure.
var errNotCounted = errors.New("not counted")

func (g *Gateway) try(ctx context.Context, p *pool, inst *instance, r *http.Request, h http.Header, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, inst.base+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = h // shared by the attempts: a transport does not change a request
	req.ContentLength = int64(len(body))
	inst.inFlight.Add(1)
	start := time.Now()
	res, err := g.forwarder.RoundTrip(req)
	p.stats.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		p.stats.attempt(0, err)
		inst.inFlight.Add(-1)
		return nil, err
	}
	p.stats.attempt(res.StatusCode, nil)
	res.Body = &attemptBody{ReadCloser: res.Body, end: func() { inst.inFlight.Add(-1) }}
	return res, nil
}

// attemptBody ends an attempt (its in-flight count) once its body is
// closed.
type attemptBody struct {
	io.ReadCloser
	end  func()
	once sync.Once
}

func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.end)
	return err
}

// neverSent reports whether a request failed before reaching the upstream:
// no connection, or a module in this process that is shutting down.
func neverSent(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial" || errors.Is(err, server.ErrClosed)
}

// unavailable reports an answer that says no instance stood behind it (a
// proxy in between could not reach it). A service's own 503 (busy, or a
// dependency down) is an answer about the request: it is passed on with
// its Retry-After, and neither retried nor held against the instance.
func unavailable(res *http.Response) bool {
	return res != nil && (res.StatusCode == http.StatusBadGateway || res.StatusCode == http.StatusGatewayTimeout)
}

// hopByHop are headers of one connection, never forwarded (RFC 9110 7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopByHop deletes h's hop-by-hop headers, those its Connection
// header names included.
func removeHopByHop(h http.Header) {
	for _, line := range h.Values("Connection") {
		for _, name := range strings.Split(line, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// outboundHeader is what an upstream receives: the client's headers minus
// hop-by-hop ones and any it might use to pose as the gateway or as
// another service, plus the request id and where the request came from:
// client is the address the gateway counts the client as.
func outboundHeader(r *http.Request, client, requestID string) http.Header {
	h := r.Header.Clone()
	removeHopByHop(h)
	for name := range h {
		if strings.HasPrefix(name, "X-Internal-") || strings.HasPrefix(name, "X-Forwarded-") || name == "Forwarded" {
			h.Del(name)
		}
	}
	h.Set("X-Forwarded-For", client)
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
	removeHopByHop(res.Header)
	for name, values := range res.Header {
		if name == "Vary" {
			values = append(w.Header().Values("Vary"), values...) // CORS varies by Origin
		}
		w.Header()[name] = values
	}
	w.WriteHeader(res.StatusCode)
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	// The status is sent; a failure here means the client left.
	_, _ = io.CopyBuffer(w, res.Body, *buf)
}

// copyBuffers saves a 32 KiB allocation per response: io.Copy makes one
// whenever neither side offers WriterTo or ReaderFrom, and neither the
// middleware's writers nor the transports' bodies do.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Ready reports whether every service's instances have been discovered
// once; it does not depend on their health, so that a failing service
// does not take the whole gateway out of its load balancer.
func (g *Gateway) Ready(context.Context) error {
	for _, s := range services(g.cfg.Routes) {
		select {
		case <-g.pools[s].found:
		default:
			return errors.New("gateway: " + s + " instances not discovered yet")
		}
	}
	return nil
}

// Module returns the gateway as the server runs it.
func (g *Gateway) Module(addr string) server.Module {
	// The door's bound is above a service's (64), since most of its
	// requests wait on services that bound their own work, and above the
	// pending bound of any one service, so that a service's requests past
	// it can wait at the gateway (ADR 63).
	return server.Module{Name: "gateway", Addr: addr, Routes: g.Routes, Ready: g.Ready, Close: g.Close, Public: true,
		MaxInFlight: g.cfg.MaxInFlight}
}

// Package server runs service modules, each on its own listener, with the
// endpoints every service has (/healthz, /readyz, /metrics), the shared
// middleware, and a graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// Module is one service as the server runs it.
type Module struct {
	Name   string
	Addr   string                          // listen address, such as ":8081"
	Routes func(rt *httpx.Router)          // registers the service's endpoints
	Ready  func(ctx context.Context) error // nil when the dependencies answer
	Close  func()                          // releases resources once requests have drained
	// Public modules face clients directly (the gateway): their listener
	// does not serve /metrics, which is scraped on the metrics address.
	Public bool
	// MaxInFlight, when not zero, bounds the requests the module works on
	// at once in place of the server's Limits.MaxInFlight; their queue is
	// the server's. Negative leaves the module unbounded: the metrics
	// listener, which an operator must reach on a flooded process.
	MaxInFlight int
}

// Server runs modules until its context ends.
type Server struct {
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *observability.HTTPMetrics
	timeout  time.Duration
	delay    time.Duration
	// readyInterval and readyTimeout pace the background readiness checks.
	readyInterval, readyTimeout time.Duration
	limits                      Limits
	pprof                       bool                   // the metrics listener serves /debug/pprof
	tls                         TLS                    // which listeners serve TLS (SetTLS)
	tlsConfig                   *tls.Config            // their configuration, nil without TLS
	shed                        *prometheus.CounterVec // requests refused, by service and reason
	queued                      *prometheus.GaugeVec   // requests waiting for a slot, by service
	conns                       *prometheus.GaugeVec   // open client connections, by service
	// tracer returns a module's TracerProvider, nil when it is not traced.
	tracer func(module string) trace.TracerProvider

	mu      sync.RWMutex // guards running and locals: Add may run while a Local transport reads them
	running []*running
	locals  map[string]localTarget // by host:port, for Local
	// handlers run the requests of Local transports.
	handlers workers
	// allReady is closed once every module has passed a readiness check.
	allReady chan struct{}
}

type running struct {
	module   Module
	listener net.Listener
	http     *http.Server
	handler  http.Handler // the module's, as Local transports call it
	tls      bool         // the listener serves TLS
	inFlight inFlight     // requests served through Local
	// calledLocally is set once a Local transport served the module: it
	// then drains after the modules that are not, its callers among them.
	calledLocally atomic.Bool
	draining      atomic.Bool // /readyz answers 503
	ready         readiness   // the last readiness check's result
	// checking is closed when the last Ready call returned; only the
	// module's checker goroutine uses it.
	checking chan struct{}
}

// New returns a server that exposes registry on /metrics and gives requests
// in flight up to shutdownTimeout to finish when it stops.
// Modules are held to DefaultLimits unless SetLimits says otherwise.
func New(log *slog.Logger, registry *prometheus.Registry, shutdownTimeout time.Duration) *Server {
	s := &Server{log: log, registry: registry, metrics: observability.NewHTTPMetrics(registry), timeout: shutdownTimeout,
		handlers: workers{jobs: make(chan func())}, limits: DefaultLimits(), allReady: make(chan struct{})}
	s.shed, s.queued = limitMetrics(registry)
	s.conns = connMetrics(registry)
	return s
}

// SetDrainDelay makes shutdown answer 503 on /readyz for d while still
// serving, before it closes the listeners: long enough for a load balancer
// (a Kubernetes endpoint controller) to notice and stop sending requests.
func (s *Server) SetDrainDelay(d time.Duration) { s.delay = d }

// SetTracing gives each module's requests server spans from the provider
// tracer returns for the module's name (nil: not traced). Call it before
// Add.
func (s *Server) SetTracing(tracer func(module string) trace.TracerProvider) { s.tracer = tracer }

// Metrics returns the HTTP instruments, for modules that measure more.
func (s *Server) Metrics() *observability.HTTPMetrics { return s.metrics }

// Add listens on the module's address at once (so ":0" resolves) and
// returns the bound address. Serving starts with Run.
func (s *Server) Add(m Module) (net.Addr, error) {
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", m.Name, m.Addr, err)
	}
	r := &running{module: m, tls: s.tls.Serves(m)}
	r.ready.init(m.Ready)
	maxConns := s.limits.MaxConns
	if m.MaxInFlight < 0 {
		maxConns = 0 // the metrics listener: an operator must reach a flooded process
	}
	bound := newConnBound(maxConns, s.conns.WithLabelValues(m.Name))
	r.listener = bound.listen(ln)
	r.handler = s.handler(r)
	r.http = &http.Server{
		Handler:           bound.closeAtBound(r.handler),
		ConnState:         bound.track,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if r.tls {
		r.http.TLSConfig = s.tlsConfig.Clone()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = append(s.running, r)
	if s.locals == nil {
		s.locals = map[string]localTarget{}
	}
	for host, peer := range localAddrs(ln.Addr()) {
		s.locals[host] = localTarget{run: r, peer: peer}
	}
	return ln.Addr(), nil
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// AddMetrics serves /metrics (and /healthz, /readyz, and /debug/pprof
// when SetPprof enabled it) on a listener of its own, for operators and
// Prometheus only, and returns the bound address.
func (s *Server) AddMetrics(addr string) (net.Addr, error) {
	m := Module{Name: "metrics", Addr: addr, MaxInFlight: -1}
	if s.pprof {
		m.Routes = s.pprofRoutes
	}
	return s.Add(m)
}

func (s *Server) handler(run *running) http.Handler {
	m := run.module
	rt := httpx.NewRouter(m.Name, s.metrics)
	rt.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	rt.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { s.ready(w, r, run) })
	if !m.Public {
		rt.Handle("GET /metrics", s.metricsHandler())
	}
	if m.Routes != nil {
		m.Routes(rt)
	}
	log := s.log.With("service", m.Name)
	// The limit is innermost: a shed request still gets its request id,
	// headers and log line, and is answered within microseconds.
	h := httpx.Chain(rt, httpx.RequestID, httpx.SecurityHeaders, httpx.AccessLog(log), httpx.Recover(log), s.limit(m))
	if run.tls && s.tls.HSTSMaxAge > 0 {
		h = hsts(s.tls.HSTSMaxAge, h)
	}
	// The span is outermost, so that every line logged for the request,
	// the access log's included, carries its trace id. Probes get none:
	// they would be most of the traces and tell nothing.
	var tp trace.TracerProvider
	if s.tracer != nil {
		tp = s.tracer(m.Name)
	}
	return tracing.Handler(h, tp, func(r *http.Request) bool { return httpx.IsProbe(r.URL.Path) })
}

// ready answers /readyz from the last background check (see
// readiness.go), never by running one: it must not wait behind the load.
func (s *Server) ready(w http.ResponseWriter, r *http.Request, run *running) {
	if run.draining.Load() {
		httpx.Error(w, r, s.log, errs.New(errs.Unavailable, "shutting_down", "the service is shutting down"))
		return
	}
	if run.ready.last() != nil {
		httpx.Error(w, r, s.log, errs.New(errs.Unavailable, "not_ready", "a dependency of the service is unreachable"))
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Run serves every added module until ctx ends, then shuts down: /readyz
// turns 503 so load balancers stop sending, listeners close, requests in
// flight finish (up to the timeout), and modules close. Each module's
// readiness is checked once before its listener serves (connections wait
// in the backlog meanwhile, for at most the check timeout), so /readyz
// reports a result from its first answer.
func (s *Server) Run(ctx context.Context) error {
	s.mu.RLock()
	all := slices.Clone(s.running)
	s.mu.RUnlock()
	checks, stopChecks := context.WithCancel(ctx)
	defer stopChecks()
	checked := s.startChecks(checks, all)
	errc := make(chan error, len(all))
	for _, r := range all {
		s.log.Info("listening", "service", r.module.Name, "addr", r.listener.Addr().String(), "tls", r.tls)
		go func() {
			serve := r.http.Serve
			if r.tls {
				// The certificate comes from TLSConfig.GetCertificate.
				serve = func(ln net.Listener) error { return r.http.ServeTLS(ln, "", "") }
			}
			if err := serve(r.listener); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: serve: %w", r.module.Name, err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// No check may run on a module that is closing its dependencies.
	stopChecks()
	<-checked
	return errors.Join(err, s.shutdown(all))
}

// shutdown stops the modules in two waves. First those no module of this
// process calls in-process (the gateway, the metrics listener, or every
// module of a split process): /readyz turns 503 for the drain delay, then
// they drain and close. Then the services those called: until their
// callers are done they keep answering, readiness included, so that a
// gateway's requests still reach them while it drains.
func (s *Server) shutdown(all []*running) error {
	s.log.Info("shutting down", "drain_delay", s.delay.String(), "timeout", s.timeout.String())
	var callers, callees []*running
	for _, r := range all {
		if r.calledLocally.Load() {
			callees = append(callees, r)
		} else {
			callers = append(callers, r)
		}
	}
	waves := slices.DeleteFunc([][]*running{callers, callees}, func(w []*running) bool { return len(w) == 0 })
	if len(waves) == 0 {
		return nil
	}
	for _, r := range waves[0] {
		r.draining.Store(true)
	}
	time.Sleep(s.delay)
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout) // for both waves
	defer cancel()
	var errs []error
	for _, wave := range waves {
		for _, r := range wave {
			r.draining.Store(true)
		}
		errs = append(errs, stop(ctx, wave))
	}
	return errors.Join(errs...)
}

// stop shuts the modules down together: each drains its connections and
// in-process requests, then closes.
func stop(ctx context.Context, modules []*running) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, r := range modules {
		wg.Go(func() {
			err := errors.Join(r.http.Shutdown(ctx), r.inFlight.drain(ctx))
			if r.module.Close != nil {
				r.module.Close()
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: shutdown: %w", r.module.Name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// Limits bound the requests each module works on at once. Past
// MaxInFlight a request waits, in a queue of at most MaxQueue, for up to
// QueueWait; past that it is refused at once with 503 and Retry-After.
// The queue is what bounds memory under overload: without it every
// request a client sends becomes a goroutine, a buffer and a database
// wait, and a slow dependency turns into unbounded growth.
type Limits struct {
	MaxInFlight int
	MaxQueue    int
	QueueWait   time.Duration

	// A queue that has not emptied for StandingAfter is standing: the
	// service is overloaded, not meeting a burst, and a request that
	// joins it waits StandingWait at most instead of QueueWait. This is
	// CoDel applied to a request queue, as Facebook's servers do ("Fail
	// at Scale", 2015): a burst is still served, while under sustained
	// overload the requests past the service's rate get their 503 in
	// milliseconds rather than after seconds in a queue, by which time
	// their clients have given up. Zero StandingAfter turns it off.
	StandingAfter time.Duration
	StandingWait  time.Duration

	// MaxConns bounds the client connections each module's listener
	// holds open, busy or idle; zero leaves them unbounded (see connBound).
	// The metrics listener is never bounded.
	MaxConns int
}

// DefaultLimits suit a small machine (2 cores): 64 requests at once is
// well past what the CPU and the database pools can overlap, so more
// would only wait inside the service; 1024 may wait for up to 10s, enough
// for a burst of several hundred checkouts to be served rather than shed.
// A queue that stands for a second is overload; from then on a new
// request waits 100ms at most (ADR 39). 8192 connections are more than
// the load generator opened at three times the sustainable rate
// (3,831-6,830); at 2,048 and 4,096 the bound engaged there and made that
// overload worse (ADR 62).
func DefaultLimits() Limits {
	return Limits{MaxInFlight: 64, MaxQueue: 1024, QueueWait: 10 * time.Second,
		StandingAfter: time.Second, StandingWait: 100 * time.Millisecond, MaxConns: 8192}
}

// LoadLimits reads MAX_IN_FLIGHT, MAX_QUEUE, MAX_QUEUE_WAIT and
// MAX_CONNS, one setting for every module of the process.
func LoadLimits(e *config.Env) Limits {
	e.Describe(config.Docs{
		"MAX_IN_FLIGHT":  "requests each service works on at once (the gateway and search have their own: `GATEWAY_MAX_IN_FLIGHT`, `SEARCH_MAX_IN_FLIGHT`)",
		"MAX_QUEUE":      "requests each service lets wait for a slot; beyond, 503 `overloaded` + `Retry-After` at once",
		"MAX_QUEUE_WAIT": "how long a request may wait for a slot before it gets that 503",
		"MAX_CONNS":      "client connections each listener holds open, busy or idle; at the bound each new connection closes the one idle longest, and with none idle an answer closes its own (0: unbounded)",
	})
	d := DefaultLimits()
	return Limits{
		MaxInFlight:   e.Int("MAX_IN_FLIGHT", d.MaxInFlight, 1, 1<<20),
		MaxQueue:      e.Int("MAX_QUEUE", d.MaxQueue, 0, 1<<20),
		QueueWait:     e.Duration("MAX_QUEUE_WAIT", d.QueueWait),
		StandingAfter: d.StandingAfter,
		StandingWait:  d.StandingWait,
		MaxConns:      e.Int("MAX_CONNS", d.MaxConns, 0, 1<<20),
	}
}

// SetLimits bounds the work of the modules added from now on.
func (s *Server) SetLimits(l Limits) { s.limits = l }

// errOverloaded is the answer to a request the module has no room for.
var errOverloaded = &errs.Error{Kind: errs.Unavailable, Code: "overloaded",
	Message: "the service is busy; try again shortly", RetryAfter: time.Second}

// Why a request was shed, as the metric counts it.
const (
	shedQueueFull = "queue_full"
	shedWaited    = "queue_timeout"
)

// The reasons a Limiter refuses a request.
var (
	ErrQueueFull = errors.New(shedQueueFull)
	ErrWaited    = errors.New(shedWaited)
)

// A Limiter admits up to Limits.MaxInFlight requests at once and lets up
// to Limits.MaxQueue more wait for a slot, with CoDel on a standing queue.
// Each module's requests pass one; the gateway keeps one per service.
type Limiter struct {
	slots    chan struct{}
	queued   atomic.Int64
	maxQueue int64
	wait     time.Duration

	standingAfter time.Duration
	standingWait  time.Duration
	lastEmpty     atomic.Int64 // when the queue was last seen empty, in Unix nanoseconds
}

// NewLimiter returns a limiter with l's bounds and waits.
func NewLimiter(l Limits) *Limiter {
	lim := &Limiter{slots: make(chan struct{}, l.MaxInFlight), maxQueue: int64(l.MaxQueue), wait: l.QueueWait,
		standingAfter: l.StandingAfter, standingWait: l.StandingWait}
	lim.emptied()
	return lim
}

// emptied notes that the queue is empty now.
func (l *Limiter) emptied() { l.lastEmpty.Store(time.Now().UnixNano()) }

// queueWait is how long a request joining the queue now may wait: the
// full wait, unless the queue has stood since longer than standingAfter.
func (l *Limiter) queueWait() time.Duration {
	if l.standingAfter > 0 && time.Since(time.Unix(0, l.lastEmpty.Load())) > l.standingAfter {
		return min(l.standingWait, l.wait)
	}
	return l.wait
}

// Acquire takes a slot, waiting in the queue if there is room in it; it
// returns ErrQueueFull or ErrWaited if there is none, and queued counts
// the waiting requests. A caller whose context ends while it waits leaves
// the queue at once, making room for another, and gets its cause.
func (l *Limiter) Acquire(ctx context.Context, queued prometheus.Gauge) error {
	select {
	case l.slots <- struct{}{}:
		if l.queued.Load() == 0 {
			l.emptied()
		}
		return nil
	default:
	}
	switch n := l.queued.Add(1); {
	case n > l.maxQueue:
		l.queued.Add(-1)
		return ErrQueueFull
	case n == 1:
		// The queue was empty until now, however long every slot has
		// been held without a request waiting.
		l.emptied()
	}
	queued.Inc()
	defer func() {
		if l.queued.Add(-1) == 0 {
			l.emptied()
		}
		queued.Dec()
	}()
	timer := time.NewTimer(l.queueWait())
	defer timer.Stop()
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrWaited
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Release gives back a slot Acquire took.
func (l *Limiter) Release() { <-l.slots }

// unlimited are the paths of the server's own endpoints: an operator and
// a load balancer must be able to ask an overloaded service how it is.
func unlimited(path string) bool {
	return httpx.IsProbe(path) || strings.HasPrefix(path, "/debug/pprof/")
}

// limit bounds a module's requests, those that reach it in-process
// through a Local transport included (they run the same handler).
func (s *Server) limit(m Module) httpx.Middleware {
	limits := s.limits
	if m.MaxInFlight != 0 {
		limits.MaxInFlight = m.MaxInFlight
	}
	if limits.MaxInFlight <= 0 {
		return func(h http.Handler) http.Handler { return h }
	}
	l := NewLimiter(limits)
	queued := s.queued.WithLabelValues(m.Name)
	shed := map[error]prometheus.Counter{
		ErrQueueFull: s.shed.WithLabelValues(m.Name, shedQueueFull),
		ErrWaited:    s.shed.WithLabelValues(m.Name, shedWaited),
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if unlimited(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			if err := l.Acquire(r.Context(), queued); err != nil {
				if c, ok := shed[err]; ok {
					c.Inc()
					httpx.Error(w, r, s.log, errOverloaded)
				} // else the client left: there is no one to answer
				return
			}
			defer l.Release()
			next.ServeHTTP(w, r)
		})
	}
}

// limitMetrics are the instruments of the limits.
func limitMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, *prometheus.GaugeVec) {
	shed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_shed_total",
		Help: "Requests refused with 503 overloaded, by service and reason (queue_full, queue_timeout).",
	}, []string{"service", "reason"})
	queued := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "http_requests_queued",
		Help: "Requests waiting for one of the service's in-flight slots.",
	}, []string{"service"})
	return observability.Register(reg, shed), observability.Register(reg, queued)
}

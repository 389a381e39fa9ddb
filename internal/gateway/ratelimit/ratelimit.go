// Package ratelimit limits how often a client may call the gateway. Limits
// are kept in Redis (GCRA, via redis_rate), so every gateway instance draws
// on one budget per client.
//
// Redis is needed for the budget to be shared, not for limiting at all:
// when it fails or is slower than the timeout, each instance limits on its
// own with an in-process token bucket of the same rate and burst. That
// neither fails open (an outage would switch protection off) nor fails
// closed (it would take the whole API down with it); the cost is that N
// instances let through up to N times the budget until Redis is back.
// After a failure, Redis is skipped for a cool-down so that requests do
// not each wait for the timeout, and then one request at a time tries it
// again, so recovery needs no restart.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// Defaults of the Options.
const (
	// DefaultTimeout bounds each Redis call: a hung Redis adds at most this
	// much to a request.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultCoolDown is how long Redis is left alone after it failed.
	DefaultCoolDown = time.Second
	// DefaultMaxLocalKeys caps the in-process buckets used while Redis is
	// unavailable, so that a flood of client addresses cannot use up memory.
	DefaultMaxLocalKeys = 100_000
)

// Result is the outcome of one Allow call, with what a client needs to
// pace itself (see WriteHeaders).
type Result struct {
	Allowed bool
	// Limit is the limit applied, with its defaults filled in; zero when
	// unlimited.
	Limit Limit
	// Remaining is how many more events would be allowed right now.
	Remaining int
	// RetryAfter is how long until the next event is allowed; zero when
	// this one was.
	RetryAfter time.Duration
	// ResetAfter is how long until the budget is full again.
	ResetAfter time.Duration
	// Degraded reports that Redis was unavailable, so the answer came from
	// this instance's own bucket and covers only the requests it saw.
	Degraded bool
}

// Limiter decides whether a client may make one more request. It is safe
// for concurrent use.
type Limiter struct {
	redis    *redis_rate.Limiter // nil: local buckets only
	prefix   string
	log      *slog.Logger
	timeout  time.Duration
	coolDown time.Duration
	local    *localLimiters
	metrics  metrics

	mu       sync.Mutex
	degraded bool      // Redis failed and no probe has succeeded since
	probeAt  time.Time // while degraded: when the next request may try Redis
}

// Option changes a default of New.
type Option func(*Limiter)

// WithTimeout sets how long a Redis call may take before the local bucket
// answers instead (DefaultTimeout). A d <= 0 keeps the default.
func WithTimeout(d time.Duration) Option {
	return func(l *Limiter) {
		if d > 0 {
			l.timeout = d
		}
	}
}

// WithCoolDown sets how long Redis is skipped after it failed
// (DefaultCoolDown). A d <= 0 keeps the default: without a cool-down every
// request would wait for the timeout during an outage.
func WithCoolDown(d time.Duration) Option {
	return func(l *Limiter) {
		if d > 0 {
			l.coolDown = d
		}
	}
}

// WithMaxLocalKeys caps the number of in-process buckets
// (DefaultMaxLocalKeys). An n <= 0 keeps the default.
func WithMaxLocalKeys(n int) Option {
	return func(l *Limiter) {
		if n > 0 {
			l.local = newLocalLimiters(n)
		}
	}
}

// New returns a Limiter keeping its counts in rdb under prefix+"rl:"
// (redis_rate puts "rate:" in front of every key). A nil rdb makes every
// instance limit on its own, which suits a single instance. The metrics are
// registered on reg unless it is nil; limiters sharing a registry share
// them. rdb should be built with ContextTimeoutEnabled, so that a call
// given up after the timeout also stops waiting on its connection.
func New(rdb redis.UniversalClient, prefix string, log *slog.Logger, reg prometheus.Registerer, opts ...Option) *Limiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{
		prefix:   prefix + "rl:",
		log:      log,
		timeout:  DefaultTimeout,
		coolDown: DefaultCoolDown,
		local:    newLocalLimiters(DefaultMaxLocalKeys),
		metrics:  newMetrics(reg),
	}
	if rdb != nil {
		l.redis = redis_rate.NewLimiter(rdb)
	}
	for _, opt := range opts {
		opt(l)
	}
	return l
}

// Allow takes one event from the budget of key (a client: an IP address,
// a user ID) in class (a route group with its own limit, such as "login";
// a small fixed set, as it labels metrics, without ":"). A zero lim allows
// everything without asking Redis. Allow never fails: when Redis cannot
// answer, this instance's own bucket does.
func (l *Limiter) Allow(ctx context.Context, class, key string, lim Limit) Result {
	if lim.unlimited() {
		return Result{Allowed: true}
	}
	res, backend := l.decide(ctx, class+":"+key, lim.withDefaults())
	l.metrics.count(class, res.Allowed, backend)
	return res
}

// decide asks Redis when it may, and the local bucket otherwise. The
// caller's own context ending (a client gone) is not Redis's fault.
func (l *Limiter) decide(ctx context.Context, id string, lim Limit) (Result, string) {
	if try, probe := l.redisTurn(time.Now()); try {
		res, err := l.allowRedis(ctx, id, lim)
		switch {
		case err == nil:
			if probe {
				l.setDegraded(ctx, false, nil)
			}
			return res, "redis"
		case ctx.Err() == nil:
			l.setDegraded(ctx, true, err)
		}
	}
	res := l.local.allow(id, lim, time.Now())
	res.Degraded = l.redis != nil
	return res, "local"
}

// redisTurn reports whether this call should ask Redis: always while it is
// healthy; while degraded, one call per cool-down (the probe), so that
// recovery is noticed without every request paying the timeout. Only a
// probe ends degraded mode, so calls that were already in flight cannot
// make the mode (and the log) flap.
func (l *Limiter) redisTurn(now time.Time) (try, probe bool) {
	if l.redis == nil {
		return false, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.degraded {
		return true, false
	}
	if now.Before(l.probeAt) {
		return false, false
	}
	l.probeAt = now.Add(l.coolDown)
	return true, true
}

// setDegraded records a Redis failure or a successful probe, logging and
// exporting only the switches between modes.
func (l *Limiter) setDegraded(ctx context.Context, degraded bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if degraded {
		l.probeAt = time.Now().Add(l.coolDown)
	}
	if l.degraded == degraded {
		return
	}
	l.degraded = degraded
	if degraded {
		l.metrics.degraded.Set(1)
		l.log.WarnContext(ctx, "rate limits: redis unavailable, each instance limits on its own",
			"err", err, "retry_every", l.coolDown)
		return
	}
	l.metrics.degraded.Set(0)
	l.log.InfoContext(ctx, "rate limits: redis available again, budgets are shared")
}

// allowRedis runs the GCRA script, giving up after l.timeout even when the
// client ignores context deadlines.
func (l *Limiter) allowRedis(ctx context.Context, id string, lim Limit) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	type answer struct {
		res *redis_rate.Result
		err error
	}
	done := make(chan answer, 1) // buffered: an abandoned call must not leak its goroutine
	go func() {
		res, err := l.redis.Allow(ctx, l.prefix+id, redis_rate.Limit{Rate: lim.Rate, Burst: lim.Burst, Period: lim.Period})
		done <- answer{res, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		a.err = ctx.Err()
	}
	if a.err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis %s: %w", id, a.err)
	}
	return Result{
		Allowed:    a.res.Allowed > 0,
		Limit:      lim,
		Remaining:  a.res.Remaining,
		RetryAfter: max(a.res.RetryAfter, 0), // redis_rate says -1 when allowed
		ResetAfter: max(a.res.ResetAfter, 0),
	}, nil
}

// metrics count decisions and show whether limits are currently shared.
type metrics struct {
	decisions *prometheus.CounterVec
	degraded  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_ratelimit_decisions_total",
			Help: "Rate limit decisions by class, result (allowed or limited) and backend (redis, or local while Redis is unavailable or not configured).",
		}, []string{"class", "result", "backend"}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_ratelimit_degraded",
			Help: "1 while Redis is unavailable and each gateway instance limits on its own.",
		}),
	}
	if reg != nil {
		m.decisions = observability.Register(reg, m.decisions)
		m.degraded = observability.Register(reg, m.degraded)
	}
	return m
}

func (m metrics) count(class string, allowed bool, backend string) {
	result := "limited"
	if allowed {
		result = "allowed"
	}
	m.decisions.WithLabelValues(class, result, backend).Inc()
}

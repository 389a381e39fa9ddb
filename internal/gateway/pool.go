package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/marketplace-go/marketplace/internal/platform/server"
)

// Balancing policies: which healthy instance a request goes to.
const (
	RoundRobin    = "round-robin"
	LeastInFlight = "least-in-flight"
)

// pool is one service's instances as its Source last reported them. It
// picks among the healthy ones, checks each on /readyz, and keeps one
// breaker for the whole service.
type pool struct {
	service string
	cfg     Config
	metrics *metrics
	stats   *upstreamMetrics
	client  *http.Client // for health checks
	log     *slog.Logger
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu        sync.Mutex
	instances []*instance
	next      int
	pending   *server.Limiter // requests outstanding: cfg.MaxPending at once, the rest queued
	inPanic   bool            // fewer than half the instances look healthy
	known     bool            // the source has reported at least once
	found     chan struct{}   // closed when it has
	ctx       context.Context
	checks    sync.WaitGroup // the instances' health checks
}

// instance is one upstream: its run of failures (passive ejection), its
// last health check (active), and the requests it is serving.
type instance struct {
	base     string
	inFlight atomic.Int64
	down     atomic.Bool // failed its last health checks
	stop     context.CancelFunc

	mu           sync.Mutex
	failures     int
	ejectedUntil time.Time
}

func newPool(ctx context.Context, service string, cfg Config, m *metrics, client *http.Client, log *slog.Logger) *pool {
	p := &pool{service: service, cfg: cfg, metrics: m, stats: m.upstream(service), client: client, log: log, ctx: ctx,
		found: make(chan struct{}), pending: server.NewLimiter(pendingLimits(cfg))}
	p.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        service,
		MaxRequests: 3,
		Interval:    cfg.BreakerWindow,
		Timeout:     cfg.BreakerOpenFor,
		// A few failures in a row, or most requests failing over the
		// window, mean the service is down rather than one instance.
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(cfg.BreakerFailures) ||
				c.Requests >= 20 && c.TotalFailures*2 >= c.Requests
		},
		// A client that gave up, or a request that outlived its timeout,
		// says nothing about whether the service can be reached (see
		// breakerOutcome).
		IsExcluded:    func(err error) bool { return errors.Is(err, errNotCounted) },
		OnStateChange: func(name string, _, to gobreaker.State) { m.breakerState(name, to) },
	})
	m.breakerState(service, gobreaker.StateClosed)
	return p
}

// pendingLimits bound one service's outstanding requests as a service
// bounds its own: past MaxPending they wait in a queue, with the server's
// default waits, so that a burst to one service (hundreds of checkouts at
// once) is served; it may take the whole door while it drains.
//
// The door bounds the queue's length. The queue's own bound is the door's
// size only because its count lags: a waiter handed a slot leaves the
// count once it runs, and a tighter bound refused requests the door had
// let in.
//
// Overload is judged at the door, whose queue stands within a second. A
// request reaches a service's queue only after the door's, so a burst
// larger than the door reaches it late: the service's queue stands only
// after PendingStandingAfter. Then a request joining it waits 100 ms at
// most, so that a hung service holds the door's slots no longer (ADR 63).
func pendingLimits(cfg Config) server.Limits {
	d := server.DefaultLimits()
	return server.Limits{MaxInFlight: cfg.MaxPending, MaxQueue: cfg.MaxInFlight, QueueWait: d.QueueWait,
		StandingAfter: cfg.PendingStandingAfter, StandingWait: d.StandingWait}
}

// enter waits for one of the service's slots. It returns
// server.ErrQueueFull or server.ErrWaited if none came, counted as shed,
// or the cause of ctx if it ended first; leave gives the slot back.
func (p *pool) enter(ctx context.Context) error {
	err := p.pending.Acquire(ctx, p.stats.queued)
	if errors.Is(err, server.ErrQueueFull) || errors.Is(err, server.ErrWaited) {
		p.stats.shed.Inc()
	}
	return err
}

func (p *pool) leave() { p.pending.Release() }

// set replaces the instance list. Instances still listed keep their state;
// new ones start healthy and are checked at once; gone ones stop being
// checked.
func (p *pool) set(bases []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.known {
		p.known = true
		close(p.found)
	}
	keep := make([]*instance, 0, len(bases))
	for _, b := range bases {
		b = strings.TrimSuffix(b, "/")
		if err := checkBase(b); err != nil {
			p.log.Warn("upstream instance ignored", "upstream", p.service, "err", err)
			continue
		}
		if slices.ContainsFunc(keep, func(i *instance) bool { return i.base == b }) {
			continue
		}
		i := p.find(b)
		if i == nil {
			i = &instance{base: b}
			ctx, cancel := context.WithCancel(p.ctx)
			i.stop = cancel
			p.checks.Go(func() { p.check(ctx, i) })
		}
		keep = append(keep, i)
	}
	for _, old := range p.instances {
		if !slices.Contains(keep, old) {
			old.stop()
			p.metrics.forget(p.service, old.base)
		}
	}
	p.instances = keep
}

func (p *pool) find(base string) *instance {
	for _, i := range p.instances {
		if i.base == base {
			return i
		}
	}
	return nil
}

// pick returns an instance not tried yet, or nil: the next in turn, or
// under LeastInFlight the least busy, ties going to the next in turn. It
// picks among the healthy ones, unless fewer than half look healthy: then
// it picks among all of them (Envoy's panic threshold). When most
// instances fail their health checks at once, the checks are more likely
// wrong (timing out under load) than the instances all dead, and refusing
// every request would turn a slowdown into an outage; an instance that is
// really gone refuses the connection and the request moves on.
func (p *pool) pick(tried []*instance) *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	n := len(p.instances)
	panicking := p.panicking(now)
	best := -1
	for k := range n {
		j := (p.next + k) % n
		i := p.instances[j]
		if slices.Contains(tried, i) || !panicking && !i.healthy(now) {
			continue
		}
		if best < 0 || p.cfg.Balance == LeastInFlight && i.inFlight.Load() < p.instances[best].inFlight.Load() {
			best = j
		}
		if p.cfg.Balance != LeastInFlight {
			break
		}
	}
	if best < 0 {
		return nil
	}
	if panicking {
		p.stats.panicked.Inc()
	}
	// The turn passes to the one after the chosen one, so that an
	// instance left out does not hand its turns to its neighbour.
	p.next = (best + 1) % n
	return p.instances[best]
}

// panicking reports whether fewer than half the instances look healthy,
// logging when that starts and ends rather than on every request. The
// caller holds p.mu.
func (p *pool) panicking(now time.Time) bool {
	healthy := 0
	for _, i := range p.instances {
		if i.healthy(now) {
			healthy++
		}
	}
	panicking := len(p.instances) > 0 && healthy*2 < len(p.instances)
	if panicking != p.inPanic {
		p.inPanic = panicking
		if panicking {
			p.log.Warn("too few upstream instances look healthy: routing to all of them", "upstream", p.service,
				"healthy", healthy, "instances", len(p.instances))
		} else {
			p.log.Info("enough upstream instances healthy again: routing to the healthy ones", "upstream", p.service)
		}
	}
	return panicking
}

// discovered waits until the source has reported once, so that requests
// arriving just after start wait for the instances rather than fail.
func (p *pool) discovered(ctx context.Context) bool {
	select {
	case <-p.found:
		return true
	case <-ctx.Done():
		return false
	}
}

func (i *instance) healthy(now time.Time) bool {
	if i.down.Load() {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return !now.Before(i.ejectedUntil)
}

// failed counts a failure of i. Enough in a row leave it out for a while,
// after which it gets requests again (and is left out again at once if it
// still fails), unless no other instance is healthy: leaving out the last
// one would refuse every request for EjectFor, while sending to it lets
// the requests it can serve succeed.
func (p *pool) failed(i *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	others := slices.ContainsFunc(p.instances, func(o *instance) bool { return o != i && o.healthy(now) })
	i.failed(p.cfg.EjectAfter, p.cfg.EjectFor, others)
}

func (i *instance) failed(after int, ejectFor time.Duration, mayEject bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.failures++
	if i.failures >= after {
		if mayEject {
			i.ejectedUntil = time.Now().Add(ejectFor)
		}
		i.failures = after - 1
	}
}

func (i *instance) succeeded() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.failures = 0
}

// check asks an instance's /readyz every HealthInterval until ctx ends. An
// instance that fails HealthFailures checks in a row gets no requests until
// it passes one: this finds an instance that is draining or lost a
// dependency before any client request fails on it.
func (p *pool) check(ctx context.Context, i *instance) {
	t := time.NewTicker(p.cfg.HealthInterval)
	defer t.Stop()
	failures := 0
	for {
		if err := p.probe(ctx, i); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures >= p.cfg.HealthFailures && !i.down.Swap(true) {
				p.log.WarnContext(ctx, "upstream failed its health checks", "upstream", p.service, "instance", i.base, "err", err)
			}
		} else {
			failures = 0
			if i.down.Swap(false) {
				p.log.InfoContext(ctx, "upstream healthy again", "upstream", p.service, "instance", i.base)
			}
		}
		// Under the lock set takes to remove an instance, so that a
		// removed instance's series, once forgotten, stays gone.
		p.mu.Lock()
		if ctx.Err() == nil {
			p.metrics.healthy(p.service, i.base, !i.down.Load())
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

var errNotReady = errors.New("not ready")

func (p *pool) probe(ctx context.Context, i *instance) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.base+"/readyz", nil)
	if err != nil {
		return err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: status %d", errNotReady, res.StatusCode)
	}
	return nil
}

// checkBase accepts a service's base URL: http or https, a host, no path.
func checkBase(b string) error {
	u, err := url.Parse(b)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%q is not a base URL such as http://10.0.0.5:8081", b)
	}
	return nil
}

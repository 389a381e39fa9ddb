package ratelimit_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/marketplace-go/marketplace/internal/gateway/ratelimit"
	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
	"github.com/marketplace-go/marketplace/internal/platform/proxytest"
)

// slow is a Redis timeout for tests that are not about timeouts: a loaded
// machine must not push them into the fallback.
var slow = ratelimit.WithTimeout(5 * time.Second)

func TestAllowEnforcesTheLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rdb     func(t *testing.T) redis.UniversalClient
		backend string
	}{
		{name: "with Redis", rdb: func(t *testing.T) redis.UniversalClient { return cachetest.Client(t, cachetest.Addr()) }, backend: "redis"},
		{name: "without Redis", rdb: func(*testing.T) redis.UniversalClient { return nil }, backend: "local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewPedanticRegistry()
			l := ratelimit.New(tt.rdb(t), keyPrefix(t), nil, reg, slow)
			lim := ratelimit.Limit{Rate: 3, Period: time.Minute} // burst defaults to 3

			for want := 2; want >= 0; want-- {
				res := l.Allow(t.Context(), "login", "203.0.113.7", lim)
				if !res.Allowed || res.Remaining != want || res.RetryAfter != 0 || res.Degraded {
					t.Fatalf("within the burst: %+v; want allowed with %d remaining", res, want)
				}
			}
			res := l.Allow(t.Context(), "login", "203.0.113.7", lim)
			// One event every 20s refills the budget.
			if res.Allowed || res.Remaining != 0 || res.RetryAfter <= 15*time.Second || res.RetryAfter > 20*time.Second {
				t.Fatalf("beyond the burst: %+v; want refused, retry in about 20s", res)
			}
			if res.Limit != (ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Minute}) {
				t.Errorf("result limit %+v; want the burst filled in", res.Limit)
			}
			for result, want := range map[string]float64{"allowed": 3, "limited": 1} {
				if got := metric(t, reg, "gateway_ratelimit_decisions_total", "class", "login", "result", result, "backend", tt.backend); got != want {
					t.Errorf("decisions{login,%s,%s} = %v; want %v", result, tt.backend, got, want)
				}
			}
			if got := l.Allow(t.Context(), "login", "203.0.113.8", lim); !got.Allowed {
				t.Errorf("another client: %+v; want allowed, budgets are per key", got)
			}
			if got := l.Allow(t.Context(), "search", "203.0.113.7", lim); !got.Allowed {
				t.Errorf("another class: %+v; want allowed, budgets are per class", got)
			}
		})
	}
}

func TestAllowStoresCountsUnderTheGivenPrefix(t *testing.T) {
	t.Parallel()
	rdb := cachetest.Client(t, cachetest.Addr())
	prefix := keyPrefix(t)
	l := ratelimit.New(rdb, prefix, nil, nil, slow)
	l.Allow(t.Context(), "login", "203.0.113.7", ratelimit.Limit{Rate: 1, Period: time.Minute})

	key := "rate:" + prefix + "rl:login:203.0.113.7" // "rate:" is redis_rate's own
	if n, err := rdb.Exists(t.Context(), key).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS %s = %d, %v; want 1", key, n, err)
	}
}

func TestUnlimitedAllowsWithoutAskingRedis(t *testing.T) {
	t.Parallel()
	proxy := proxytest.NewProxy(t, cachetest.Addr())
	proxy.Stop() // any call to Redis would fail and be logged
	var logs logtest.Buffer
	reg := prometheus.NewPedanticRegistry()
	l := ratelimit.New(cachetest.Client(t, proxy.Addr()), keyPrefix(t), slog.New(slog.NewTextHandler(&logs, nil)), reg)

	for range 100 {
		if res := l.Allow(t.Context(), "login", "203.0.113.7", ratelimit.Limit{}); !res.Allowed || res.Degraded {
			t.Fatalf("unlimited: %+v; want allowed by neither backend", res)
		}
	}
	if logs.String() != "" {
		t.Errorf("logs %q; want none, Redis was not asked", logs.String())
	}
	if got := metric(t, reg, "gateway_ratelimit_degraded"); got != 0 {
		t.Errorf("degraded gauge = %v; want 0", got)
	}
}

func TestLimitersSharingRedisShareTheBudget(t *testing.T) {
	t.Parallel()
	prefix := keyPrefix(t)
	// Two gateway instances: their own clients, one Redis.
	a := ratelimit.New(cachetest.Client(t, cachetest.Addr()), prefix, nil, nil, slow)
	b := ratelimit.New(cachetest.Client(t, cachetest.Addr()), prefix, nil, nil, slow)
	lim := ratelimit.Limit{Rate: 4, Period: time.Hour}

	var allowed int
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if res := l.Allow(t.Context(), "login", "203.0.113.7", lim); res.Allowed {
			allowed++
		}
	}
	if allowed != 4 {
		t.Fatalf("two instances allowed %d of 10; want 4, the one shared budget", allowed)
	}
}

func TestConcurrentCallsNeverExceedTheBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rdb  func(t *testing.T) redis.UniversalClient
	}{
		{name: "with Redis", rdb: func(t *testing.T) redis.UniversalClient { return cachetest.Client(t, cachetest.Addr()) }},
		{name: "without Redis", rdb: func(*testing.T) redis.UniversalClient { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := ratelimit.New(tt.rdb(t), keyPrefix(t), nil, nil, slow)
			lim := ratelimit.Limit{Rate: 20, Period: time.Hour} // no refill during the test

			var allowed, degraded atomic.Int32
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					for range 5 {
						res := l.Allow(t.Context(), "login", "203.0.113.7", lim)
						if res.Allowed {
							allowed.Add(1)
						}
						if res.Degraded {
							degraded.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if allowed.Load() != 20 || degraded.Load() != 0 {
				t.Fatalf("160 racing calls: %d allowed, %d degraded; want exactly 20 allowed, none degraded", allowed.Load(), degraded.Load())
			}
		})
	}
}

func TestRedisStoppedFallsBackToLocalLimitsThenRecovers(t *testing.T) {
	t.Parallel()
	proxy := proxytest.NewProxy(t, cachetest.Addr())
	var logs logtest.Buffer
	reg := prometheus.NewPedanticRegistry()
	l := ratelimit.New(cachetest.Client(t, proxy.Addr()), keyPrefix(t), slog.New(slog.NewTextHandler(&logs, nil)), reg,
		ratelimit.WithTimeout(time.Second), ratelimit.WithCoolDown(50*time.Millisecond))
	lim := ratelimit.Limit{Rate: 3, Period: time.Hour}
	allow := func() ratelimit.Result { return l.Allow(t.Context(), "login", "203.0.113.7", lim) }

	if res := allow(); !res.Allowed || res.Degraded || res.Remaining != 2 {
		t.Fatalf("Redis up: %+v; want allowed by Redis, 2 remaining", res)
	}

	proxy.Stop()
	var allowed int
	for range 6 {
		res := allow()
		if !res.Degraded {
			t.Fatalf("Redis stopped: %+v; want a degraded answer", res)
		}
		if res.Allowed {
			allowed++
		}
	}
	// Neither open nor closed: this instance's own bucket of 3.
	if allowed != 3 {
		t.Errorf("Redis stopped: %d of 6 allowed; want 3", allowed)
	}
	if got := metric(t, reg, "gateway_ratelimit_degraded"); got != 1 {
		t.Errorf("degraded gauge = %v while Redis is stopped; want 1", got)
	}

	proxy.Start(t)
	eventually.True(t, "Redis to answer again", func() bool {
		return !l.Allow(t.Context(), "probe", "probe", ratelimit.Limit{Rate: 1000, Period: time.Second}).Degraded
	})
	// Redis remembers the one event it counted before the outage.
	if res := allow(); !res.Allowed || res.Degraded || res.Remaining != 1 {
		t.Fatalf("Redis back: %+v; want allowed by Redis, 1 remaining", res)
	}
	if got := metric(t, reg, "gateway_ratelimit_degraded"); got != 0 {
		t.Errorf("degraded gauge = %v after recovery; want 0", got)
	}
	if down, up := strings.Count(logs.String(), "redis unavailable"), strings.Count(logs.String(), "redis available again"); down != 1 || up != 1 {
		t.Errorf("logged the outage %d times and the recovery %d times; want once each:\n%s", down, up, logs.String())
	}
}

func TestRedisHangingCallsReturnWithinTheTimeout(t *testing.T) {
	t.Parallel()
	proxy := proxytest.NewProxy(t, cachetest.Addr())
	const timeout = 100 * time.Millisecond
	l := ratelimit.New(cachetest.Client(t, proxy.Addr()), keyPrefix(t), nil, nil,
		ratelimit.WithTimeout(timeout), ratelimit.WithCoolDown(50*time.Millisecond))
	lim := ratelimit.Limit{Rate: 100, Period: time.Minute}
	if res := l.Allow(t.Context(), "login", "203.0.113.7", lim); res.Degraded {
		t.Fatalf("Redis up: %+v; want an answer from Redis", res)
	}

	proxy.Hang()
	for i := range 6 { // some during the cool-down, some probing Redis again
		start := time.Now()
		res := l.Allow(t.Context(), "login", "203.0.113.7", lim)
		// Far below go-redis's own 3s read timeout, yet with room for a
		// loaded machine.
		if took := time.Since(start); took > 10*timeout {
			t.Fatalf("call %d took %v with Redis hanging; want about %v at most", i, took, timeout)
		}
		if !res.Allowed || !res.Degraded {
			t.Fatalf("call %d: %+v; want allowed by the local bucket", i, res)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// keyPrefix returns a throwaway key prefix. redis_rate puts "rate:" before
// every key, out of reach of cachetest's clean-up, so those keys are
// deleted here when the test ends.
func keyPrefix(t *testing.T) string {
	t.Helper()
	rdb := cachetest.Client(t, cachetest.Addr())
	prefix := cachetest.Prefix(t)
	t.Cleanup(func() { // before rdb is closed: cleanups run last first
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, "rate:"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("delete keys rate:%s*: %v", prefix, err)
		}
	})
	return prefix
}

// metric returns the value of the counter or gauge name with the given
// label pairs, or 0 when there is none.
func metric(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, p := range m.GetLabel() {
				have[p.GetName()] = p.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

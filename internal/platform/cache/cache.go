// Package cache is a cache-aside layer over Redis for values that can be
// loaded again at any time: JSON-encoded, shared by every instance of a
// service, loaded once per key across concurrent misses in a process, and
// invalidated either key by key (Delete) or a whole group at once (Bump).
//
// Redis is an optimisation only: when it is down, slow or hanging, reads go
// straight to the loader and callers never see a Redis error from
// GetOrLoad. Each Redis call waits at most opTimeout (whether or not the
// client was built with ContextTimeoutEnabled, though it should be, so that
// an abandoned call also stops), and once Redis is taken for down reads skip
// it for retryAfter rather than paying the timeout on every request.
//
// A call that failed outright (refused, reset) means Redis is down. One that
// only timed out may mean Redis hangs, or that this machine's cores were
// busy for a moment: Redis counts as down for timeouts only once no call
// has succeeded within opTimeout for outageAfter, or calls have kept timing
// out for that long (a Redis that still answers small values quickly).
// Sending every read to the database for a second after one slow answer
// turns a busy moment into an overload, as the loads are what the cache
// saves.
//
// Stale writes: a reader that misses, loads an old value and stores it after
// a writer's Delete would hide the write until the TTL ends. Every key has an
// invalidation counter next to it (same hash slot): a miss reads it together
// with the value, Delete increments it, and the store is a script that
// writes only if the counter has not moved. Readers that miss after a Delete
// also never share the flight of a load that began before it, because the
// counter is part of the single-flight key. So a write followed by Delete is
// visible to the next read from any instance; the one remaining gap is a
// Delete that fails because Redis is unreachable, which the short TTLs bound.
// Group keys need no counter check: Bump changes the generation and so the
// key every later reader uses.
//
// WithNear adds a tier in the process in front of Redis, which every
// Delete reaches through Redis's publish and subscribe (near.go).
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

const (
	// opTimeout bounds each Redis round trip, so a hanging Redis adds at
	// most this much to a request.
	opTimeout = 100 * time.Millisecond
	// invalidationTimeout bounds a Delete or Bump, which is worth waiting for.
	invalidationTimeout = 2 * time.Second
	// retryAfter is how long reads bypass Redis once it is taken for down.
	retryAfter = time.Second
	// outageAfter is how long timeouts must go on before they alone take
	// Redis for down: several opTimeouts, longer than a busy machine keeps
	// a round trip waiting.
	outageAfter = 500 * time.Millisecond
	// warnEvery limits the "Redis unavailable" warning; the error counter
	// counts every failure.
	warnEvery = 30 * time.Second
	// GenerationTTL is how long a group's counter outlives its last Bump.
	GenerationTTL = 24 * time.Hour
	// MaxTTL is the longest entry TTL GetOrLoad accepts: far below
	// GenerationTTL, which the correctness of generations relies on.
	MaxTTL = time.Hour
	// versionTTL keeps a key's invalidation counter alive well beyond the
	// longest load that could still be racing the Delete that bumped it.
	versionTTL = time.Hour
)

// ErrUnavailable is returned (wrapped) by Generation while Redis is known
// to be down; callers then read from the source without caching.
var ErrUnavailable = errors.New("cache: redis unavailable")

var (
	// storeScript sets KEYS[1] to ARGV[2] for ARGV[3] ms unless the key's
	// invalidation counter KEYS[2] moved away from ARGV[1] since the miss.
	storeScript = redis.NewScript(`
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)
	// deleteScript removes KEYS[1], increments its counter KEYS[2] and
	// announces KEYS[1] on channel ARGV[2] for the near tiers.
	deleteScript = redis.NewScript(`
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], KEYS[1])
return redis.call('DEL', KEYS[1])`)
	// bumpScript increments KEYS[1], creating it as ARGV[1] first, and
	// keeps it for ARGV[2] ms after the last bump.
	bumpScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
local v = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return v`)
)

// Cache is a cache-aside store for one family of keys, such as "products:".
type Cache struct {
	rdb     redis.UniversalClient
	prefix  string
	name    string
	log     *slog.Logger
	timeout time.Duration // opTimeout; tests raise it
	// outageAfter and retryAfter are the package's constants; tests
	// change them.
	outageAfter, retryAfter time.Duration
	flights                 singleflight.Group
	near                    *near // nil without WithNear

	hits, misses, errs prometheus.Counter

	// Unix nanoseconds, of: the end of the time reads skip Redis; the
	// last call that succeeded within opTimeout; the last timeout and the
	// first of the timeouts that followed it with no gap of outageAfter;
	// the last outage warning.
	downUntil, lastOK, lastTimeout, timeoutsSince, lastWarn atomic.Int64
}

// New returns a cache whose keys all start with prefix. Its hit, miss and
// error counters are labelled with the prefix (without a trailing colon)
// and registered on reg unless it is nil; caches may share a registry.
func New(client redis.UniversalClient, prefix string, reg prometheus.Registerer, log *slog.Logger, opts ...Option) *Cache {
	name := strings.TrimSuffix(prefix, ":")
	c := &Cache{
		rdb:         client,
		prefix:      prefix,
		name:        name,
		log:         log,
		timeout:     opTimeout,
		outageAfter: outageAfter,
		retryAfter:  retryAfter,
		hits:        counter(reg, "cache_hits_total", "Cache lookups answered from Redis or the near tier.", name),
		misses:      counter(reg, "cache_misses_total", "Cache lookups that found nothing and loaded the value.", name),
		errs:        counter(reg, "cache_errors_total", "Redis calls that failed or timed out; the request was served without the cache.", name),
	}
	// A Redis that hangs from the start is down outageAfter after it.
	c.lastOK.Store(time.Now().UnixNano())
	for _, o := range opts {
		o(c)
	}
	if c.near != nil {
		c.near.hits = counter(reg, "cache_near_hits_total", "Cache lookups answered from the near tier, in the process.", name)
	}
	return c
}

// counter returns the named counter for cache, registering its vector on
// reg or reusing the one another cache registered there.
func counter(reg prometheus.Registerer, metric, help, cache string) prometheus.Counter {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metric, Help: help}, []string{"cache"})
	if reg != nil {
		vec = observability.Register(reg, vec)
	}
	return vec.WithLabelValues(cache)
}

// keys are the Redis keys of one cache entry. The braces make the value and
// its counter a Redis Cluster hash tag, so the scripts may touch both.
type keys struct{ value, version string }

func (c *Cache) keysFor(key string) keys {
	v := c.prefix + "{" + key + "}"
	return keys{value: v, version: v + ":v"}
}

// GetOrLoad decodes the cached value of key into dst. On a miss it calls
// load (once per key for all concurrent callers in this process), caches
// the JSON of its result for ttl (not at all below 1ms) and decodes that
// into dst. Errors from load, or from encoding and decoding, are returned;
// Redis errors never are: without Redis the value is simply loaded.
func (c *Cache) GetOrLoad(ctx context.Context, key string, ttl time.Duration, dst any, load func(ctx context.Context) (any, error)) error {
	ttl = min(ttl, MaxTTL)
	k := c.keysFor(key)
	if data, ok := c.near.get(k.value); ok && json.Unmarshal(data, dst) == nil {
		c.hits.Inc()
		c.near.hits.Inc()
		return nil
	}
	epoch := c.near.begin()
	data, version, ok := c.lookup(ctx, k)
	if data != nil {
		if err := json.Unmarshal(data, dst); err == nil {
			c.hits.Inc()
			c.near.put(k.value, data, epoch, ttl)
			return nil
		}
		// Written by an older version of the value's type: load it afresh.
	}
	if ok {
		c.misses.Inc()
	}
	r, err := c.load(ctx, key, k, version, ok && data == nil, ok && ttl >= time.Millisecond, ttl, load)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(r.data, dst); err != nil {
		return fmt.Errorf("cache: decode %s: %w", key, err)
	}
	if r.current {
		c.near.put(k.value, r.data, epoch, ttl)
	}
	return nil
}

// loaded is the result of a load: the value's JSON, and whether Redis held
// it when the load ended (found by the recheck, or stored), which is when
// the near tier may keep it.
type loaded struct {
	data    []byte
	current bool
}

// lookup reads the value and its invalidation counter. ok is false when
// Redis could not be asked; data is nil on a miss.
func (c *Cache) lookup(ctx context.Context, k keys) (data []byte, version string, ok bool) {
	if c.down() {
		return nil, "", false
	}
	var vals []any
	err := c.call(ctx, "get", func(ctx context.Context) (err error) {
		vals, err = c.rdb.MGet(ctx, k.value, k.version).Result()
		return err
	})
	if err != nil {
		return nil, "", false
	}
	version = "0"
	if v, isString := vals[1].(string); isString {
		version = v
	}
	if v, isString := vals[0].(string); isString {
		data = []byte(v)
	}
	return data, version, true
}

// load runs loadFn once per key and counter value across concurrent callers
// and stores the result when store is set. With recheck it first looks in
// Redis again: a caller whose miss came just before another flight stored
// the value, and which started its flight just after that one ended, then
// uses the stored value instead of loading it a second time.
//
// The load keeps the first caller's values and deadline but not its
// cancellation, so one caller going away does not fail the others; each
// caller stops waiting when its own context ends.
func (c *Cache) load(ctx context.Context, key string, k keys, version string, recheck, store bool, ttl time.Duration, loadFn func(context.Context) (any, error)) (loaded, error) {
	flight := k.value + "\x00" + version
	ch := c.flights.DoChan(flight, func() (v any, err error) {
		defer func() {
			if p := recover(); p != nil {
				c.log.ErrorContext(ctx, "cache load panicked", "cache", c.name, "key", key, "panic", p, "stack", string(debug.Stack()))
				err = fmt.Errorf("cache: load %s panicked: %v", key, p)
			}
		}()
		lctx, cancel := detach(ctx)
		defer cancel()
		if recheck {
			data, current, ok := c.lookup(lctx, k)
			if data != nil {
				return loaded{data: data, current: true}, nil
			}
			// The store must check against what Redis says now.
			version, store = current, store && ok
		}
		val, err := loadFn(lctx)
		if err != nil {
			return nil, err
		}
		data, err := json.Marshal(val)
		if err != nil {
			return nil, fmt.Errorf("cache: encode %s: %w", key, err)
		}
		return loaded{data: data, current: store && c.store(lctx, k, version, data, ttl)}, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return loaded{}, r.Err
		}
		return r.Val.(loaded), nil
	case <-ctx.Done():
		return loaded{}, ctx.Err()
	}
}

// detach returns ctx without its cancellation but with its deadline.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(d, deadline)
	}
	return d, func() {}
}

// store caches data unless the key was deleted since version was read,
// and reports whether it did.
func (c *Cache) store(ctx context.Context, k keys, version string, data []byte, ttl time.Duration) bool {
	var stored int64
	err := c.call(ctx, "set", func(ctx context.Context) (err error) {
		stored, err = storeScript.Run(ctx, c.rdb, []string{k.value, k.version}, version, data, ttl.Milliseconds()).Int64()
		return err
	})
	return err == nil && stored == 1
}

// Delete removes entries, so the next read of each loads it afresh, also when
// a load that started earlier is still running. A write should call it
// after its database change; an error means Redis was unreachable and the
// old value may be served until its TTL ends.
func (c *Cache) Delete(ctx context.Context, entries ...string) error {
	if len(entries) == 0 {
		return nil
	}
	// Built here, not in the call: a call that times out goes on running.
	ks, values := make([]keys, len(entries)), make([]string, len(entries))
	for i, key := range entries {
		ks[i] = c.keysFor(key)
		values[i] = ks[i].value
	}
	err := c.invalidation(ctx, "delete", func(ctx context.Context) error {
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range ks {
				deleteScript.Eval(ctx, p, []string{k.value, k.version}, versionTTL.Milliseconds(), c.channel())
			}
			return nil
		})
		return err
	})
	// After Redis: a read of this instance that began before now cannot
	// keep what it read, and one that begins after finds Redis changed.
	c.near.drop(values...)
	if err != nil {
		return fmt.Errorf("cache: delete %s%v: %w", c.prefix, entries, err)
	}
	return nil
}

// Generation returns the current generation of group: 0 until its first
// Bump. Callers build the keys of the group's entries as
// group + ":" + generation + ":" + rest, so that Bump invalidates them all
// at once for every instance. On error (Redis unavailable) callers should
// load without the cache.
//
// Reading never creates a key, so lookups of arbitrary groups (product ids
// that do not exist, say) cost Redis no memory. Bump starts a counter at
// the current time in microseconds, above any value an earlier counter of
// the group can have reached, and the counter expires GenerationTTL after
// the last Bump; entries must live much shorter than that (MaxTTL), so that
// no entry stored under generation 0 before the first Bump, or under an
// expired counter, is still there when the group falls back to 0.
func (c *Cache) Generation(ctx context.Context, group string) (int64, error) {
	if c.down() {
		return 0, fmt.Errorf("cache: generation of %s%s: %w", c.prefix, group, ErrUnavailable)
	}
	var gen int64
	err := c.call(ctx, "generation", func(ctx context.Context) error {
		s, err := c.rdb.Get(ctx, c.generationKey(group)).Result()
		if errors.Is(err, redis.Nil) {
			gen = 0
			return nil
		}
		if err != nil {
			return err
		}
		gen, err = strconv.ParseInt(s, 10, 64)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cache: generation of %s%s: %w", c.prefix, group, err)
	}
	return gen, nil
}

// Bump moves group to a new generation, invalidating all its entries.
func (c *Cache) Bump(ctx context.Context, group string) error {
	err := c.invalidation(ctx, "bump", func(ctx context.Context) error {
		return bumpScript.Run(ctx, c.rdb, []string{c.generationKey(group)}, time.Now().UnixMicro(), GenerationTTL.Milliseconds()).Err()
	})
	if err != nil {
		return fmt.Errorf("cache: bump %s%s: %w", c.prefix, group, err)
	}
	return nil
}

// generationKey cannot collide with an entry's key, which starts with "{".
func (c *Cache) generationKey(group string) string { return c.prefix + "gen:" + group }

// call runs one Redis operation, giving up after c.timeout even when the
// client ignores context deadlines. A failure is counted, and may make
// reads skip Redis for a while (see failed); the caller's own context
// ending is not a Redis failure.
func (c *Cache) call(ctx context.Context, op string, fn func(context.Context) error) error {
	return c.callWithin(ctx, op, c.timeout, fn)
}

// invalidation runs a Delete or Bump. It may wait longer than a read: a
// read that gives up only costs a database query, but an invalidation that
// gives up leaves other instances serving stale entries until their TTL.
func (c *Cache) invalidation(ctx context.Context, op string, fn func(context.Context) error) error {
	return c.callWithin(ctx, op, max(c.timeout, invalidationTimeout), fn)
}

func (c *Cache) callWithin(ctx context.Context, op string, timeout time.Duration, fn func(context.Context) error) error {
	start := time.Now()
	opCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(opCtx) }()
	var err error
	select {
	case err = <-done:
	case <-opCtx.Done():
		err = fmt.Errorf("redis %s: %w", op, opCtx.Err())
	}
	now := time.Now()
	switch {
	case err == nil, errors.Is(err, redis.Nil):
		// An invalidation may take seconds to succeed: only a prompt
		// answer shows Redis well.
		if now.Sub(start) < c.timeout {
			c.lastOK.Store(now.UnixNano())
		}
		return nil
	case ctx.Err() != nil, passed(ctx, now):
		// The caller gave up, or its own deadline came first.
	default:
		// A call that ran to its deadline timed out, whatever it says: the
		// client reports it as its own i/o timeout, often before opCtx's
		// timer has fired.
		c.failed(ctx, op, err, passed(opCtx, now))
	}
	return err
}

// passed reports whether ctx has a deadline that now has reached.
func passed(ctx context.Context, now time.Time) bool {
	deadline, ok := ctx.Deadline()
	return ok && !now.Before(deadline)
}

// timeoutsAreOutage notes a timeout at now (Unix nanoseconds) and reports
// whether timeouts now amount to an outage: no call has succeeded promptly
// for outageAfter (Redis hangs), or timeouts have come with no gap of
// outageAfter for that long, prompt answers between them or not (Redis
// answers small values and times out on large ones). The updates race
// with other timeouts, which can only move the judgment by one call.
func (c *Cache) timeoutsAreOutage(now int64) bool {
	after := int64(c.outageAfter)
	if now-c.lastTimeout.Swap(now) > after {
		c.timeoutsSince.Store(now)
	}
	return now-c.lastOK.Load() >= after || now-c.timeoutsSince.Load() >= after
}

// down reports whether Redis was taken for down less than retryAfter ago.
func (c *Cache) down() bool { return time.Now().UnixNano() < c.downUntil.Load() }

// failed counts a failed call and takes Redis for down if it failed
// outright, or if it timed out and timeouts have become an outage.
func (c *Cache) failed(ctx context.Context, op string, err error, timedOut bool) {
	c.errs.Inc()
	now := time.Now()
	if timedOut && !c.timeoutsAreOutage(now.UnixNano()) {
		return // a slow answer on a busy machine
	}
	c.downUntil.Store(now.Add(c.retryAfter).UnixNano())
	last := c.lastWarn.Load()
	if now.UnixNano()-last < int64(warnEvery) || !c.lastWarn.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	c.log.WarnContext(ctx, "redis unavailable: serving without the cache", "cache", c.name, "op", op, "err", err,
		"next_warning_after", warnEvery)
}

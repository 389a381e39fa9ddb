package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// The near tier is a bounded copy of entries in the process, in front of
// Redis: a hit costs no round trip, and so no wait for Redis's share of a
// busy machine's cores. It keeps the cache's guarantees by listening:
//
//   - Every Delete publishes its key on the cache's channel in the same
//     script that bumps the key's counter, and every instance drops the key
//     from its near tier when the message comes. The deleting instance
//     drops it before Delete returns, so its own next read loads afresh.
//   - A read stores what it got in the near tier only if no invalidation
//     arrived between its start and its end (epoch), so a value read just
//     before a Delete, whose message came while the read was under way, is
//     not kept.
//   - The tier is used only while its subscription is known to be live: it
//     is flushed and skipped from the moment the connection fails or stops
//     answering pings (messages sent meanwhile are lost) until it is
//     subscribed again.
//
// What remains is the time the message takes to reach another instance:
// there, a read that follows a write on another instance within that time
// (well under a millisecond on one network) may still see the old value.
// An entry is also kept at most nearTTL, a bound should a message be lost
// without the connection failing.

const (
	// nearPingEvery is how often an idle subscription is pinged; it is
	// taken for lost when nothing, not even a pong, came for three times
	// as long.
	nearPingEvery = 500 * time.Millisecond
	// nearRetryEvery paces resubscribing after a failure.
	nearRetryEvery = time.Second
)

// Option configures a Cache.
type Option func(*Cache)

// WithNear keeps up to entries values in the process, each for at most
// ttl, in front of Redis. The tier is used only while RunNear runs.
func WithNear(entries int, ttl time.Duration) Option {
	return func(c *Cache) {
		l, err := lru.New[string, nearEntry](max(entries, 1))
		if err != nil {
			panic(err) // only for a size below 1
		}
		c.near = &near{entries: l, ttl: ttl, pingEvery: nearPingEvery}
	}
}

// near is the in-process tier. Its zero epoch and live flag mean "not
// subscribed": nothing is kept until RunNear's subscription is confirmed.
type near struct {
	entries   *lru.Cache[string, nearEntry]
	ttl       time.Duration
	pingEvery time.Duration // nearPingEvery; tests shorten it

	// mu orders puts against invalidations: a put checks the epoch it was
	// given and adds its entry as one step.
	mu    sync.Mutex
	epoch atomic.Uint64 // moves on every invalidation and subscription change
	live  atomic.Bool

	hits prometheus.Counter
}

type nearEntry struct {
	data  []byte
	until time.Time
}

// get returns key's value while the tier is live and the entry is fresh.
func (n *near) get(key string) ([]byte, bool) {
	if n == nil || !n.live.Load() {
		return nil, false
	}
	e, ok := n.entries.Get(key)
	if !ok || time.Now().After(e.until) {
		return nil, false
	}
	return e.data, true
}

// begin returns the epoch a read starts at, for put.
func (n *near) begin() uint64 {
	if n == nil {
		return 0
	}
	return n.epoch.Load()
}

// put keeps data under key for ttl at most, unless the tier is not live or
// anything was invalidated since epoch was read.
func (n *near) put(key string, data []byte, epoch uint64, ttl time.Duration) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.live.Load() || n.epoch.Load() != epoch {
		return
	}
	n.entries.Add(key, nearEntry{data: data, until: time.Now().Add(min(ttl, n.ttl))})
}

// drop removes keys and fails every put under way.
func (n *near) drop(keys ...string) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.epoch.Add(1)
	for _, k := range keys {
		n.entries.Remove(k)
	}
}

// setLive empties the tier and turns it on or off.
func (n *near) setLive(live bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.epoch.Add(1)
	n.entries.Purge()
	n.live.Store(live)
}

// channel is where Delete announces the keys it removed.
func (c *Cache) channel() string { return c.prefix + "invalidations" }

// RunNear keeps the near tier's subscription until ctx ends; without it
// (or without WithNear) every read goes to Redis. When the subscription
// fails or goes silent, the tier is off until a new one is confirmed.
func (c *Cache) RunNear(ctx context.Context) {
	n := c.near
	if n == nil {
		return
	}
	defer n.setLive(false)
	for ctx.Err() == nil {
		err := c.listen(ctx, n)
		if n.live.Load() && ctx.Err() == nil {
			c.log.WarnContext(ctx, "near cache off: invalidations unavailable", "cache", c.name, "err", err)
		}
		n.setLive(false)
		select {
		case <-ctx.Done():
		case <-time.After(nearRetryEvery):
		}
	}
}

// listen subscribes to the channel and applies its messages until the
// connection fails or nothing, not even a pong, came for three pings.
// Messages carry the keys' Redis names, which index the tier.
func (c *Cache) listen(ctx context.Context, n *near) error {
	ps := c.rdb.Subscribe(ctx, c.channel())
	defer ps.Close()
	heard := time.Now()
	for {
		msg, err := ps.ReceiveTimeout(ctx, n.pingEvery)
		if err != nil {
			if ctx.Err() != nil || !isTimeout(err) || time.Since(heard) >= 3*n.pingEvery {
				return err
			}
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			continue
		}
		heard = time.Now()
		switch m := msg.(type) {
		case *redis.Subscription:
			// Messages sent before this were lost to us: start empty.
			n.setLive(m.Kind == "subscribe")
		case *redis.Message:
			n.drop(m.Payload)
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

package cache

import "time"

// SetTimeout changes c's Redis timeout. Tests that count loads exactly use
// a generous one, so that a machine busy with other test packages does not
// turn a slow Redis reply into a (correct, but different) direct load.
func SetTimeout(c *Cache, d time.Duration) { c.timeout = d }

// SetOutageAfter changes how long timeouts must go on (with no prompt
// success, or with no gap as long) before c takes Redis for down.
func SetOutageAfter(c *Cache, d time.Duration) { c.outageAfter = d }

// SetRetryAfter changes how long c's reads skip Redis once it is down.
func SetRetryAfter(c *Cache, d time.Duration) { c.retryAfter = d }

// SetNearPing changes how often c's near tier pings its subscription.
func SetNearPing(c *Cache, d time.Duration) { c.near.pingEvery = d }

// NearLive reports whether c's near tier is in use.
func NearLive(c *Cache) bool { return c.near.live.Load() }

// NearEpoch is the count of invalidations c's near tier has heard of.
func NearEpoch(c *Cache) uint64 { return c.near.epoch.Load() }

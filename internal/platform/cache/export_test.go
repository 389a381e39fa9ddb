package cache

import "time"

// SetTimeout changes c's Redis timeout. Tests that count loads exactly use
// a generous one, so that a machine busy with other test packages does not
// turn a slow Redis reply into a (correct, but different) direct load.
func SetTimeout(c *Cache, d time.Duration) { c.timeout = d }

package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// WriteHeaders tells the client its budget in the separate RateLimit
// fields of draft-ietf-httpapi-ratelimit-headers-06. Later drafts fold them
// into one structured "RateLimit" field with named policies; that form is
// still changing, so it waits until it settles:
//
//	RateLimit-Limit: <burst>               the most a full budget allows at once
//	RateLimit-Remaining: <n>
//	RateLimit-Reset: <seconds>             until the budget is full again
//	RateLimit-Policy: <rate>;w=<period seconds>[;burst=<burst>]
//
// A refused request also gets Retry-After, at least 1 so that a client
// never retries at once, and RateLimit-Reset then names the same moment, as
// the draft asks. Seconds are rounded up, never promising budget before it
// exists. An unlimited result writes nothing.
func WriteHeaders(h http.Header, res Result) {
	l := res.Limit
	if l.unlimited() {
		return
	}
	l = l.withDefaults()
	reset := seconds(res.ResetAfter)
	if !res.Allowed {
		reset = max(seconds(res.RetryAfter), 1)
		h.Set("Retry-After", strconv.Itoa(reset))
	}
	policy := strconv.Itoa(l.Rate) + ";w=" + strconv.Itoa(seconds(l.Period))
	if l.Burst != l.Rate {
		policy += ";burst=" + strconv.Itoa(l.Burst)
	}
	h.Set("RateLimit-Limit", strconv.Itoa(l.Burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(res.Remaining, 0)))
	h.Set("RateLimit-Reset", strconv.Itoa(reset))
	h.Set("RateLimit-Policy", policy)
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

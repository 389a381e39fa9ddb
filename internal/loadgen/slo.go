package loadgen

import (
	"fmt"
	"slices"
	"time"
)

// Verdict is a step's result against the SLO.
type Verdict struct {
	Pass    bool
	Reasons []string // why it failed, or notes such as "no catalog reads"
}

// Evaluate checks a step: the read latency percentiles (when the step had
// catalog reads) and the error rate of all its requests. A step with no
// requests at all fails: nothing was shown to meet the SLO.
func (s SLO) Evaluate(reads, all *Counts) Verdict {
	return s.evaluate(reads, all.Requests, all.Errors)
}

// evaluate is Evaluate for a group of requests whose latencies are not
// kept, such as one second of a run: only its reads' are.
func (s SLO) evaluate(reads *Counts, requests, errors int) Verdict {
	if requests == 0 {
		return Verdict{Reasons: []string{"no requests"}}
	}
	v := Verdict{Pass: true}
	fail := func(format string, args ...any) {
		v.Pass = false
		v.Reasons = append(v.Reasons, fmt.Sprintf(format, args...))
	}
	if reads.Requests == 0 {
		v.Reasons = append(v.Reasons, "no catalog reads: latency not judged")
	} else {
		if p := reads.Quantile(50); s.P50 > 0 && p > s.P50 {
			fail("reads p50 %s > %s", fmtDur(p), fmtDur(s.P50))
		}
		if p := reads.Quantile(99); s.P99 > 0 && p > s.P99 {
			fail("reads p99 %s > %s", fmtDur(p), fmtDur(s.P99))
		}
	}
	if r := float64(errors) / float64(requests); r > s.Errors {
		fail("errors %.3f%% > %.3f%%", 100*r, 100*s.Errors)
	}
	return v
}

// metFrom returns the first second from which the rest of a run, taken as
// a whole, met the SLO (a slow second inside that rest may be outweighed
// by the others, as in a whole run), or -1 when no rest of it did.
func (s SLO) metFrom(seconds []*Second) int {
	// From the end backwards, rest holds the reads of seconds i to the end.
	rest, sent, failed, from := newCounts(), 0, 0, -1
	for i, sec := range slices.Backward(seconds) {
		rest.Hist.Merge(sec.Reads.Hist)
		rest.Requests += sec.Reads.Requests
		sent, failed = sent+sec.Sent, failed+sec.Sent-sec.OK
		if s.evaluate(rest, sent, failed).Pass {
			from = i
		}
	}
	return from
}

// fmtDur prints a latency in milliseconds, precise enough for a table.
func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	default:
		return fmt.Sprintf("%.2fms", ms)
	}
}

// quantile prints a latency percentile of c, or "-" when c is empty.
func quantile(c *Counts, q float64) string {
	if c.Requests == 0 {
		return "-"
	}
	return fmtDur(c.Quantile(q))
}

package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limit allows Rate events per Period, with up to Burst at once (GCRA: the
// budget refills steadily, one event every Period/Rate, rather than all at
// once at the end of a fixed window). The zero Limit means unlimited.
type Limit struct {
	Rate   int
	Burst  int           // <= 0 means Rate
	Period time.Duration // <= 0 means one second
}

// unlimited reports whether l lets everything through; Rate <= 0 counts, so
// that a negative rate set by mistake cannot divide by zero.
func (l Limit) unlimited() bool { return l.Rate <= 0 }

// withDefaults fills in Burst and Period, so that both backends and the
// headers see the same numbers.
func (l Limit) withDefaults() Limit {
	if l.Burst <= 0 {
		l.Burst = l.Rate
	}
	if l.Period <= 0 {
		l.Period = time.Second
	}
	return l
}

// refill is how long an untouched budget takes to fill up completely.
func (l Limit) refill() time.Duration {
	return time.Duration(l.Burst) * l.Period / time.Duration(l.Rate)
}

// String writes l in the form ParseLimit reads, for logging the effective
// configuration.
func (l Limit) String() string {
	if l.unlimited() {
		return "off"
	}
	l = l.withDefaults()
	period := l.Period.String()
	switch l.Period {
	case time.Second:
		period = "s"
	case time.Minute:
		period = "m"
	case time.Hour:
		period = "h"
	}
	s := strconv.Itoa(l.Rate) + "/" + period
	if l.Burst != l.Rate {
		s += " burst " + strconv.Itoa(l.Burst)
	}
	return s
}

// ParseLimit reads a limit as configuration spells it: "<rate>/<period>",
// optionally followed by "burst <n>", such as "100/1m", "10/s burst 20" or
// "5/15m". The period is s, m, h or a Go duration of whole seconds; the
// burst defaults to the rate. "off" or "" means unlimited.
func ParseLimit(s string) (Limit, error) {
	f := strings.Fields(strings.ToLower(s))
	if len(f) == 0 || len(f) == 1 && f[0] == "off" {
		return Limit{}, nil
	}
	rate, period, ok := strings.Cut(f[0], "/")
	if !ok || len(f) != 1 && (len(f) != 3 || f[1] != "burst") {
		return Limit{}, fmt.Errorf(`ratelimit: limit %q: want "<rate>/<period>" with an optional "burst <n>", e.g. "100/1m" or "10/s burst 20", or "off"`, s)
	}
	var l Limit
	var err error
	if l.Rate, err = count("rate", rate); err != nil {
		return Limit{}, fmt.Errorf("ratelimit: limit %q: %w", s, err)
	}
	if l.Period, err = parsePeriod(period); err != nil {
		return Limit{}, fmt.Errorf("ratelimit: limit %q: %w", s, err)
	}
	l.Burst = l.Rate
	if len(f) == 3 {
		if l.Burst, err = count("burst", f[2]); err != nil {
			return Limit{}, fmt.Errorf("ratelimit: limit %q: %w", s, err)
		}
	}
	return l, nil
}

// count reads a number of events, which must be at least one: a zero rate
// reads like "nothing allowed", so unlimited is spelt "off" instead.
func count(what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf(`%s %q: want a whole number above 0 (use "off" for no limit)`, what, s)
	}
	return n, nil
}

// parsePeriod reads "s", "m", "h" or a duration. Whole seconds only, since
// the RateLimit headers count in seconds.
func parsePeriod(s string) (time.Duration, error) {
	if s == "s" || s == "m" || s == "h" {
		s = "1" + s
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("period %q: want s, m, h or a duration such as 30s or 15m", s)
	}
	if d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("period %q: want a whole number of seconds, at least 1s", s)
	}
	return d, nil
}

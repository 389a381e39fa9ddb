package loadgen

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Latencies are recorded in microseconds, from 1µs to a minute, with 3
// significant digits.
const (
	histMin    = 1
	histMax    = int64(time.Minute / time.Microsecond)
	histDigits = 3
)

// Counts are the latencies and answers of one group of requests.
type Counts struct {
	Hist     *hdrhistogram.Histogram
	Requests int
	Errors   int         // no answer, or a status of 400 or more
	Statuses map[int]int // by status code; 0 is no answer (timeout, refused)
	// Problems counts the answers of 400 or more by status and problem
	// code, such as {400, "validation_failed"}: a status alone does not
	// say which rule refused a request (issue 14).
	Problems map[Problem]int
}

// Problem is an error answer's status and the code of its problem+json
// body ("" when the body is none).
type Problem struct {
	Status int
	Code   string
}

func (p Problem) String() string {
	if p.Code == "" {
		return fmt.Sprint(p.Status)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Code)
}

func newCounts() *Counts {
	return &Counts{Hist: hdrhistogram.New(histMin, histMax, histDigits), Statuses: map[int]int{}, Problems: map[Problem]int{}}
}

func (c *Counts) add(res *vegeta.Result) {
	c.Requests++
	c.Statuses[int(res.Code)]++
	if !ok(res) {
		c.Errors++
	}
	if res.Code >= 400 {
		c.Problems[problemOf(res)]++
	}
	_ = c.Hist.RecordValue(min(max(res.Latency.Microseconds(), histMin), histMax))
}

// Quantile is a latency percentile (q from 0 to 100).
func (c *Counts) Quantile(q float64) time.Duration {
	return time.Duration(c.Hist.ValueAtQuantile(q)) * time.Microsecond
}

// Max is the longest latency.
func (c *Counts) Max() time.Duration { return time.Duration(c.Hist.Max()) * time.Microsecond }

// ErrorRate is the share of requests that failed.
func (c *Counts) ErrorRate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

// OpKey names an operation of a scenario.
type OpKey struct{ Scenario, Op string }

// Second is one second of a run, for plots over time.
type Second struct {
	Reads *Counts // catalog reads sent in that second
	Sent  int     // requests sent in that second
	OK    int     // successful answers among them
}

// Stats are the results of one step (or of a constant run).
type Stats struct {
	Rate      int // requested, requests/s
	Duration  time.Duration
	All       *Counts
	Reads     *Counts // browse and search, which the SLO's latency is about
	Scenarios map[string]*Counts
	Ops       map[OpKey]*Counts
	Seconds   []*Second

	start       time.Time // when the step began: second 0 of Seconds
	first, last time.Time // when the first and last requests were sent
	end         time.Time // when the last answer came
}

func newStats(rate int, du time.Duration, start time.Time) *Stats {
	return &Stats{Rate: rate, Duration: du, start: start, All: newCounts(), Reads: newCounts(),
		Scenarios: map[string]*Counts{}, Ops: map[OpKey]*Counts{}}
}

func (s *Stats) add(t tag, res *vegeta.Result) {
	s.All.add(res)
	if IsRead(t.Scenario) {
		s.Reads.add(res)
	}
	counts(s.Scenarios, t.Scenario).add(res)
	counts(s.Ops, OpKey{t.Scenario, t.Op}).add(res)
	if s.first.IsZero() || res.Timestamp.Before(s.first) {
		s.first = res.Timestamp
	}
	s.last = later(s.last, res.Timestamp)
	s.end = later(s.end, res.Timestamp.Add(res.Latency))
	s.second(res, t)
}

func (s *Stats) second(res *vegeta.Result, t tag) {
	// Results come in the order of their answers, not of their requests,
	// so the seconds count from the step's start rather than the first
	// result seen.
	i := max(0, int(res.Timestamp.Sub(s.start)/time.Second))
	if n := int((s.Duration + time.Second - 1) / time.Second); n > 0 {
		// A request the pacer sent a little late belongs to the run's last
		// second, not to a second of its own with a handful of requests.
		i = min(i, n-1)
	}
	for i >= len(s.Seconds) {
		s.Seconds = append(s.Seconds, &Second{Reads: newCounts()})
	}
	sec := s.Seconds[i]
	sec.Sent++
	if ok(res) {
		sec.OK++
	}
	if IsRead(t.Scenario) {
		sec.Reads.add(res)
	}
}

func counts[K comparable](m map[K]*Counts, k K) *Counts {
	c, found := m[k]
	if !found {
		c = newCounts()
		m[k] = c
	}
	return c
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// SentRate is the rate the requests went out at: the pacer's achievement.
func (s *Stats) SentRate() float64 {
	span := s.last.Sub(s.first).Seconds()
	if s.All.Requests < 2 || span <= 0 {
		return float64(s.All.Requests) / s.Duration.Seconds()
	}
	return float64(s.All.Requests-1) / span
}

// Throughput is successful answers per second, from the first request to
// the last answer.
func (s *Stats) Throughput() float64 {
	span := s.end.Sub(s.first).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(s.All.Requests-s.All.Errors) / span
}

// ScenarioNames lists the scenarios seen, in the order of Scenarios.
func (s *Stats) ScenarioNames() []string {
	var out []string
	for _, name := range Scenarios {
		if _, found := s.Scenarios[name]; found {
			out = append(out, name)
		}
	}
	return out
}

// OpNames lists the operations seen of a scenario, sorted.
func (s *Stats) OpNames(scenario string) []string {
	var out []string
	for k := range s.Ops {
		if k.Scenario == scenario {
			out = append(out, k.Op)
		}
	}
	slices.Sort(out)
	return out
}

// problemOf reads the status and problem code of an error answer.
func problemOf(res *vegeta.Result) Problem {
	var body struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(res.Body, &body) // a body that is not a problem leaves the code empty
	return Problem{Status: int(res.Code), Code: body.Code}
}

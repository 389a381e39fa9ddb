package loadgen

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// countsOf records latencies (ms) with one status for all of them.
func countsOf(t *testing.T, code uint16, latencies ...int) *Counts {
	t.Helper()
	c := newCounts()
	for _, ms := range latencies {
		c.add(&vegeta.Result{Code: code, Latency: time.Duration(ms) * time.Millisecond})
	}
	return c
}

func TestSLOEvaluate(t *testing.T) {
	slo := SLO{P50: 5 * time.Millisecond, P99: 50 * time.Millisecond, Errors: 0.01}
	fast := countsOf(t, 200, 1, 2, 3, 4)
	tests := []struct {
		name       string
		reads, all *Counts
		pass       bool
		reason     string
	}{
		{"fast reads without errors pass", fast, fast, true, ""},
		{"a slow median fails", countsOf(t, 200, 8, 9, 10), countsOf(t, 200, 8, 9, 10), false, "reads p50"},
		{"a slow tail fails", countsOf(t, 200, 1, 1, 1, 90), countsOf(t, 200, 1, 1, 1, 90), false, "reads p99"},
		{"errors over the budget fail", fast, merged(t, fast, countsOf(t, 503, 1)), false, "errors 20.000%"},
		{"without reads only errors are judged", newCounts(), countsOf(t, 201, 500), true, "no catalog reads"},
		{"no requests at all fail", newCounts(), newCounts(), false, "no requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := slo.Evaluate(tt.reads, tt.all)
			if v.Pass != tt.pass {
				t.Errorf("pass = %v, want %v (%v)", v.Pass, tt.pass, v.Reasons)
			}
			if tt.reason != "" && !strings.Contains(strings.Join(v.Reasons, "; "), tt.reason) {
				t.Errorf("reasons %v lack %q", v.Reasons, tt.reason)
			}
		})
	}
}

func merged(t *testing.T, cs ...*Counts) *Counts {
	t.Helper()
	out := newCounts()
	for _, c := range cs {
		out.Requests += c.Requests
		out.Errors += c.Errors
		for k, v := range c.Statuses {
			out.Statuses[k] += v
		}
		out.Hist.Merge(c.Hist)
	}
	return out
}

// stepOf is a step at rate whose every request of the scenario took the
// latency (ms) given, with status code.
func stepOf(t *testing.T, rate int, scenario string, code uint16, latencies ...int) *Stats {
	t.Helper()
	start := time.Now()
	st := newStats(rate, time.Second, start)
	for i, ms := range latencies {
		op := map[string]string{Browse: "product", Checkout: opPay}[scenario]
		st.add(tag{Scenario: scenario, Op: op}, &vegeta.Result{Code: code, Latency: time.Duration(ms) * time.Millisecond,
			Timestamp: start.Add(time.Duration(i) * time.Second / time.Duration(len(latencies)))})
	}
	return st
}

func TestRenderShowsEachRampStepAndTheHighestPassingRate(t *testing.T) {
	cfg := Config{Target: "http://gw", Mix: []Weight{{Browse, 3}, {Checkout, 1}}, Ramp: &Ramp{10, 30, 10}, Step: time.Second,
		SLO: SLO{P50: 5 * time.Millisecond, P99: 50 * time.Millisecond, Errors: 0.001}, Users: 2, Products: 3}
	steps := []*Stats{stepOf(t, 10, Browse, 200, 1, 2, 2, 3), stepOf(t, 20, Browse, 200, 2, 3, 4, 4), stepOf(t, 30, Browse, 200, 20, 30, 60, 90)}
	steps[1].add(tag{Scenario: Checkout, Op: opPay}, &vegeta.Result{Code: 200, Latency: 8 * time.Millisecond, Timestamp: time.Now()})
	r := &Result{Config: cfg, RunID: "r1", Steps: steps, Highest: 20}
	for _, st := range steps {
		r.Verdicts = append(r.Verdicts, cfg.SLO.Evaluate(st.Reads, st.All))
	}
	var b strings.Builder
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"- mix: browse 75%, checkout 25%",
		"| 10 | ", "| 20 | ", "| 30 | ",
		"FAIL (reads p50 30.0ms > 5.00ms; reads p99 90.0ms > 50.0ms)",
		"**Highest rate that met the SLO: 20 req/s.**",
		"## At 20 req/s for 1s: pass",
		"| **checkout** | 1 | 0 |",
		"| &nbsp;&nbsp;pay | 1 | 0 | 8.00ms |",
		"| 200: 1 |",
		"## At 30 req/s for 1s: FAIL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "## At 10 req/s") {
		t.Errorf("a ramp's report details only the highest passing and the last step:\n%s", out)
	}
}

func TestRenderCountsStatusesAndAnswersThatNeverCame(t *testing.T) {
	st := stepOf(t, 5, Browse, 200, 1, 1)
	st.add(tag{Scenario: Browse, Op: "product"}, &vegeta.Result{Code: 0, Error: "timeout", Latency: 30 * time.Second, Timestamp: time.Now()})
	st.add(tag{Scenario: Browse, Op: "product"}, &vegeta.Result{Code: 404, Latency: time.Millisecond, Timestamp: time.Now()})
	cfg := Config{Target: "http://gw", Mix: []Weight{{Browse, 1}}, Rate: 5, Duration: time.Second, Users: 1, Products: 1}
	r := &Result{Config: cfg, Steps: []*Stats{st}, Verdicts: []Verdict{cfg.SLO.Evaluate(st.Reads, st.All)}}
	var b strings.Builder
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	if want := "| none: 1, 200: 2, 404: 1 |"; !strings.Contains(b.String(), want) {
		t.Errorf("the report lacks %q:\n%s", want, b.String())
	}
	if want := "| all | 4 | 2 |"; !strings.Contains(b.String(), want) {
		t.Errorf("the report lacks %q:\n%s", want, b.String())
	}
}

func TestPacerNoteOnlyWhenTheRateWasNotKept(t *testing.T) {
	cfg := Config{MaxWorkers: 4}
	kept := stepOf(t, 4, Browse, 200, 1, 1, 1, 1)
	if note := pacerNote(kept, cfg); note != "" {
		t.Errorf("a kept rate got the note %q", note)
	}
	slow := stepOf(t, 40, Browse, 200, 1, 1, 1, 1)
	if note := pacerNote(slow, cfg); !strings.Contains(note, "--max-workers") || !strings.Contains(note, "not fully open loop") {
		t.Errorf("a rate not kept got the note %q", note)
	}
}

func TestLimitsNoteOnlyWhenTheGatewayRefusedSomeLoad(t *testing.T) {
	if note := limitsNote([]*Stats{stepOf(t, 2, Browse, 200, 1, 1)}); note != "" {
		t.Errorf("a run without 429s got the note %q", note)
	}
	limited := []*Stats{stepOf(t, 2, Browse, 200, 1), stepOf(t, 2, Browse, 429, 1, 1)}
	if note := limitsNote(limited); !strings.HasPrefix(note, "2 answers were 429") || !strings.Contains(note, "GATEWAY_RATE_LIMITS=off") {
		t.Errorf("a run with 429s got the note %q", note)
	}
}

func TestErrorAnswersAreCountedByStatusAndProblemCodePerOperation(t *testing.T) {
	st := newStats(5, time.Second, time.Now())
	answers := []struct {
		op   string
		code uint16
		body string
	}{
		{"search-filtered", 400, `{"status":400,"code":"validation_failed"}`},
		{"search-filtered", 400, `{"status":400,"code":"validation_failed"}`},
		{"search-filtered", 503, `{"status":503,"code":"categories_unavailable"}`},
		{"search-filtered", 200, `{"items":[]}`},
		{"search", 502, `<html>bad gateway</html>`},
	}
	for _, a := range answers {
		st.add(tag{Scenario: Search, Op: a.op}, &vegeta.Result{Code: a.code, Body: []byte(a.body), Timestamp: time.Now()})
	}
	want := map[OpKey]map[Problem]int{
		{Search, "search-filtered"}: {{400, "validation_failed"}: 2, {503, "categories_unavailable"}: 1},
		{Search, "search"}:          {{502, ""}: 1},
	}
	for op, problems := range want {
		if got := st.Ops[op].Problems; !maps.Equal(got, problems) {
			t.Errorf("%v: problems %v, want %v", op, got, problems)
		}
	}
	if got := (Problem{400, "validation_failed"}).String(); got != "400 validation_failed" {
		t.Errorf("a problem reads %q", got)
	}
}

func TestAConstantRunsReportSaysFromWhichSecondOnTheRestOfItMetTheSLO(t *testing.T) {
	tests := []struct {
		name      string
		latencies []int    // ms, one read a second
		codes     []uint16 // of each read
		want      string
	}{
		{"a run that recovers after two slow seconds", []int{80, 60, 2, 3}, []uint16{200, 200, 200, 200},
			"**From second 2 to its end, the run met the SLO.**"},
		{"a run that passes throughout", []int{1, 2, 3}, []uint16{200, 200, 200},
			"**From second 0 to its end, the run met the SLO.**"},
		{"a run whose last second fails with an error", []int{1, 2, 3}, []uint16{200, 200, 503},
			"**No stretch of the run up to its end met the SLO.** Its last second on its own did not meet it."},
		{"a run of a hundred seconds with one slow read in its middle", slices.Concat(slices.Repeat([]int{1}, 50), []int{90}, slices.Repeat([]int{1}, 49)),
			slices.Repeat([]uint16{200}, 100), "**From second 0 to its end, the run met the SLO.** Every second on its own met it from second 51."},
		{"a run that passes, fails, and passes again from after its failure", []int{1, 90, 2, 3}, []uint16{200, 200, 200, 200},
			"**From second 2 to its end, the run met the SLO.**"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			st := newStats(1, time.Duration(len(tc.latencies))*time.Second, start)
			for i, ms := range tc.latencies {
				st.add(tag{Scenario: Browse, Op: "product"}, &vegeta.Result{Code: tc.codes[i],
					Latency: time.Duration(ms) * time.Millisecond, Timestamp: start.Add(time.Duration(i) * time.Second)})
			}
			cfg := Config{Target: "http://gw", Mix: []Weight{{Browse, 1}}, Rate: 1, Duration: st.Duration, Users: 1, Products: 1,
				SLO: SLO{P50: 5 * time.Millisecond, P99: 50 * time.Millisecond, Errors: 0.001}}
			r := &Result{Config: cfg, Steps: []*Stats{st}, Verdicts: []Verdict{cfg.SLO.Evaluate(st.Reads, st.All)}}
			var b strings.Builder
			if err := Render(&b, r); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("the report lacks %q:\n%s", tc.want, b.String())
			}
		})
	}
}

func TestARequestSentJustAfterARunsLastSecondCountsInIt(t *testing.T) {
	start := time.Now()
	st := newStats(1, 2*time.Second, start)
	for _, at := range []time.Duration{0, time.Second, 2*time.Second + 10*time.Millisecond} {
		st.add(tag{Scenario: Browse, Op: "product"}, &vegeta.Result{Code: 200, Latency: time.Millisecond, Timestamp: start.Add(at)})
	}
	if len(st.Seconds) != 2 || st.Seconds[1].Sent != 2 {
		t.Errorf("a 2 s run has %d seconds, the last with %d requests; want 2 seconds, the last with 2", len(st.Seconds), st.Seconds[len(st.Seconds)-1].Sent)
	}
	half := newStats(1, 1500*time.Millisecond, start)
	half.add(tag{Scenario: Browse, Op: "product"}, &vegeta.Result{Code: 200, Latency: time.Millisecond, Timestamp: start.Add(1200 * time.Millisecond)})
	if len(half.Seconds) != 2 {
		t.Errorf("a 1.5 s run's request at 1.2 s is in second %d, want 1", len(half.Seconds)-1)
	}
}

package loadgen

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// tinyRamp is a load run of 10 then 20 req/s for 1s each, with an SLO any
// machine meets against a bare handler, even a busy one under -race.
func tinyRamp(t *testing.T) Config {
	t.Helper()
	return Config{Target: "http://gw", Mix: []Weight{{Browse, 1}}, Ramp: &Ramp{Start: 10, Max: 20, Step: 10}, Step: time.Second,
		SLO: SLO{P50: time.Second, P99: 5 * time.Second}, Users: 1, Products: 1, Workers: 2, MaxWorkers: math.MaxUint64, Timeout: 5 * time.Second}
}

// platformOf is a platform's ramp result whose steps are the rates given,
// each with fast reads; highest is the rate it met the SLO at.
func platformOf(t *testing.T, cfg Config, highest int, rates ...int) *Result {
	t.Helper()
	r := &Result{Config: cfg, RunID: "r1", Highest: highest}
	for _, rate := range rates {
		st := stepOf(t, rate, Browse, 200, 1, 2)
		r.Steps, r.Verdicts = append(r.Steps, st), append(r.Verdicts, cfg.SLO.Evaluate(st.Reads, st.All))
	}
	return r
}

func TestTheBaselineRunsTheSameRampAgainstABareHandlerAndTheReportComparesThem(t *testing.T) {
	cfg := tinyRamp(t)
	base, err := runBaseline(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Steps) != 2 || base.Steps[0].Rate != 10 || base.Steps[1].Rate != 20 {
		t.Fatalf("the baseline ran %d steps, want 10 and 20 req/s", len(base.Steps))
	}
	for i, v := range base.Verdicts {
		st := base.Steps[i]
		if !v.Pass || st.Reads.Requests != st.All.Requests || st.All.Statuses[200] != st.All.Requests {
			t.Errorf("step %d req/s: %v, %d of %d requests reads, statuses %v", st.Rate, v, st.Reads.Requests, st.All.Requests, st.All.Statuses)
		}
	}
	if base.Highest != 20 {
		t.Errorf("the baseline's highest passing rate is %d, want 20", base.Highest)
	}
	r := platformOf(t, cfg, 10, 10, 20)
	r.Baseline = base
	var b strings.Builder
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Baseline: bare net/http JSON handler",
		"| 20 | ",
		"highest passing rate: platform 10 req/s = 0.50 × the bare handler's ≥ 20 req/s.",
		"it passed every step up to 20 req/s",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestTheComparisonSaysWhenTheRampCappedTheBaseline(t *testing.T) {
	cfg := tinyRamp(t)
	cfg.Ramp.Max = 30
	tests := []struct {
		name         string
		baseHighest  int
		want, lacked string
	}{
		{"a baseline that failed a step is exact", 20, "platform 10 req/s = 0.50 × the bare handler's 20 req/s. The ramp's max (30 req/s) caps", "≥"},
		{"a baseline that passed every step is a floor", 30, "platform 10 req/s = 0.33 × the bare handler's ≥ 30 req/s", ""},
		{"a baseline that passed no step has no ratio", 0, "the bare handler met the SLO at no rate", "×"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := platformOf(t, cfg, 10, 10, 20)
			r.Baseline = &Result{Config: cfg, Highest: tt.baseHighest}
			got := comparison(r)
			if !strings.Contains(got, tt.want) || (tt.lacked != "" && strings.Contains(got, tt.lacked)) {
				t.Errorf("comparison = %q, want %q without %q", got, tt.want, tt.lacked)
			}
		})
	}
}

func TestTheBareHandlerAnswersAProductSizedJSONBody(t *testing.T) {
	rec := httptest.NewRecorder()
	bareHandler(rec, httptest.NewRequest(http.MethodGet, "/products/bare", nil))
	if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusOK || ct != "application/json" {
		t.Errorf("status %d, Content-Type %q; want 200, application/json", rec.Code, ct)
	}
	if n := rec.Body.Len(); n < 400 || n > 600 || !json.Valid(rec.Body.Bytes()) {
		t.Errorf("the body is %d bytes (valid JSON: %v), want about 500 of JSON", n, json.Valid(rec.Body.Bytes()))
	}
}

func TestAConstantBaselineRunsOnceAtTheRateAndTheReportGivesBothLatencies(t *testing.T) {
	cfg := tinyRamp(t)
	cfg.Ramp, cfg.Rate, cfg.Duration = nil, 10, time.Second
	base, err := runBaseline(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Steps) != 1 || base.Steps[0].Rate != 10 || !base.Verdicts[0].Pass {
		t.Fatalf("the baseline ran %d steps (%v), want one passing at 10 req/s", len(base.Steps), base.Verdicts)
	}
	r := platformOf(t, cfg, 0, 10)
	r.Baseline = base
	if got, want := comparison(r), "reads p50 and p99 at 10 req/s: platform 1.00ms and 2.00ms, the bare handler "; !strings.HasPrefix(got, want) {
		t.Errorf("comparison = %q, want it to start %q", got, want)
	}
}

package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/schollz/progressbar/v3"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Result is a whole run: one step for a constant rate, one per rate tried
// for a ramp (up to the first that failed the SLO).
type Result struct {
	Config   Config
	RunID    string
	Prepared time.Duration // how long preparation took
	Catalog  int           // products found in the catalog
	Steps    []*Stats
	Verdicts []Verdict
	Highest  int      // the highest rate that met the SLO; 0 if none did
	Notes    []string // what the reader should know, such as a rate the pacer could not keep
	Baseline *Result  // the same load against a bare net/http handler, with --baseline; else nil
}

// Options are where a run shows how it goes.
type Options struct {
	Progress io.Writer // a progress bar, or nil for none
	Log      io.Writer // a few lines about preparation and steps, or nil
}

// Run prepares the fixture, then (with cfg.Baseline) measures the bare
// handler, then waits for cfg.StartAt if set, then sends the load, and
// returns the results. Interrupting ctx ends the load early with the
// results so far; during the baseline, it ends the run with an error.
//
// The baseline comes after preparation, so that a target that does not
// answer fails the run at once, and before the load, while the platform
// is idle: on a shared machine the platform then neither takes CPU from
// the baseline nor is still busy with the load's backlog (checkouts, cache
// fills) when the baseline starts.
func Run(ctx context.Context, cfg Config, opt Options) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logf := logger(opt.Log)
	client := &apiClient{base: cfg.Target, http: &http.Client{Timeout: 30 * time.Second}, maxWaits: 30, pause: time.Second}
	began := time.Now()
	f, err := prepare(ctx, client, cfg)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	res := &Result{Config: cfg, RunID: f.RunID, Prepared: time.Since(began), Catalog: len(f.Catalog)}
	logf("prepared run %s in %s: %d buyers, %s, %d products in the catalog",
		f.RunID, res.Prepared.Round(time.Millisecond), len(f.Buyers), sellerString(len(f.Own)), len(f.Catalog))
	gen, err := newGenerator(cfg.Target, f, cfg.Mix, uint64(time.Now().UnixNano()))
	if err != nil {
		return nil, err
	}
	fresh, stopFresh := context.WithCancel(ctx)
	defer stopFresh()
	go f.keepFresh(fresh, client)
	if cfg.Baseline {
		if res.Baseline, err = runBaseline(ctx, cfg, opt); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	if late := waitUntil(ctx, cfg.StartAt); late > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("the load began %s after --start-at: preparation took longer than the time left", late.Round(time.Millisecond)))
	}
	r := &runner{cfg: cfg, target: gen.targeter(), observe: gen.observe, bar: newBar(opt.Progress, cfg)}
	defer r.bar.Close()
	r.steps(ctx, res, logf)
	if note := limitsNote(res.Steps); note != "" {
		res.Notes = append(res.Notes, note)
	}
	return res, nil
}

// waitUntil waits for start, or until ctx ends, and returns how long
// after start it is when start has passed already; a zero start is no
// wait.
func waitUntil(ctx context.Context, start time.Time) (late time.Duration) {
	if start.IsZero() {
		return 0
	}
	d := time.Until(start)
	if d <= 0 {
		return -d
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return 0
}

// logger prints a line to w, or nowhere when w is nil.
func logger(w io.Writer) func(string, ...any) {
	return func(format string, args ...any) {
		if w != nil {
			fmt.Fprintf(w, format+"\n", args...)
		}
	}
}

// limitsNote points at the gateway's rate limits when they refused some
// of the load: then the run measured the limits, not the capacity.
func limitsNote(steps []*Stats) string {
	n := 0
	for _, st := range steps {
		n += st.All.Statuses[http.StatusTooManyRequests]
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d answers were 429: the gateway's rate limits are on; for a capacity run, "+
		"run the platform with GATEWAY_RATE_LIMITS=off (or generous GATEWAY_RATE_* limits)", n)
}

// runner sends the load of each step to any targeter and collects its
// results; observe sees every result (a journey goes on from its answers).
type runner struct {
	cfg     Config
	target  vegeta.Targeter
	observe func(tag, *vegeta.Result)
	bar     *progressbar.ProgressBar
}

// steps runs a constant rate, or the ramp until a step fails the SLO.
func (r *runner) steps(ctx context.Context, res *Result, logf func(string, ...any)) {
	rates, du := []int{r.cfg.Rate}, r.cfg.Duration
	if r.cfg.Ramp != nil {
		rates, du = r.cfg.Ramp.Rates(), r.cfg.Step
	}
	for _, rate := range rates {
		st := r.step(ctx, rate, du)
		v := r.cfg.SLO.Evaluate(st.Reads, st.All)
		res.Steps, res.Verdicts = append(res.Steps, st), append(res.Verdicts, v)
		if note := pacerNote(st, r.cfg); note != "" {
			res.Notes = append(res.Notes, note)
		}
		logf("%d req/s: sent %.1f/s, reads p50 %s p99 %s, errors %.3f%%: %s", rate, st.SentRate(),
			quantile(st.Reads, 50), quantile(st.Reads, 99), 100*st.All.ErrorRate(), verdictWord(v))
		if ctx.Err() != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("interrupted during the %d req/s step", rate))
			return
		}
		if !v.Pass && r.cfg.Ramp != nil {
			return
		}
		if v.Pass {
			res.Highest = rate
		}
	}
}

// step sends rate requests/s for du, open loop: vegeta's pacer starts
// each request on time whether or not earlier ones were answered.
func (r *runner) step(ctx context.Context, rate int, du time.Duration) *Stats {
	atk := vegeta.NewAttacker(vegeta.Workers(r.cfg.Workers), vegeta.MaxWorkers(r.cfg.MaxWorkers),
		vegeta.Timeout(r.cfg.Timeout), vegeta.KeepAlive(true), vegeta.Redirects(vegeta.NoFollow))
	defer context.AfterFunc(ctx, func() { atk.Stop() })()
	r.bar.Describe(fmt.Sprintf("%d req/s", rate))
	st := newStats(rate, du, time.Now())
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	for res := range atk.Attack(r.target, pacer, du, "loadgen") {
		t, _ := parseTag(res.URL)
		r.observe(t, res)
		st.add(t, res)
		_ = r.bar.Add(1)
	}
	return st
}

// pacerNote says when the requests went out slower than asked: then the
// run was not open loop at that rate.
func pacerNote(st *Stats, cfg Config) string {
	if st.SentRate() >= 0.95*float64(st.Rate) {
		return ""
	}
	why := "this machine could not keep up"
	if cfg.MaxWorkers != math.MaxUint64 {
		why = fmt.Sprintf("all %d of --max-workers were waiting for answers, or this machine could not keep up", cfg.MaxWorkers)
	}
	return fmt.Sprintf("at %d req/s the pacer sent only %.1f req/s (%d requests in %s): %s, so that step was not fully open loop "+
		"and its latencies flatter the target", st.Rate, st.SentRate(), st.All.Requests, st.Duration, why)
}

func verdictWord(v Verdict) string {
	if v.Pass {
		return "pass"
	}
	return "FAIL"
}

// newBar is a progress bar over the requests the whole run would send,
// or one that draws nothing when w is nil.
func newBar(w io.Writer, cfg Config) *progressbar.ProgressBar {
	total := int64(cfg.Rate) * int64(cfg.Duration/time.Second)
	if cfg.Ramp != nil {
		total = 0
		for _, rate := range cfg.Ramp.Rates() {
			total += int64(rate) * int64(cfg.Step/time.Second)
		}
	}
	visible := w != nil
	if w == nil {
		w = io.Discard
	}
	return progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionSetVisibility(visible),
		progressbar.OptionSetDescription("requests"), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
}

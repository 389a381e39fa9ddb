package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// bareBody is what the bare handler answers: about the size and shape of
// a product's details.
const bareBody = `{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","seller_id":"9b2f4c1e-3a5d-4e8f-b6a7-1c2d3e4f5a6b",` +
	`"category_id":"2f1e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b","title":"Noise-cancelling wireless headphones",` +
	`"description":"Over-ear Bluetooth headphones with active noise cancelling, 30 hours of battery life, ` +
	`a fold-flat design and a hard travel case. Includes a USB-C cable and a 3.5 mm audio cable.",` +
	`"price_cents":19999,"currency":"EUR","stock":42,"status":"active",` +
	`"created_at":"2026-11-02T09:30:00Z","updated_at":"2026-11-20T16:05:12Z"}`

// bareOp is the operation of the baseline's requests: catalog reads (a
// browse), so the SLO judges their latency as it judges the platform's.
var bareOp = tag{Scenario: Browse, Op: "bare"}

// runBaseline sends the load shape of cfg (its rates, step or duration,
// SLO and attacker settings) to a bare net/http JSON handler served in
// this process on 127.0.0.1, all GETs of one URL. It measures the client
// and the machine alone: what the platform's numbers are to be read beside.
func runBaseline(ctx context.Context, cfg Config, opt Options) (*Result, error) {
	base, stop, err := serveBare()
	if err != nil {
		return nil, err
	}
	defer stop()
	cfg.Target, cfg.Mix = base, []Weight{{Browse, 1}}
	url := base + "/products/bare#" + bareOp.fragment()
	r := &runner{cfg: cfg, observe: func(tag, *vegeta.Result) {}, bar: newBar(opt.Progress, cfg),
		target: vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})}
	defer r.bar.Close()
	logf := logger(opt.Log)
	logf("baseline: the same load against a bare net/http handler at %s", base)
	res := &Result{Config: cfg}
	r.steps(ctx, res, logf)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	return res, nil
}

// serveBare starts the bare handler on a free port of 127.0.0.1 and
// returns its base URL and a function that stops it.
func serveBare() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(bareHandler), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	stop := func() {
		_ = srv.Close()
		<-done // Serve has returned http.ErrServerClosed
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// bareHandler answers every request with bareBody, as JSON.
func bareHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(bareBody)))
	_, _ = w.Write([]byte(bareBody))
}

// renderBaseline writes the baseline's steps and how the platform compares.
func renderBaseline(b *strings.Builder, r *Result) {
	b.WriteString("## Baseline: bare net/http JSON handler\n\n")
	fmt.Fprintf(b, "The same load, client and machine against a net/http handler in the loadgen's process that "+
		"answers every GET with %d bytes of JSON: about the most this client can show of any server here.\n\n", len(bareBody))
	stepTable(b, r.Baseline)
	b.WriteString("\n" + comparison(r) + "\n\n")
	for _, n := range r.Baseline.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	if len(r.Baseline.Notes) > 0 {
		b.WriteString("\n")
	}
}

// comparison sets the platform beside the baseline: the highest passing
// rates of a ramp, or the read latencies of a constant rate.
func comparison(r *Result) string {
	base := r.Baseline
	if r.Config.Ramp == nil {
		return fmt.Sprintf("reads p50 and p99 at %d req/s: platform %s and %s, the bare handler %s and %s.", r.Config.Rate,
			quantiles(r.Steps, 50), quantiles(r.Steps, 99), quantiles(base.Steps, 50), quantiles(base.Steps, 99))
	}
	rates := r.Config.Ramp.Rates()
	top := rates[len(rates)-1]
	capped := fmt.Sprintf("The ramp's max (%d req/s) caps the baseline too.", top)
	switch base.Highest {
	case 0:
		return fmt.Sprintf("highest passing rate: platform %d req/s; the bare handler met the SLO at no rate, "+
			"so the SLO is beyond this client and machine.", r.Highest)
	case top:
		capped = fmt.Sprintf("The ramp's max caps the baseline too: it passed every step up to %d req/s, "+
			"so its true highest rate may be higher and the ratio lower.", top)
	}
	return fmt.Sprintf("highest passing rate: platform %d req/s = %.2f × the bare handler's %s req/s. %s",
		r.Highest, float64(r.Highest)/float64(base.Highest), atLeast(base.Highest, base.Highest == top), capped)
}

// atLeast prints a rate, as "≥ rate" when the ramp ended before it failed.
func atLeast(rate int, capped bool) string {
	if capped {
		return fmt.Sprintf("≥ %d", rate)
	}
	return fmt.Sprint(rate)
}

// quantiles is a read latency percentile of a run's only step, or "-".
func quantiles(steps []*Stats, q float64) string {
	if len(steps) == 0 {
		return "-"
	}
	return quantile(steps[0].Reads, q)
}

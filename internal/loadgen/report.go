package loadgen

import (
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Save writes report.md and plot.png into dir, creating it if needed.
func Save(dir string, r *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var md strings.Builder
	if err := Render(&md, r); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return writePlot(filepath.Join(dir, "plot.png"), r)
}

// Render writes the markdown report: the run, the steps of a ramp, and
// per scenario and operation the latencies and statuses.
func Render(w io.Writer, r *Result) error {
	var b strings.Builder
	renderHeader(&b, r)
	if r.Config.Ramp != nil {
		renderRamp(&b, r)
	}
	for i, st := range r.Steps {
		if r.Config.Ramp == nil || st.Rate == r.Highest || i == len(r.Steps)-1 {
			renderScenarios(&b, st, r.Verdicts[i])
		}
	}
	if r.Config.Ramp == nil && len(r.Steps) == 1 {
		renderSeconds(&b, r.Steps[0], r.Config.SLO)
	}
	if r.Baseline != nil {
		renderBaseline(&b, r)
	}
	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func renderHeader(b *strings.Builder, r *Result) {
	c := r.Config
	b.WriteString("# marketplace loadgen report\n\n")
	fmt.Fprintf(b, "- target: %s (run %s)\n", c.Target, r.RunID)
	fmt.Fprintf(b, "- mix: %s\n", mixString(c.Mix))
	if c.Ramp != nil {
		fmt.Fprintf(b, "- load: open loop, step ramp %d to %d req/s by %d, %s per step\n", c.Ramp.Start, c.Ramp.Max, c.Ramp.Step, c.Step)
	} else {
		fmt.Fprintf(b, "- load: open loop, constant %d req/s for %s\n", c.Rate, c.Duration)
	}
	fmt.Fprintf(b, "- SLO: catalog reads (browse, search) p50 <= %s and p99 <= %s; errors <= %.3f%% of all requests\n",
		fmtDur(c.SLO.P50), fmtDur(c.SLO.P99), 100*c.SLO.Errors)
	fmt.Fprintf(b, "- prepared in %s: %d buyers, %s; %d products in the catalog\n\n",
		r.Prepared.Round(1e6), c.Users, sellerString(c.OwnProducts()), r.Catalog)
}

// sellerString says what the loadgen's seller listed.
func sellerString(products int) string {
	if products == 0 {
		return "no seller"
	}
	return fmt.Sprintf("a seller with %d products", products)
}

func renderRamp(b *strings.Builder, r *Result) {
	b.WriteString("## Ramp\n\n")
	stepTable(b, r)
	if r.Highest > 0 {
		fmt.Fprintf(b, "\n**Highest rate that met the SLO: %d req/s.**\n\n", r.Highest)
	} else {
		b.WriteString("\n**No step met the SLO.**\n\n")
	}
}

// stepTable has a row for each step of r: the rate asked and achieved,
// the read latencies, the errors and the verdict.
func stepTable(b *strings.Builder, r *Result) {
	b.WriteString("| rate (req/s) | sent (req/s) | ok (req/s) | reads p50 | reads p99 | errors | SLO |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---|\n")
	for i, st := range r.Steps {
		fmt.Fprintf(b, "| %d | %.1f | %.1f | %s | %s | %.3f%% | %s |\n", st.Rate, st.SentRate(), st.Throughput(),
			quantile(st.Reads, 50), quantile(st.Reads, 99), 100*st.All.ErrorRate(), verdictText(r.Verdicts[i]))
	}
}

func renderScenarios(b *strings.Builder, st *Stats, v Verdict) {
	fmt.Fprintf(b, "## At %d req/s for %s: %s\n\n", st.Rate, st.Duration, verdictText(v))
	fmt.Fprintf(b, "Sent %d requests at %.1f req/s (asked %d); %.1f successful answers/s.\n\n",
		st.All.Requests, st.SentRate(), st.Rate, st.Throughput())
	b.WriteString("| scenario / operation | requests | errors | p50 | p90 | p99 | p99.9 | max | statuses |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, name := range st.ScenarioNames() {
		countsRow(b, "**"+name+"**", st.Scenarios[name])
		for _, op := range st.OpNames(name) {
			countsRow(b, "&nbsp;&nbsp;"+op, st.Ops[OpKey{name, op}])
		}
	}
	countsRow(b, "catalog reads", st.Reads)
	countsRow(b, "all", st.All)
	b.WriteString("\n")
}

// renderSeconds shows a constant run second by second, and from which
// second on the rest of the run met the SLO: how soon a platform
// recovers, when the run follows an overload. The rest is judged as a
// whole, as the run is: one second's p99 is its few slowest reads.
func renderSeconds(b *strings.Builder, st *Stats, slo SLO) {
	b.WriteString("## Second by second\n\n")
	b.WriteString("| second | sent | ok | reads p50 | reads p99 | SLO |\n|---:|---:|---:|---:|---:|---|\n")
	every := 0 // the second after the last that failed on its own
	for i, sec := range st.Seconds {
		v := slo.evaluate(sec.Reads, sec.Sent, sec.Sent-sec.OK)
		if !v.Pass {
			every = i + 1
		}
		fmt.Fprintf(b, "| %d | %d | %d | %s | %s | %s |\n", i, sec.Sent, sec.OK,
			quantile(sec.Reads, 50), quantile(sec.Reads, 99), verdictText(v))
	}
	if since := slo.metFrom(st.Seconds); since >= 0 {
		fmt.Fprintf(b, "\n**From second %d to its end, the run met the SLO.**", since)
	} else {
		b.WriteString("\n**No stretch of the run up to its end met the SLO.**")
	}
	if every < len(st.Seconds) {
		fmt.Fprintf(b, " Every second on its own met it from second %d.\n\n", every)
	} else {
		b.WriteString(" Its last second on its own did not meet it.\n\n")
	}
}

func countsRow(b *strings.Builder, name string, c *Counts) {
	if c.Requests == 0 {
		fmt.Fprintf(b, "| %s | 0 | | | | | | | |\n", name)
		return
	}
	fmt.Fprintf(b, "| %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", name, c.Requests, c.Errors,
		fmtDur(c.Quantile(50)), fmtDur(c.Quantile(90)), fmtDur(c.Quantile(99)), fmtDur(c.Quantile(99.9)),
		fmtDur(c.Max()), statuses(c.Statuses))
}

// statuses lists the answers by status code, "none" for requests that got
// no answer (a timeout, a refused connection).
func statuses(m map[int]int) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(m)) {
		name := fmt.Sprint(code)
		if code == 0 {
			name = "none"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, m[code]))
	}
	return strings.Join(parts, ", ")
}

func verdictText(v Verdict) string {
	s := "pass"
	if !v.Pass {
		s = "FAIL"
	}
	if len(v.Reasons) > 0 {
		s += " (" + strings.Join(v.Reasons, "; ") + ")"
	}
	return s
}

func mixString(mix []Weight) string {
	total := 0
	for _, w := range mix {
		total += w.Weight
	}
	var parts []string
	for _, w := range mix {
		parts = append(parts, fmt.Sprintf("%s %d%%", w.Scenario, int(math.Round(100*float64(w.Weight)/float64(total)))))
	}
	return strings.Join(parts, ", ")
}

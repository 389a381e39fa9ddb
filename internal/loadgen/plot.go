package loadgen

import (
	"fmt"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// series are the points of the plot: x is the requested rate for a ramp
// (one point per step), or the second of the run for a constant rate.
type series struct {
	xLabel              string
	p50, p99            plotter.XYs // read latency, ms
	sent, ok, requested plotter.XYs // requests/s
}

func seriesOf(r *Result) series {
	if r.Config.Ramp != nil {
		s := series{xLabel: "requested rate (req/s)"}
		for _, st := range r.Steps {
			x := float64(st.Rate)
			s.add(x, st.Reads, st.SentRate(), st.Throughput(), x)
		}
		return s
	}
	s := series{xLabel: "time (s)"}
	if len(r.Steps) == 0 {
		return s
	}
	st := r.Steps[0]
	for i, sec := range st.Seconds {
		s.add(float64(i), sec.Reads, float64(sec.Sent), float64(sec.OK), float64(st.Rate))
	}
	return s
}

func (s *series) add(x float64, reads *Counts, sent, ok, requested float64) {
	if reads.Requests > 0 {
		s.p50 = append(s.p50, plotter.XY{X: x, Y: ms(reads.Quantile(50))})
		s.p99 = append(s.p99, plotter.XY{X: x, Y: ms(reads.Quantile(99))})
	}
	s.sent = append(s.sent, plotter.XY{X: x, Y: sent})
	s.ok = append(s.ok, plotter.XY{X: x, Y: ok})
	s.requested = append(s.requested, plotter.XY{X: x, Y: requested})
}

// writePlot draws catalog read latency (p50, p99) above throughput (sent,
// successful, requested), against the requested rate of a ramp or the
// time of a constant run, into a PNG file.
func writePlot(path string, r *Result) error {
	lat, thr, err := plots(seriesOf(r))
	if err != nil {
		return err
	}
	img := vgimg.New(8*vg.Inch, 8*vg.Inch)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{lat}, {thr}}, tiles, draw.New(img))
	lat.Draw(canvases[0][0])
	thr.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write plot: %w", err)
	}
	return f.Close()
}

// plots are the latency and the throughput plots of s.
func plots(s series) (lat, thr *plot.Plot, err error) {
	lat, thr = plot.New(), plot.New()
	lat.Title.Text, lat.Y.Label.Text = "catalog read latency", "ms"
	thr.Title.Text, thr.Y.Label.Text = "throughput", "req/s"
	if err := addLines(lat, "p50", s.p50, "p99", s.p99); err != nil {
		return nil, nil, err
	}
	if err := addLines(thr, "requested", s.requested, "sent", s.sent, "ok", s.ok); err != nil {
		return nil, nil, err
	}
	for _, p := range []*plot.Plot{lat, thr} {
		p.X.Label.Text = s.xLabel
		// From zero, so that a small change does not look like a big one;
		// the legend top left, where lines starting low rarely are.
		p.Y.Min = 0
		p.Legend.Top, p.Legend.Left = true, true
	}
	return lat, thr, nil
}

// addLines adds named lines, leaving out empty ones (a run without
// catalog reads has no latency to draw).
func addLines(p *plot.Plot, named ...any) error {
	var vs []any
	for i := 0; i+1 < len(named); i += 2 {
		if xys := named[i+1].(plotter.XYs); len(xys) > 0 {
			vs = append(vs, named[i], xys)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	if err := plotutil.AddLinePoints(p, vs...); err != nil {
		return fmt.Errorf("plot %s: %w", p.Title.Text, err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

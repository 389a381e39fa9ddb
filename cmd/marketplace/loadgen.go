//go:build !noloadgen

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/marketplace-go/marketplace/internal/loadgen"
)

const loadgenUsage = `usage: marketplace loadgen [flags]

Sends an open-loop load of shopper scenarios to a deployment's gateway,
through the public API only: it first registers its own buyers and, for a
mix that fills carts or buys, a seller with stocked products (so any
deployment with a category tree will do; one that only reads needs
products in the catalog), then reports latency percentiles and errors per
scenario and operation into report.md (also printed) and plot.png. The
SLO's latency is that of catalog reads (browse, search); its error rate
counts every scenario. A ramp stops at the first step that fails the SLO
and names the highest rate that met it. Each run leaves its accounts and
products behind, named after its run id.

With --baseline, the same load (the same rates and steps or duration, SLO
and client settings) goes, after preparation and before the platform's
load, to a bare net/http handler served by the loadgen itself on
127.0.0.1, which answers every GET with ~500 bytes of JSON; the report
gives its steps and the platform's highest passing rate as a multiple of
the handler's (the ramp's max caps both).

A capacity run must not be cut short by the gateway's rate limits: run the
platform with GATEWAY_RATE_LIMITS=off (or generous GATEWAY_RATE_* limits).
With the limits on, preparation waits out 429s, but the load gets them.

Examples:
  marketplace loadgen --rate=50 --duration=30s
  marketplace loadgen --ramp=10:400:10 --step=15s --slo-p99=50ms --out=bench/results/loadgen
  marketplace loadgen --ramp=10:400:10 --step=15s --baseline

flags:
`

// loadgenCmd parses the flags of the loadgen command and runs it.
func loadgenCmd(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := loadgenConfig(args, out)
	if err != nil {
		return err
	}
	opt := loadgen.Options{Log: os.Stderr}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		opt.Progress = os.Stderr
	}
	res, err := loadgen.Run(ctx, cfg, opt)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if cfg.Out != "" {
		if err := loadgen.Save(cfg.Out, res); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
	}
	return loadgen.Render(out, res)
}

func loadgenConfig(args []string, out io.Writer) (loadgen.Config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { fmt.Fprint(out, loadgenUsage); fs.PrintDefaults() }
	var cfg loadgen.Config
	fs.StringVar(&cfg.Target, "target", "http://localhost:8080", "base URL of the gateway")
	scenario := fs.String("scenario", loadgen.Mixed, "mixed, browse, search, cart, checkout, buy, login or detail")
	mix := fs.String("mix", loadgen.DefaultMix, "weights of the mixed scenario (login may be added)")
	fs.IntVar(&cfg.Rate, "rate", 50, "requests/s of a constant-rate run")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "length of a constant-rate run")
	ramp := fs.String("ramp", "", "a step ramp start:max:step in requests/s (such as 10:400:10), instead of --rate")
	fs.DurationVar(&cfg.Step, "step", 15*time.Second, "length of each ramp step")
	fs.DurationVar(&cfg.SLO.P50, "slo-p50", 5*time.Millisecond, "SLO: p50 latency of catalog reads (browse, search)")
	fs.DurationVar(&cfg.SLO.P99, "slo-p99", 50*time.Millisecond, "SLO: p99 latency of catalog reads")
	fs.Float64Var(&cfg.SLO.Errors, "slo-errors", 0.001, "SLO: highest share of failed requests, all scenarios")
	fs.IntVar(&cfg.Users, "users", 20, "virtual buyers to register")
	fs.IntVar(&cfg.Products, "products", 20, "products the loadgen's own seller lists (with a large stock) for the cart, checkout and buy scenarios")
	fs.StringVar(&cfg.Out, "out", "", "directory for report.md and plot.png (none when empty)")
	fs.Uint64Var(&cfg.Workers, "workers", 10, "vegeta's initial workers")
	maxWorkers := fs.Uint64("max-workers", 0, "most vegeta workers (0: no bound); a bound the rate needs slows the pacer, which the report notes")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "timeout of one request")
	fs.Func("start-at", "begin the load at this time (RFC 3339, such as 2026-12-07T04:10:00Z) once prepared, so that load generators started apart load the target together", func(v string) (err error) {
		cfg.StartAt, err = time.Parse(time.RFC3339, v)
		return err
	})
	fs.BoolVar(&cfg.Baseline, "baseline", false, "before the platform's load, send the same load (rates, steps, SLO, client) to a bare net/http JSON handler in this process, and report the platform beside it")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("loadgen: unexpected argument %q", fs.Arg(0))
	}
	cfg.MaxWorkers = *maxWorkers
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = math.MaxUint64
	}
	var err error
	if cfg.Mix, err = loadgen.MixFor(*scenario, *mix); err != nil {
		return cfg, fmt.Errorf("loadgen: %w", err)
	}
	if *ramp != "" {
		r, err := loadgen.ParseRamp(*ramp)
		if err != nil {
			return cfg, fmt.Errorf("loadgen: %w", err)
		}
		cfg.Ramp = &r
	}
	return cfg, cfg.Validate()
}

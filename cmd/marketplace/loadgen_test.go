package main

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/marketplace-go/marketplace/internal/loadgen"
)

func TestLoadgenRunsTheMixedScenarioThroughTheGatewayWithoutErrors(t *testing.T) {
	endToEnd(t)
	// Serial: the ramp must meet its latency SLO at each step, and logins
	// (argon2) beside other platforms' could miss it.
	getenv := testEnv(t, nil)
	// A deployment has a category tree; products and accounts are the
	// loadgen's own (a seed of no products loads only the categories).
	if err := run(context.Background(), []string{"seed", "--products=0", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	// First a ramp of logins, while the catalog has no products: both
	// steps meet a loose SLO, and the loadgen lists no products, which no
	// login needs.
	dir := t.TempDir()
	var out bytes.Buffer
	args := []string{"loadgen", "--target", "http://" + addrs["gateway"], "--scenario=login", "--ramp=2:4:2", "--step=1s",
		"--slo-p50=10s", "--slo-p99=10s", "--users=2", "--out", dir}
	if err := run(context.Background(), args, getenv, &out, nil); err != nil {
		t.Fatalf("loadgen ramp: %v\n%s", err, out.String())
	}
	for _, want := range []string{"2 buyers, no seller; 0 products in the catalog", "| **login** | 4 | 0 |", "| 2 | ", "| 4 | ", "**Highest rate that met the SLO: 4 req/s.**"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the ramp's report lacks %q:\n%s", want, out.String())
		}
	}
	assertPNG(t, filepath.Join(dir, "plot.png"))

	// Then the mix, whose products are the loadgen's own.
	dir = t.TempDir()
	out.Reset()
	args = []string{"loadgen", "--target", "http://" + addrs["gateway"], "--scenario=mixed", "--rate=20", "--duration=3s",
		"--mix=" + loadgen.DefaultMix + ",buy=5", "--users=3", "--products=5", "--out", dir}
	if err := run(context.Background(), args, getenv, &out, nil); err != nil {
		t.Fatalf("loadgen: %v\n%s", err, out.String())
	}
	report := out.String()
	saved, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || string(saved) != report {
		t.Errorf("report.md differs from the printed report (%v)", err)
	}
	assertReportRows(t, report)
	if !strings.Contains(report, "3 buyers, a seller with 5 products;") {
		t.Errorf("the report does not say that a seller listed 5 products:\n%s", report)
	}
	assertPNG(t, filepath.Join(dir, "plot.png"))
}

func TestLoadgenRefusesBadFlagsBeforeSendingAnything(t *testing.T) {
	tests := []struct{ name, flag, want string }{
		{"an unknown scenario", "--scenario=shop", `unknown scenario "shop"`},
		{"a mix with an unknown scenario", "--mix=browse=1,pay=1", `unknown scenario "pay"`},
		{"a ramp without a step", "--ramp=10:100", "not start:max:step"},
		{"a target that is not a URL", "--target=localhost:8080", "not an http(s) URL"},
		{"an error budget over 1", "--slo-errors=2", "slo-errors"},
		{"a start time without a zone", "--start-at=2026-12-07T04:10:00", "start-at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), []string{"loadgen", tt.flag}, lookup(nil), io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// assertReportRows checks that every scenario of the default mix and buy
// have a row with requests and no errors, and that nothing failed overall.
func assertReportRows(t *testing.T, report string) {
	t.Helper()
	for _, name := range []string{"browse", "search", "cart", "checkout", "buy"} {
		row := regexp.MustCompile(`\| \*\*` + name + `\*\* \| (\d+) \| (\d+) \|`).FindStringSubmatch(report)
		if row == nil || row[1] == "0" {
			t.Errorf("the report has no requests of %s:\n%s", name, report)
			continue
		}
		if row[2] != "0" {
			t.Errorf("%s had %s errors:\n%s", name, row[2], report)
		}
	}
	all := regexp.MustCompile(`\| all \| (\d+) \| (\d+) \|`).FindStringSubmatch(report)
	if all == nil || all[2] != "0" {
		t.Errorf("the report's total shows errors, or is missing:\n%s", report)
	}
	for _, op := range []string{"add-to-cart", "place-order", "pay"} {
		if !strings.Contains(report, "&nbsp;&nbsp;"+op+" |") {
			t.Errorf("no %s operation in the checkout journeys:\n%s", op, report)
		}
	}
}

func assertPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("plot.png: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("plot.png is %v", b)
	}
}

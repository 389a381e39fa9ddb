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
)

func TestLoadgenRunsTheMixedScenarioThroughTheGatewayWithoutErrors(t *testing.T) {
	getenv := testEnv(t, nil)
	// A deployment has a category tree; products and accounts are the
	// loadgen's own (a seed of no products loads only the categories).
	if err := run(context.Background(), []string{"seed", "--products=0", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	dir := t.TempDir()
	var out bytes.Buffer
	args := []string{"loadgen", "--target", "http://" + addrs["gateway"], "--scenario=mixed", "--rate=20", "--duration=3s",
		"--users=3", "--products=5", "--out", dir}
	if err := run(context.Background(), args, getenv, &out, nil); err != nil {
		t.Fatalf("loadgen: %v\n%s", err, out.String())
	}
	report := out.String()
	saved, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || string(saved) != report {
		t.Errorf("report.md differs from the printed report (%v)", err)
	}
	assertReportRows(t, report)
	assertPNG(t, filepath.Join(dir, "plot.png"))
}

// assertReportRows checks that every scenario of the default mix has a row
// with requests and no errors, and that nothing failed overall.
func assertReportRows(t *testing.T, report string) {
	t.Helper()
	for _, name := range []string{"browse", "search", "cart", "checkout"} {
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

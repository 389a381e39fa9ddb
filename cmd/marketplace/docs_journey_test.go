package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// journeyDoc is the guide whose script the test runs, relative to this
// package's directory, where `go test` runs.
const journeyDoc = "../../docs/journey.md"

// journeyScript matches the first shell block after the guide's "## The script".
var journeyScript = regexp.MustCompile("(?s)\n## The script\n.*?\n```sh\n(.*?)\n```\n")

// TestJourneyScriptInTheDocsRunsThroughTheGateway runs the curl script of
// docs/journey.md, as a reader would, against a fresh platform in one
// process with the gateway's rate limits on: the guide cannot drift from
// the API without this test failing.
func TestJourneyScriptInTheDocsRunsThroughTheGateway(t *testing.T) {
	endToEnd(t)
	// Serial: it holds every search to 1 s on a cold catalog.
	needJourneyTools(t)
	getenv := testEnv(t, map[string]string{
		// The script's last step drains the login budget and wants a 429.
		"GATEWAY_RATE_LIMITS": "on",
		"GATEWAY_RATE_PREFIX": "test-journey-" + uuid.NewString() + ":",
	})
	if err := run(context.Background(), []string{"seed", "--products=12", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	runJourneyScript(t, "http://"+addrs["gateway"])
}

// needJourneyTools skips a test that runs the guide's script on a machine
// without the tools it calls.
func needJourneyTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the journey script needs %s, which this machine lacks", tool)
		}
	}
}

// runJourneyScript runs the curl script of docs/journey.md against the
// gateway at api, whose catalog is seeded and whose rate limits are on,
// and fails the test unless the script gets to its end with every search
// under 1 s.
func runJourneyScript(t *testing.T, api string) {
	t.Helper()
	doc, err := os.ReadFile(journeyDoc)
	if err != nil {
		t.Fatal(err)
	}
	m := journeyScript.FindSubmatch(doc)
	if m == nil {
		t.Fatalf("%s has no ```sh block under \"## The script\"", journeyDoc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", string(m[1]))
	cmd.Env = append(os.Environ(), "API="+api)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the script failed (%v):\n%s\nits output:\n%s", err, stderr.String(), stdout.String())
	}
	// The script stops at the first call that answers other than it
	// expects; these say it got to its end.
	for _, want := range []string{"POST /v1/sub-orders/", "GET /v1/orders/", "-> 404", "POST /v1/auth/login -> 429"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the script's log lacks %q:\n%s", want, stderr.String())
		}
	}
	checkSearchTimes(t, stderr.String())
}

// searchLine is the script's log line of a catalog search: its path and
// how long curl waited for the whole answer.
var searchLine = regexp.MustCompile(`(?m)^GET (/v1/products\?\S*) -> \d+ in ([0-9.]+)s$`)

// checkSearchTimes holds every search of the journey to 1 s: the catalog
// is cold (each run lists a new seller's products), and a shopper's search
// must be fast on its first request, not only once a cache is warm. The
// bound is far above a search's few milliseconds, so that only a search
// answered by scanning the store, as it once was, fails it.
func checkSearchTimes(t *testing.T, log string) {
	t.Helper()
	searches := searchLine.FindAllStringSubmatch(log, -1)
	if len(searches) == 0 {
		t.Fatalf("the script's log shows no search:\n%s", log)
	}
	for _, m := range searches {
		if took, err := strconv.ParseFloat(m[2], 64); err != nil || took >= 1 {
			t.Errorf("GET %s took %ss, want under 1s", m[1], m[2])
		}
	}
}

// Package stripemocktest runs stripe-mock, Stripe's own mock of its API, for
// tests that need a Stripe API without leaving the machine.
//
// stripe-mock validates requests against Stripe's OpenAPI specification but
// answers with fixed fixtures and keeps no state: a PaymentIntent comes back
// as "requires_payment_method" whatever was asked. WithFixture changes a
// fixture for one stripe-mock process when a test needs another answer.
package stripemocktest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
)

const (
	// Module is stripe-mock's Go module.
	Module = "github.com/stripe/stripe-mock"
	// Version is the stripe-mock release the tests are written against. The
	// Makefile's tools target installs the same one.
	Version = "v0.203.0"

	binaryName = "stripe-mock"
	// listeningPrefix starts the line stripe-mock prints once its HTTP
	// listener is bound, followed by the address.
	listeningPrefix = "Listening for HTTP at address: "
	// fixturesPath is where the stripe-mock module keeps the fixtures it
	// embeds.
	fixturesPath = "embedded/openapi/fixtures3.json"
)

// Package-level once-guards: `go install` takes about a minute, and tests in
// one process must neither repeat it nor run it concurrently. The results
// depend only on the machine, so sharing them across tests is safe.
var (
	binaryOnce   = sync.OnceValues(findOrInstall)
	fixturesOnce = sync.OnceValues(readBundledFixtures)
)

// Option changes how StartStripeMock runs stripe-mock.
type Option func(*options)

type options struct {
	fixtures map[string]map[string]any
}

// WithFixture overrides fields of the fixture stripe-mock answers with for
// one resource, such as "payment_intent", leaving its other fields as they
// are. A nil value makes the field null. Repeated calls for one resource
// merge.
//
// The other fixtures come from stripe-mock Version's source (fetched with
// `go mod download`), since -fixtures replaces them all: a stripe-mock binary
// of another version may need fixtures this one lacks.
func WithFixture(resource string, fields map[string]any) Option {
	return func(o *options) {
		if o.fixtures == nil {
			o.fixtures = make(map[string]map[string]any)
		}
		if o.fixtures[resource] == nil {
			o.fixtures[resource] = make(map[string]any)
		}
		for k, v := range fields {
			o.fixtures[resource][k] = v
		}
	}
}

// StartStripeMock starts a stripe-mock process for tb and returns its base
// URL, such as "http://127.0.0.1:40123". The process is killed when tb's
// cleanup runs.
//
// The binary is looked up on PATH, then in `go env GOBIN` and each
// `go env GOPATH`'s bin; when it is nowhere, it is installed with
// `go install github.com/stripe/stripe-mock@v0.203.0`, once per process.
// stripe-mock listens on loopback ports the system picks, so parallel test
// processes never collide.
func StartStripeMock(tb testing.TB, opts ...Option) string {
	tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}

	bin, err := binaryOnce()
	if err != nil {
		tb.Fatalf("stripemocktest: %v", err)
	}

	// Both listeners are given: stripe-mock v0.203.0 still opens HTTPS on
	// all interfaces at the fixed port 12112 when only -http-addr is set,
	// and two test processes would then collide on it.
	args := []string{"-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0"}
	if len(o.fixtures) > 0 {
		path, err := writeFixtures(tb.TempDir(), o.fixtures)
		if err != nil {
			tb.Fatalf("stripemocktest: %v", err)
		}
		args = append(args, "-fixtures", path)
	}

	cmd := exec.Command(bin, args...)
	output := &logtest.Buffer{} // written from two goroutines
	cmd.Stderr = output
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("stripemocktest: stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("stripemocktest: start %s: %v", bin, err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			// Its last lines only: it logs every request, and a long
			// test's failure would be buried under them.
			lines := strings.Split(strings.TrimSpace(output.String()), "\n")
			tb.Logf("stripe-mock output, the last of %d lines:\n%s", len(lines), strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	})

	addrc := make(chan string, 1)
	go func() {
		// Keep reading after the address, or a chatty stripe-mock would
		// block on a full pipe.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = io.WriteString(output, line+"\n")
			if addr, ok := strings.CutPrefix(line, listeningPrefix); ok {
				select {
				case addrc <- strings.TrimSpace(addr):
				default:
				}
			}
		}
		close(addrc)
	}()

	// The output is logged at cleanup when the test failed.
	addr := eventually.Receive(tb, "stripe-mock to listen", addrc)
	if addr == "" {
		tb.Fatalf("stripemocktest: stripe-mock exited before listening")
	}
	baseURL := "http://" + addr
	eventually.NoError(tb, "stripe-mock at "+baseURL+" to answer", func() error { return probe(baseURL) })
	return baseURL
}

// probeClient asks stripe-mock whether it answers.
var probeClient = &http.Client{Timeout: 2 * time.Second}

// probe makes one API request to stripe-mock.
func probe(baseURL string) error {
	req, err := http.NewRequest(http.MethodGet, baseURL+"/v1/balance", nil)
	if err != nil {
		return fmt.Errorf("stripe-mock probe: %w", err)
	}
	req.Header.Set("Authorization", "Bearer sk_test_stripemocktest")
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// findOrInstall returns the path of a stripe-mock binary, installing it
// with `go install` when none is found.
func findOrInstall() (string, error) {
	if path, err := findBinary(); err == nil {
		return path, nil
	}
	cmd := exec.Command("go", "install", Module+"@"+Version)
	// Outside the repository, so that no go.mod or go.work can interfere.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", Module, Version, err, out)
	}
	path, err := findBinary()
	if err != nil {
		return "", fmt.Errorf("after go install: %w", err)
	}
	return path, nil
}

// findBinary looks for stripe-mock on PATH and where `go install` puts
// binaries.
func findBinary() (string, error) {
	if path, err := exec.LookPath(binaryName); err == nil {
		return path, nil
	}
	dirs, err := goBinDirs()
	if err != nil {
		return "", err
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, binaryName)
		if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0 {
			return path, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH nor in %s", binaryName, strings.Join(dirs, ", "))
}

// goBinDirs returns GOBIN and each GOPATH entry's bin directory.
func goBinDirs() ([]string, error) {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOBIN GOPATH: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	var dirs []string
	if len(lines) > 0 && lines[0] != "" {
		dirs = append(dirs, lines[0])
	}
	if len(lines) > 1 {
		for _, p := range filepath.SplitList(lines[1]) {
			if p != "" {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	return dirs, nil
}

// readBundledFixtures reads the fixtures stripe-mock embeds, from the
// module's source in the module cache (downloaded if need be), since the
// binary cannot print them and -fixtures replaces them whole.
func readBundledFixtures() ([]byte, error) {
	cmd := exec.Command("go", "mod", "download", "-json", Module+"@"+Version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s@%s: %w\n%s", Module, Version, err, stderr.String())
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, fmt.Errorf("go mod download output: %w", err)
	}
	if mod.Dir == "" {
		return nil, errors.New("go mod download gave no module directory")
	}
	data, err := os.ReadFile(filepath.Join(mod.Dir, fixturesPath))
	if err != nil {
		return nil, fmt.Errorf("stripe-mock fixtures: %w", err)
	}
	return data, nil
}

// writeFixtures writes the bundled fixtures with overrides applied into dir
// and returns the file's path.
func writeFixtures(dir string, overrides map[string]map[string]any) (string, error) {
	bundled, err := fixturesOnce()
	if err != nil {
		return "", err
	}
	// Decoded afresh for each process started, so overrides never leak
	// between tests; numbers stay as written.
	var fixtures struct {
		Resources map[string]map[string]any `json:"resources"`
	}
	dec := json.NewDecoder(bytes.NewReader(bundled))
	dec.UseNumber()
	if err := dec.Decode(&fixtures); err != nil {
		return "", fmt.Errorf("stripe-mock fixtures: %w", err)
	}
	for resource, fields := range overrides {
		fixture, ok := fixtures.Resources[resource]
		if !ok {
			return "", fmt.Errorf("stripe-mock has no fixture for resource %q", resource)
		}
		for k, v := range fields {
			fixture[k] = v
		}
	}
	raw, err := json.Marshal(fixtures)
	if err != nil {
		return "", fmt.Errorf("encode fixtures: %w", err)
	}
	// stripe-mock insists on the .json extension.
	path := filepath.Join(dir, "fixtures.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return "", fmt.Errorf("write fixtures: %w", err)
	}
	return path, nil
}

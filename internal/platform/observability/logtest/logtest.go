// Package logtest gives a test a logger that writes to the test's output.
package logtest

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// New returns a logger writing to tb's output at level and above, until
// the test's cleanups have run: goroutines that outlive the test (relays,
// consumers) must not call t.Log then, so later lines are dropped.
func New(tb testing.TB, level slog.Level) *slog.Logger {
	tb.Helper()
	w := &writer{tb: tb}
	tb.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type writer struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

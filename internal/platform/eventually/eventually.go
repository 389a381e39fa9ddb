// Package eventually waits, in tests, for something another goroutine, a
// server or a broker makes happen: a condition that comes to hold, or a
// value that arrives on a channel.
//
// It is the one place such waits are written. A wait polls quickly at
// first and then backs off, so a test goes on as soon as what it waits
// for is there, and fails with what it waited for (and, for NoError, the
// last reason it did not hold) when it never comes.
//
// A wait is not a way to show that something did NOT happen: waiting a
// while and seeing nothing passes on a slow machine even when the bug is
// there. Wait instead for the event that proves the work was done (a
// drain, a later message, a counter), then assert.
package eventually

import (
	"testing"
	"time"
)

// Timeout is how long a wait lasts before it fails the test, unless the
// wait says otherwise with Within. It is long on purpose: a passing test
// never waits it out, only a broken one does, and a loaded CI machine
// must not turn a slow pass into a failure.
const Timeout = 30 * time.Second

// Option changes one wait.
type Option func(*wait)

// Within sets how long the wait lasts: for one that needs longer than
// Timeout (a whole service starting), or whose bound is part of what the
// test claims ("the index catches up within a minute").
func Within(d time.Duration) Option { return func(w *wait) { w.timeout = d } }

// wait is one wait's settings.
type wait struct{ timeout time.Duration }

func settings(opts []Option) wait {
	w := wait{timeout: Timeout}
	for _, o := range opts {
		o(&w)
	}
	return w
}

// Poll intervals: the first check is immediate, the next ones come
// quickly and then back off to maxPoll, so a condition that takes
// seconds costs few checks and one that takes a millisecond no wait.
const (
	firstPoll = time.Millisecond
	maxPoll   = 50 * time.Millisecond
)

// True waits until cond returns true and fails the test if it does not
// within Timeout. what names what is awaited, as the failure message
// shows it. Call it from the test's goroutine.
func True(tb testing.TB, what string, cond func() bool, opts ...Option) {
	tb.Helper()
	NoError(tb, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}, opts...)
}

// NoError waits until check returns nil and fails the test if it does not
// within Timeout, with check's last error: say there what was seen
// instead ("3 of 5 events delivered").
func NoError(tb testing.TB, what string, check func() error, opts ...Option) {
	tb.Helper()
	w := settings(opts)
	if err := poll(w.timeout, check); err != nil {
		tb.Fatalf("not within %v: %s: %v", w.timeout, what, err)
	}
}

// Value waits until get reports ok and returns its value; it fails the
// test if that does not happen within Timeout.
func Value[T any](tb testing.TB, what string, get func() (T, bool), opts ...Option) T {
	tb.Helper()
	var v T
	True(tb, what, func() bool {
		var ok bool
		v, ok = get()
		return ok
	}, opts...)
	return v
}

// Receive waits for a value on ch (or for ch to close, giving the zero
// value) and fails the test if none comes within Timeout.
func Receive[T any](tb testing.TB, what string, ch <-chan T, opts ...Option) T {
	tb.Helper()
	w := settings(opts)
	t := time.NewTimer(w.timeout)
	defer t.Stop()
	select {
	case v := <-ch:
		return v
	case <-t.C:
		tb.Fatalf("not within %v: %s", w.timeout, what)
		var zero T
		return zero
	}
}

// errNotYet is True's reason: the condition has nothing more to say.
var errNotYet = notYet{}

type notYet struct{}

func (notYet) Error() string { return "the condition never held" }

// poll calls check until it returns nil or timeout passes, and returns
// its last error.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for pause := firstPoll; ; pause = min(2*pause, maxPoll) {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pause)
	}
}

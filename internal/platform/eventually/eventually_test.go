package eventually

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestTrueReturnsOnceAnotherGoroutineMakesTheConditionHold(t *testing.T) {
	t.Parallel()
	var done atomic.Bool
	go func() { done.Store(true) }()
	True(t, "the goroutine ran", done.Load)
}

func TestValueReturnsTheValueThatMadeTheWaitEnd(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	got := Value(t, "the third call", func() (int32, bool) {
		n := calls.Add(1)
		return n, n == 3
	})
	if got != 3 {
		t.Errorf("Value = %d, want 3", got)
	}
}

func TestReceiveReturnsWhatIsSent(t *testing.T) {
	t.Parallel()
	ch := make(chan string)
	go func() { ch <- "hello" }()
	if got := Receive(t, "a greeting", ch); got != "hello" {
		t.Errorf("Receive = %q, want hello", got)
	}
}

func TestAWaitThatTimesOutReportsTheLastReason(t *testing.T) {
	t.Parallel()
	var calls int
	err := poll(20*time.Millisecond, func() error {
		calls++
		return errors.New("2 of 3 seen")
	})
	if err == nil || err.Error() != "2 of 3 seen" {
		t.Errorf("wait = %v, want the last reason", err)
	}
	if calls < 2 {
		t.Errorf("check called %d times in 20ms, want it polled", calls)
	}
}

func TestAWaitWithNoTimeLeftStillChecksOnce(t *testing.T) {
	t.Parallel()
	var calls int
	if err := poll(0, func() error { calls++; return nil }); err != nil || calls != 1 {
		t.Errorf("wait = %v after %d checks, want nil after 1", err, calls)
	}
}

func TestWithinSetsTheTimeoutOfOneWait(t *testing.T) {
	t.Parallel()
	if w := settings(nil); w.timeout != Timeout {
		t.Errorf("default timeout %v, want %v", w.timeout, Timeout)
	}
	if w := settings([]Option{Within(time.Minute)}); w.timeout != time.Minute {
		t.Errorf("timeout with Within(1m) = %v", w.timeout)
	}
}

package events

import (
	"context"
	"log/slog"
	"time"
)

// RelayLoop drives a relay, the process that publishes events a service
// stored with its changes (an outbox table, pending lists in documents).
// It flushes at once (a crash may have left events), Linger after a
// wake-up, every Interval, and straight away again while full batches are
// waiting. While flushing fails it backs off exponentially up to 30
// seconds, and wake-ups do not cut a back-off short: hammering a broker
// that is down helps nobody.
type RelayLoop struct {
	// Name labels the loop's log lines, such as "outbox relay".
	Name string
	// Interval is how often to look for events no one woke the loop for.
	Interval time.Duration
	// Batch is the size of one flush: a flush that publishes as many
	// events or more (a batch of products may carry several each) is
	// followed by another at once.
	Batch int
	// BusyWait is how soon to try again after a flush found another
	// instance relaying (it may have started before this instance's writes).
	BusyWait time.Duration
	// Wake carries wake-ups; a buffered channel of one folds many into one.
	Wake <-chan struct{}
	// Flush publishes one batch: how many it published, whether another
	// instance holds the relay, and an error if publishing failed.
	Flush func(ctx context.Context) (n int, busy bool, err error)
	// Linger is how long a wake-up waits before it flushes, so that the
	// commits made meanwhile go out in the same batch rather than one
	// flush each; zero flushes at once.
	Linger time.Duration
	Log    *slog.Logger
}

// maxRelayBackoff caps the wait between flushes while publishing fails.
const maxRelayBackoff = 30 * time.Second

// Run loops until ctx ends.
func (l RelayLoop) Run(ctx context.Context) {
	wait, failing := time.Duration(0), false
	for {
		wake := l.Wake
		if failing {
			wake = nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-wake:
			timer.Stop()
			if l.Linger > 0 && !l.linger(ctx) {
				return
			}
		}
		n, busy, err := l.Flush(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			wait, failing = min(max(wait*2, l.Interval/8, 100*time.Millisecond), maxRelayBackoff), true
			l.Log.WarnContext(ctx, l.Name+" paused", "err", err, "relayed", n, "retry_in", wait.String())
			continue
		case busy:
			// While failing, keep backing off: the other instance most
			// likely fails against the same broker.
			if !failing {
				wait = min(l.BusyWait, l.Interval)
			}
			continue
		case n >= l.Batch:
			wait = 0 // more are waiting
		default:
			wait = l.Interval
		}
		if failing {
			failing = false
			l.Log.InfoContext(ctx, l.Name+" resumed", "relayed", n)
		}
	}
}

// linger waits l.Linger, or until ctx ends; it reports whether to go on.
// The wake-ups that came meanwhile are dropped: each was sent after its
// commit, so the flush that follows sees what they announce.
func (l RelayLoop) linger(ctx context.Context) bool {
	t := time.NewTimer(l.Linger)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	select {
	case <-l.Wake:
	default:
	}
	return true
}

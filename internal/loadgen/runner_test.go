package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

func TestALoadWaitsForItsStartTimeAndSaysHowLateItIs(t *testing.T) {
	t.Parallel()
	if late := waitUntil(context.Background(), time.Time{}); late != 0 {
		t.Errorf("no start time: %v late, want no wait and 0", late)
	}
	if late := waitUntil(context.Background(), time.Now().Add(-3*time.Second)); late < 3*time.Second {
		t.Errorf("a start time 3s ago: %v late, want at least 3s", late)
	}
	start := time.Now().Add(50 * time.Millisecond)
	if late := waitUntil(context.Background(), start); late != 0 || time.Now().Before(start) {
		t.Errorf("a start time ahead: returned %v late at %v, before %v", late, time.Now(), start)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ended := make(chan struct{})
	go func() { waitUntil(ctx, time.Now().Add(time.Hour)); close(ended) }()
	eventually.Receive(t, "an interrupted wait to end", ended)
}

package discovery_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/discovery"
)

var quiet = slog.New(slog.DiscardHandler)

func TestStaticReportsItsListSortedOnce(t *testing.T) {
	t.Parallel()
	lists := watch(t, discovery.Static("http://b:1", "http://a:1", "http://b:1"))
	want := []string{"http://a:1", "http://b:1"}
	if got := next(t, lists); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// watch runs src.Watch until the test ends, checking that it then returns
// nil, and returns the lists it reports.
func watch(t *testing.T, src discovery.Source) <-chan []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lists := make(chan []string)
	done := make(chan error, 1)
	go func() {
		done <- src.Watch(ctx, func(urls []string) {
			select {
			case lists <- urls:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	return lists
}

// next returns the next list reported on lists.
func next(t *testing.T, lists <-chan []string) []string {
	t.Helper()
	select {
	case got := <-lists:
		return got
	case <-time.After(15 * time.Second):
		t.Fatal("no list reported in 15s")
		return nil
	}
}

// waitFor reads lists until one equals want.
func waitFor(t *testing.T, lists <-chan []string, want ...string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	var last []string
	for {
		select {
		case last = <-lists:
			if slices.Equal(last, want) {
				return
			}
		case <-timeout:
			t.Fatalf("list %q not reported in 15s; last was %q", want, last)
		}
	}
}

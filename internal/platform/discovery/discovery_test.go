package discovery_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/discovery"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
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
	return eventually.Receive(t, "a list reported", lists)
}

// waitFor reads lists until one equals want.
func waitFor(t *testing.T, lists <-chan []string, want ...string) {
	t.Helper()
	var last []string
	eventually.NoError(t, fmt.Sprintf("list %q reported", want), func() error {
		for {
			select {
			case last = <-lists:
				if slices.Equal(last, want) {
					return nil
				}
			default:
				return fmt.Errorf("the last was %q", last)
			}
		}
	})
}

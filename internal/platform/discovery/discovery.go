// Package discovery tells a caller where the instances of a service are, and
// keeps telling it as instances come and go. Three sources share one
// interface: a fixed list, DNS (a Kubernetes headless service) and an etcd
// registry that instances join with Register and leave with Close.
package discovery

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// A Source reports a service's instances (base URLs such as
// "http://10.0.0.5:8082") each time they change.
type Source interface {
	// Watch calls update with the full current list whenever it changes
	// (and once at start, as soon as known), until ctx ends. It returns when
	// ctx ends (nil) or on an unrecoverable error. update is never called
	// concurrently. Lists are sorted and free of duplicates.
	Watch(ctx context.Context, update func(urls []string)) error
}

// retryDelay is how long a source waits before retrying a failed call.
const retryDelay = time.Second

// Static returns a Source whose list never changes.
func Static(urls ...string) Source { return static(sorted(urls)) }

type static []string

func (s static) Watch(ctx context.Context, update func([]string)) error {
	update(slices.Clone(s))
	<-ctx.Done()
	return nil
}

// reporter passes a list to update only when it differs from the last one.
type reporter struct {
	update   func([]string)
	last     []string
	reported bool
}

func (r *reporter) report(urls []string) {
	urls = sorted(urls)
	if r.reported && slices.Equal(urls, r.last) {
		return
	}
	r.last, r.reported = urls, true
	r.update(slices.Clone(urls))
}

// sorted returns a sorted copy of urls without duplicates.
func sorted(urls []string) []string {
	s := slices.Clone(urls)
	slices.Sort(s)
	return slices.Compact(s)
}

// sleep waits for d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func orDefault(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.Default()
	}
	return log
}

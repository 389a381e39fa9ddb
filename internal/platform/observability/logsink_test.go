package observability_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// destination records what a sink writes to it, each write apart; while
// stalled, its next write waits until release.
type destination struct {
	mu      sync.Mutex
	writes  [][]byte
	err     error
	stall   chan struct{} // nil: never stalls
	stalled chan struct{} // closed once a write waits on stall
	once    sync.Once
}

func (d *destination) Write(p []byte) (int, error) {
	if d.stall != nil {
		d.once.Do(func() { close(d.stalled) })
		<-d.stall
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writes = append(d.writes, bytes.Clone(p))
	return len(p), d.err
}

func (d *destination) text() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(bytes.Join(d.writes, nil))
}

// line is the nth line of a writer, padded to n bytes with its newline.
func line(writer, n, size int) []byte {
	l := fmt.Sprintf("w%d-%06d ", writer, n)
	return []byte(l + strings.Repeat("x", size-len(l)-1) + "\n")
}

func TestLogSinkWritesEveryLineWholeAndInOrder(t *testing.T) {
	t.Parallel()
	const writers, lines = 8, 500
	d := &destination{}
	s := observability.NewLogSink(d, 4096) // small: writers wait for room too
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for n := range lines {
				if _, err := s.Write(line(w, n, 64)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(d.text(), "\n"), "\n")
	for _, l := range got {
		var w, n int
		if _, err := fmt.Sscanf(l, "w%d-%06d ", &w, &n); err != nil || len(l) != 63 {
			t.Fatalf("line %q is not one whole line", l)
		}
		if n != next[w] {
			t.Fatalf("writer %d's line %d came where %d was due", w, n, next[w])
		}
		next[w]++
	}
	if len(got) != writers*lines {
		t.Errorf("%d lines written, want %d", len(got), writers*lines)
	}
}

func TestLogSinkHoldsAtMostItsSizeWhileItsDestinationStalls(t *testing.T) {
	t.Parallel()
	const size, lineSize, lines = 1000, 100, 30
	d := &destination{stall: make(chan struct{}), stalled: make(chan struct{})}
	s := observability.NewLogSink(d, size)
	returned := make(chan int, lines)
	go func() {
		defer close(returned)
		for n := range lines {
			if _, err := s.Write(line(0, n, lineSize)); err != nil {
				t.Error(err)
			}
			returned <- n
		}
	}()
	// The first line is being written and stalls; the writer goes on until
	// the sink holds its size (ten lines more) without waiting for it.
	<-d.stalled
	for n := range returned {
		if n == size/lineSize {
			break
		}
	}
	close(d.stall)
	for range returned {
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for n := range lines {
		want.Write(line(0, n, lineSize))
	}
	if got := d.text(); got != want.String() {
		t.Errorf("the destination got %d bytes out of order or incomplete, want %d", len(got), want.Len())
	}
	for i, w := range d.writes {
		if len(w) > size {
			t.Errorf("write %d took %d bytes at once: the sink held more than its size, %d", i, len(w), size)
		}
	}
}

func TestLogSinkWritesWhatItHoldsOnCloseAndLaterLinesStraightThrough(t *testing.T) {
	t.Parallel()
	d := &destination{}
	s := observability.NewLogSink(d, 0)
	for _, l := range []string{"one\n", "two\n"} {
		if _, err := s.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := d.text(); got != "one\ntwo\n" {
		t.Fatalf("after Close the destination has %q, want both lines", got)
	}
	if _, err := s.Write([]byte("three\n")); err != nil {
		t.Fatal(err)
	}
	if got := d.text(); got != "one\ntwo\nthree\n" {
		t.Errorf("a line after Close: destination has %q, want it written at once", got)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func TestLogSinkReportsItsDestinationsError(t *testing.T) {
	t.Parallel()
	broken := errors.New("disk full")
	d := &destination{err: broken}
	s := observability.NewLogSink(d, 0)
	if _, err := s.Write([]byte("lost\n")); err != nil {
		t.Fatalf("the first write, queued before any error: %v", err)
	}
	if err := s.Close(); !errors.Is(err, broken) {
		t.Errorf("Close = %v, want the destination's error", err)
	}
}

// BenchmarkLoggingToAFile logs request lines from every P to a file, as
// the serving process does, straight and through a sink: the sink's cost
// beside the baseline it replaces, measured in the same run.
func BenchmarkLoggingToAFile(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap func(io.Writer) (io.Writer, func() error)
	}{
		{"straight", func(w io.Writer) (io.Writer, func() error) { return w, func() error { return nil } }},
		{"through a sink", func(w io.Writer) (io.Writer, func() error) {
			s := observability.NewLogSink(w, 0)
			return s, s.Close
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "serve.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			w, closeSink := bc.wrap(f)
			log := observability.NewLogger(w, slog.LevelInfo).With("service", "products")
			ctx := observability.WithRequestID(context.Background(), "0193a1f4-5b6c-7d8e-9f00-112233445566")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", "GET"),
						slog.String("route", "GET /v1/products/{id}"), slog.String("path", "/v1/products/0193a1f4-5b6c-7d8e-9f00-112233445566"),
						slog.Int("status", 200), slog.Int("bytes", 452), slog.Float64("duration_ms", 0.041))
				}
			})
			if err := closeSink(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

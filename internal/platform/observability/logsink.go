package observability

import (
	"io"
	"sync"
)

// DefaultLogSinkSize is the most a LogSink holds by default: about a second
// of request lines from a process serving two thousand requests a second,
// longer than the stalls measured writing to a file or a pipe here
// (hundreds of milliseconds).
const DefaultLogSinkSize = 1 << 20

// LogSink is the writer a serving process logs through. A logger writes each
// line under one lock for every request; written straight to a file or a
// pipe, a write that stalls (a journal commit, a slow log collector) held
// that lock, and every request that logged waited behind it: a 2-core
// machine serving catalog reads saw them wait 0.3-3 s at once, with the
// requests themselves done in microseconds (ADR 69). A LogSink copies each
// line into memory under its own short lock, and one goroutine writes what
// has gathered, in one write, outside it. Lines keep their order and none is
// dropped: a writer waits only while the sink holds its whole size.
type LogSink struct {
	out  io.Writer
	size int

	mu      sync.Mutex
	room    sync.Cond // signalled when the writing goroutine takes the lines
	pending []byte    // lines not yet handed to the writing goroutine
	closed  bool
	err     error // the first error out returned

	wake chan struct{}
	done chan struct{}
}

// NewLogSink returns a sink writing to out that holds at most size bytes
// not yet written (DefaultLogSinkSize if size is not positive). Close
// writes what it still holds and stops it.
func NewLogSink(out io.Writer, size int) *LogSink {
	if size <= 0 {
		size = DefaultLogSinkSize
	}
	s := &LogSink{out: out, size: size, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.room.L = &s.mu
	go s.run()
	return s
}

// Write queues p, one line from a logger, to be written in order. It waits
// only while the sink is full; once the sink is closed it writes p itself.
// It reports the first error the destination returned, if any.
func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	for !s.closed && len(s.pending) > 0 && len(s.pending)+len(p) > s.size {
		s.room.Wait()
	}
	if s.closed {
		s.mu.Unlock()
		<-s.done // after the lines held, in order
		return s.out.Write(p)
	}
	s.pending = append(s.pending, p...)
	select { // under the lock, which Close closes wake under
	case s.wake <- struct{}{}:
	default: // already woken: the goroutine takes these lines with the others
	}
	err := s.err
	s.mu.Unlock()
	return len(p), err
}

// run writes the lines gathered since its last write, until Close.
func (s *LogSink) run() {
	defer close(s.done)
	var batch []byte
	for {
		_, open := <-s.wake
		s.mu.Lock()
		batch, s.pending = s.pending, batch[:0]
		s.room.Broadcast()
		s.mu.Unlock()
		if len(batch) > 0 {
			if _, err := s.out.Write(batch); err != nil {
				s.mu.Lock()
				if s.err == nil {
					s.err = err
				}
				s.mu.Unlock()
			}
		}
		if !open {
			return
		}
	}
}

// Close writes every line still held and stops the sink; lines written
// after it go straight to the destination. It returns the first error the
// destination returned.
func (s *LogSink) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.wake)
		s.room.Broadcast()
	}
	s.mu.Unlock()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

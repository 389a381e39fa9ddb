package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Readiness is checked in the background, and /readyz answers at once from
// the last result: a check run on request would queue behind the load it is
// meant to report on (a pool ping waiting for a connection the requests
// hold), and a gateway whose health check times out on a busy but healthy
// instance ejects it just when it is needed most.
const (
	defaultReadyInterval = 2 * time.Second
	defaultReadyTimeout  = 2 * time.Second
	// readyRetry is how soon a module that is not ready is checked again,
	// so that one starting up does not wait a whole interval to be let in.
	readyRetry = 250 * time.Millisecond
)

// errNotChecked is the state of a module before its first check ends.
var errNotChecked = errors.New("readiness not checked yet")

// SetReadiness sets how often each module's Ready runs and how long one
// check may take before it counts as failed (defaults 2s and 2s).
func (s *Server) SetReadiness(interval, timeout time.Duration) {
	s.readyInterval, s.readyTimeout = interval, timeout
}

// readiness is a module's last readiness result.
type readiness struct {
	err atomic.Pointer[error] // nil once a check has passed
}

// init starts a module with a check as not ready until its first check
// passes (Run makes that check before serving), and one without as ready.
func (r *readiness) init(check func(context.Context) error) {
	if check == nil {
		return
	}
	err := errNotChecked
	r.err.Store(&err)
}

// last returns the last check's error, or nil when it passed.
func (r *readiness) last() error {
	if p := r.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *readiness) set(err error) (changed bool) {
	var old *error
	if err == nil {
		old = r.err.Swap(nil)
	} else {
		old = r.err.Swap(&err)
	}
	return (old == nil) != (err == nil)
}

// startChecks runs every module's readiness checks until ctx ends. It
// returns once each module's first check has ended (passed, failed or
// timed out), so that a listener starts serving with a result to report;
// done is closed when every checker has stopped.
func (s *Server) startChecks(ctx context.Context, all []*running) (done <-chan struct{}) {
	var first, loops sync.WaitGroup
	notYet := int64(len(all)) // modules that have not passed a check yet
	if notYet == 0 {
		close(s.allReady)
	}
	passed := func() {
		if atomic.AddInt64(&notYet, -1) == 0 {
			close(s.allReady)
		}
	}
	for _, r := range all {
		first.Add(1)
		loops.Go(func() { s.checkLoop(ctx, r, first.Done, sync.OnceFunc(passed)) })
	}
	first.Wait()
	stopped := make(chan struct{})
	go func() { loops.Wait(); close(stopped) }()
	return stopped
}

// AllReady is closed once every module Run serves has passed a readiness
// check: the moment to tell a person the platform can be used.
func (s *Server) AllReady() <-chan struct{} { return s.allReady }

// checkLoop checks r now and then every interval (sooner while it is not
// ready) until ctx ends; checked is called after the first check, and
// passed after each check that passes.
func (s *Server) checkLoop(ctx context.Context, r *running, checked, passed func()) {
	interval, timeout := s.readyInterval, s.readyTimeout
	if interval <= 0 {
		interval = defaultReadyInterval
	}
	if timeout <= 0 {
		timeout = defaultReadyTimeout
	}
	for starting := true; ; {
		err := s.check(ctx, r, timeout)
		if ctx.Err() != nil {
			checked()
			return
		}
		if r.ready.set(err) {
			s.logReadiness(r.module.Name, err, starting)
		}
		starting = starting && err != nil
		if err == nil {
			passed()
		}
		checked()
		checked = func() {}
		wait := interval
		if err != nil {
			wait = min(interval, readyRetry)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// check runs one Ready call on a goroutine of its own, so that a check
// that ignores its context costs this module its readiness, not its
// checker: the call is abandoned at the timeout, and the next check waits
// until it has returned rather than pile up calls behind it.
func (s *Server) check(ctx context.Context, r *running, timeout time.Duration) error {
	if r.module.Ready == nil {
		return nil
	}
	if r.checking != nil {
		select {
		case <-r.checking:
		default:
			return errors.New("the previous readiness check has not returned")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	result := make(chan error, 1)
	r.checking = make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		result <- r.module.Ready(ctx)
	}(r.checking)
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logReadiness logs a module's change of readiness. Becoming ready the
// first time is not news at the info level: the binary says once that
// every module is (AllReady).
func (s *Server) logReadiness(module string, err error, starting bool) {
	switch {
	case err != nil:
		s.log.Warn("not ready", "service", module, "err", err)
	case starting:
		s.log.Debug("ready", "service", module)
	default:
		s.log.Info("ready again", "service", module)
	}
}

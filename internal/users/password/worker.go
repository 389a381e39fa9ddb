package password

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// workerEnv marks a process that NewProcessPool started as a hashing
// worker. An environment variable rather than a subcommand, so that a test
// binary can act as the worker too (its TestMain checks IsWorker).
const workerEnv = "MARKETPLACE_HASH_WORKER"

// hello is what a worker writes first: the parent then knows it started a
// hashing worker speaking this protocol, not a program that ignores the
// variable.
const hello = "marketplace-argon2id-worker/1"

const (
	// startTimeout bounds how long a new worker may take to say hello.
	startTimeout = 10 * time.Second
	// retryStart is how long a worker whose process would not start waits
	// before trying again; its jobs fail meanwhile.
	retryStart = time.Second
	// starveAfter is how long a job may stay in a worker process before
	// the worker hashes it itself: a hash takes tens of milliseconds, so a
	// job still unanswered after this is starved, because normal-priority
	// work (ours or another program's) takes every core. SCHED_IDLE would
	// leave it waiting for as long as that lasts; the login would time out.
	starveAfter = time.Second
)

// IsWorker reports whether this process was started as a hashing worker.
// main, and the TestMain of any test binary that starts a process pool,
// then run ServeWorker and exit with its code.
func IsWorker() bool { return os.Getenv(workerEnv) == "1" }

// ServeWorker is a hashing worker's main: it says hello, lowers its own
// CPU priority to the lowest there is, then hashes the jobs it reads on
// stdin and writes their results on stdout until stdin closes (the pool
// closed, or the parent died). It returns the exit code. Interrupts and
// SIGTERM are ignored: the parent decides when it ends.
func ServeWorker() int {
	// Ctrl-C in a terminal signals the whole process group: the parent
	// drains its requests, then ends its workers itself.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	// The hello goes out at normal priority: at idle priority, a worker
	// started while other work keeps every core busy could wait past
	// startTimeout to say it started, and the pool would refuse it.
	err := serveJobs(os.Stdin, os.Stdout, func() {
		if err := lowerPriority(); err != nil {
			// Still useful: hashing at a normal priority is what the
			// in-process pool does.
			fmt.Fprintln(os.Stderr, "hashing worker: could not lower its CPU priority:", err)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hashing worker:", err)
		return 1
	}
	return 0
}

// serveJobs says hello on w, calls started, then answers each request read
// from r on w, one at a time.
func serveJobs(r io.Reader, w io.Writer, started func()) error {
	dec, enc := gob.NewDecoder(r), gob.NewEncoder(w)
	if err := enc.Encode(response{Hash: hello}); err != nil {
		return fmt.Errorf("say hello: %w", err)
	}
	started()
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read a job: %w", err)
		}
		before, measured := processCPU()
		resp := req.run()
		if after, ok := processCPU(); measured && ok {
			// At idle priority a hash may wait long for a core: the
			// worker's rest is reckoned from the CPU it used, so that a
			// busy machine's waits do not lengthen the rests too.
			resp.Took = after - before
		}
		if err := enc.Encode(resp); err != nil {
			return fmt.Errorf("write a result: %w", err)
		}
	}
}

// workerEnviron is a worker's environment: the marker and the Go runtime's
// settings (GOMAXPROCS, GOGC, GODEBUG, ...), none of the service's own
// configuration, so that its secrets are not copied into the hashing
// processes, which need none.
func workerEnviron(parent []string) []string {
	env := []string{workerEnv + "=1"}
	for _, kv := range parent {
		if strings.HasPrefix(kv, "GO") && !strings.HasPrefix(kv, workerEnv+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// child is a worker's engine that hashes in a child process: one job at a
// time, over a pipe each way. Only the worker's goroutine uses it, except
// stop, which Close calls to end a job in flight.
type child struct {
	exe string

	// The current process, set by start; after a failed start, gone is a
	// timer that says when to try again.
	in, out *os.File // the parent's ends of the pipes
	enc     *gob.Encoder
	dec     *gob.Decoder
	gone    chan struct{} // closed once the process has exited and been reaped
	replies chan reply    // the answer to the job the process has, once read
	// owed: the process still has a job the worker gave up waiting for
	// and hashed itself; the next jobs are hashed here too until its
	// answer is read.
	owed bool
	// starveAfter bounds the wait for an answer (the constant, but for
	// tests); starved counts the jobs hashed here for want of it.
	starveAfter time.Duration
	starved     *atomic.Uint64

	mu      sync.Mutex
	proc    *os.Process // guarded by mu
	stopped bool        // guarded by mu
}

// start runs a new worker process and waits for its hello.
func (c *child) start() (err error) {
	in, childIn, err := os.Pipe() // parent's read end first: in reads the child's stdout
	if err != nil {
		return fmt.Errorf("password: hashing worker pipe: %w", err)
	}
	childOut, out, err := os.Pipe()
	if err != nil {
		in.Close()
		childIn.Close()
		return fmt.Errorf("password: hashing worker pipe: %w", err)
	}
	// Our own pipes rather than cmd's: cmd.Wait closes the pipes it made,
	// and here a goroutine waits for the process while the worker reads.
	cmd := exec.Command(c.exe)
	cmd.Env = workerEnviron(os.Environ())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = childOut, childIn, os.Stderr
	c.in, c.out, c.gone = in, out, make(chan struct{})
	c.mu.Lock()
	if c.stopped {
		err = errors.New("password: the pool is closed")
	} else if err = cmd.Start(); err == nil {
		c.proc = cmd.Process
	}
	c.mu.Unlock()
	childIn.Close()
	childOut.Close()
	if err != nil {
		in.Close()
		out.Close()
		c.in, c.out = nil, nil
		close(c.gone)
		return fmt.Errorf("password: start a hashing worker: %w", err)
	}
	gone := c.gone
	go func() {
		_ = cmd.Wait()
		close(gone)
	}()

	c.enc, c.dec = gob.NewEncoder(out), gob.NewDecoder(in)
	c.replies, c.owed = make(chan reply, 1), false
	timer := time.AfterFunc(startTimeout, func() { _ = cmd.Process.Kill() })
	var hi response
	err = c.dec.Decode(&hi)
	timer.Stop()
	if err == nil && hi.Hash != hello {
		err = fmt.Errorf("it said %q", hi.Hash)
	}
	if err != nil {
		c.discard()
		return fmt.Errorf("password: the hashing worker %s did not start: %w", c.exe, err)
	}
	return nil
}

// reply is an answer read from the process, or why none could be.
type reply struct {
	resp response
	err  error
}

// do sends r to the process and waits for its answer, or hashes r itself
// once the process is starved (see starveAfter), and while it still owes
// the answer to a job it was starved on. Any failure of the process ends
// it (its state is unknown) and is ErrWorkerFailed: the worker starts
// another, and the caller is told to try again, never given a guess.
func (c *child) do(r request) (response, error) {
	if c.enc == nil {
		return response{}, ErrWorkerFailed
	}
	if c.owed {
		select {
		case late := <-c.replies: // the starved job's answer, not r's
			c.owed = false
			if late.err != nil {
				return response{}, c.fail(late.err)
			}
		default:
			c.starved.Add(1)
			return r.run(), nil
		}
	}
	if err := c.enc.Encode(r); err != nil {
		return response{}, c.fail(err)
	}
	// One read at a time: the next starts only once this one has answered.
	go func(dec *gob.Decoder, replies chan<- reply) {
		var resp response
		err := dec.Decode(&resp)
		replies <- reply{resp, err}
	}(c.dec, c.replies)
	starved := time.NewTimer(c.starveAfter)
	defer starved.Stop()
	select {
	case rep := <-c.replies:
		if rep.err != nil {
			return response{}, c.fail(rep.err)
		}
		return rep.resp, nil
	case <-starved.C:
		c.owed = true
		c.starved.Add(1)
		return r.run(), nil
	}
}

// fail ends the process after err and says so as ErrWorkerFailed.
func (c *child) fail(err error) error {
	c.discard()
	return fmt.Errorf("%w: %w", ErrWorkerFailed, err)
}

// exited is closed when the process is gone, or after a failed start when
// it is time to try again.
func (c *child) exited() <-chan struct{} { return c.gone }

// restart replaces a process that exited. A failed start is retried after
// retryStart; jobs fail with ErrWorkerFailed meanwhile.
func (c *child) restart() {
	c.discard()
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return
	}
	if err := c.start(); err != nil {
		fmt.Fprintln(os.Stderr, err) // the service's log gets the child's stderr too
		retry := make(chan struct{})
		time.AfterFunc(retryStart, func() { close(retry) })
		c.gone = retry
	}
}

// discard kills the process, waits until it is reaped and closes the pipes.
func (c *child) discard() {
	c.mu.Lock()
	if c.proc != nil {
		_ = c.proc.Kill() // fails only if it has exited already
		c.proc = nil
	}
	c.mu.Unlock()
	if c.in != nil {
		<-c.gone
		c.in.Close()
		c.out.Close()
		c.in, c.out, c.enc, c.dec = nil, nil, nil, nil
	}
}

// stop kills the process from outside the worker's goroutine, which sees
// its job fail, and keeps any other from starting.
func (c *child) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.proc != nil {
		_ = c.proc.Kill()
	}
}

// shutdown is the worker's last act: the process is gone when it returns.
func (c *child) shutdown() {
	c.stop()
	c.discard()
}

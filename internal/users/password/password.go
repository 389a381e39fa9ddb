// Package password hashes passwords with argon2id on a bounded pool of
// workers. Hashing is deliberately expensive; bounding it keeps a flood of
// logins from starving every other request, and a full queue is refused at
// once rather than left to pile up. The workers hash either in this process
// (NewPool) or each in a child process of this binary that runs at the
// lowest CPU priority (NewProcessPool, ADR 35), so that hashing takes
// almost only CPU time nothing else wants; a job such a process is starved
// of CPU for is hashed in this process after a second. A worker rests
// between hashes (Limits.Busy, ADR 58), longer while the machine is busy
// with other work (Limits.Yield, ADR 68), and a verify against a hash made
// with cheaper parameters than the pool's costs what one with them does
// (ADR 59). A job that would wait for a worker longer than Limits.MaxWait
// is refused at once, as one beyond the queue is (ADR 70).
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Params are argon2id cost parameters. They are stored in every hash, so
// raising them later rehashes old passwords on their next login.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// OWASP is the OWASP Password Storage Cheat Sheet's argon2id baseline
// (19 MiB, 2 passes, 1 lane).
var OWASP = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32

	// Bounds on the parameters a stored hash may ask for: argon2 panics
	// below them, and above them one verify could exhaust the machine.
	maxMemoryKiB = 4 << 20 // 4 GiB
	maxTime      = 100
)

// Hash returns an argon2id hash of pw in PHC string form:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func (p Params) Hash(pw string) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64(salt), b64(key))
}

// Verify reports whether pw matches encoded, and whether encoded was made
// with parameters other than p (so it should be rehashed). A hash made
// with parameters cheaper than p is followed by its top-up (see topUp), so
// that the verify costs what one against a hash made with p does.
func (p Params) Verify(pw, encoded string) (ok, rehash bool, err error) {
	stored, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, stored.Time, stored.MemoryKiB, stored.Threads, uint32(len(key)))
	if extra, ok := p.topUp(stored); ok {
		_ = argon2.IDKey([]byte(pw), salt, extra.Time, extra.MemoryKiB, extra.Threads, keyLen) // only its time counts
	}
	return subtle.ConstantTimeCompare(got, key) == 1, stored != p, nil
}

// work is how long a hash with p takes, relative to another's: argon2
// fills MemoryKiB (at least 8 KiB a lane, as it rounds up to) Time times,
// its lanes (Threads) side by side. More lanes make a hash quicker, so
// adding them lowers its cost as fewer passes do.
func (p Params) work() float64 {
	lanes := float64(max(p.Threads, 1))
	return max(float64(p.MemoryKiB), 8*lanes) * float64(p.Time) / lanes
}

// topUp is the hash that makes up what a hash made with stored costs less
// than one made with p, when it does: p's passes and lanes over the memory
// that brings the two hashes' work to p's (ADR 59). Without it, after the
// parameters are raised, a wrong password for an account not rehashed
// since would be answered sooner than one for an unknown email, which is
// verified against a hash made with p, and its worker would be free
// sooner for the next login: either would tell an attacker which emails
// have accounts. A hash costs the same CPU wherever and whenever it runs,
// so the top-up's time follows the machine's load as the dummy's does.
func (p Params) topUp(stored Params) (Params, bool) {
	missing := p.work() - stored.work()
	if missing <= 0 || p.Time < 1 {
		return Params{}, false
	}
	lanes := max(p.Threads, 1)
	memory := math.Max(math.Round(missing*float64(lanes)/float64(p.Time)), 8*float64(lanes))
	return Params{MemoryKiB: uint32(memory), Time: p.Time, Threads: lanes}, true
}

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	var (
		p       Params
		version int
	)
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("password: not an argon2id hash")
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errors.New("password: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("password: bad parameters: %w", err)
	}
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.MemoryKiB > maxMemoryKiB {
		return p, nil, nil, fmt.Errorf("password: parameters %+v out of range", p)
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err := errors.Join(err1, err2); err != nil || len(key) == 0 {
		return p, nil, nil, errors.New("password: bad salt or hash encoding")
	}
	return p, salt, key, nil
}

// ErrBusy is returned when the hashing queue is full.
var ErrBusy = &errs.Error{Kind: errs.Unavailable, Code: "busy", Message: "too many sign-ins at once; try again shortly", RetryAfter: time.Second}

// ErrWorkerFailed is returned when the hashing process died or could not be
// started while it had the caller's job: the caller gets a 503, never a
// guess, and the worker starts a new process for the next job.
var ErrWorkerFailed = &errs.Error{Kind: errs.Unavailable, Code: "hashing_unavailable", Message: "sign-in is briefly unavailable; try again shortly", RetryAfter: time.Second}

// request is one hashing job, as a worker (in this process or a child
// one) receives it.
type request struct {
	Verify   bool // else Hash
	Params   Params
	Password string
	Encoded  string // the stored hash Verify checks against
}

// response is a job's result. Err is Verify's error (a malformed stored
// hash) as text, since it has to cross a pipe.
type response struct {
	Hash       string
	OK, Rehash bool
	Err        string
	// Took is how long the hash took where it ran, without the time the
	// job waited for it: what a worker's rest is reckoned from. A child
	// process reports the CPU time it used instead (see serveJobs).
	Took time.Duration
}

func (r request) run() response {
	start := time.Now()
	resp := r.hash()
	resp.Took = time.Since(start)
	return resp
}

func (r request) hash() response {
	if !r.Verify {
		return response{Hash: r.Params.Hash(r.Password)}
	}
	ok, rehash, err := r.Params.Verify(r.Password, r.Encoded)
	resp := response{OK: ok, Rehash: rehash}
	if err != nil {
		resp.Err = err.Error()
	}
	return resp
}

// engine runs a worker's jobs: here, or in the worker's child process.
type engine interface {
	// do runs a job; an error means the engine failed, not the job.
	do(request) (response, error)
	// exited is closed when the engine must be restarted (nil: never).
	exited() <-chan struct{}
	restart()
	// shutdown releases the engine for good.
	shutdown()
}

// inProcess hashes on the worker's goroutine.
type inProcess struct{}

func (inProcess) do(r request) (response, error) { return r.run(), nil }
func (inProcess) exited() <-chan struct{}        { return nil }
func (inProcess) restart()                       {}
func (inProcess) shutdown()                      {}

// Limits bound a pool's hashing.
type Limits struct {
	// Workers is how many hashes run at once.
	Workers int
	// Queue is how many admitted jobs may wait for a worker; a job beyond
	// it is refused at once.
	Queue int
	// Busy is the most of its time a worker spends hashing. After a hash
	// that took d, the worker rests d × (1 − Busy) / Busy, at most
	// maxRest, before it takes the next job. A value outside (0, 1), as
	// the zero value, never rests. On two cores, a hashing process that
	// always had a hash to run took catalog reads' p99 during a login
	// flood past twice its quiet value even at the lowest CPU priority;
	// one that rested as long as it hashed kept it under that in 7 of 8
	// runs (ADR 58).
	Busy float64
	// Yield, above zero, makes the share follow the machine's load (ADR
	// 68): Busy is the share while nothing else wants the CPUs, and it
	// falls in step with the share of all CPUs' time that other work (all
	// but this pool's hashing) used in the last quarter second, to a fifth
	// of Busy once that reaches Yield. Zero, or a machine whose CPU time
	// cannot be read (it is read from Linux's /proc/stat), keeps the share
	// at Busy. Beside catalog reads that kept most of a 2-core machine
	// busy, a worker hashing a tenth of its time kept the reads' p99
	// within twice quiet during a login flood in two runs of two, one
	// hashing half of it in three of eight; a quiet machine's logins need
	// no such cut.
	Yield float64
	// MaxWait, above zero, bounds how long an admitted job is expected to
	// wait for a worker: a job that would find more jobs ahead of it than
	// the workers finish in MaxWait, at the pace of their recent hashes
	// and rests, is refused at once as one beyond Queue is (ADR 70).
	// Queue alone bounds a count, and the time that count takes grows as
	// the workers rest longer (Yield): at a tenth of the time, 16 queued
	// logins waited over 5 s, beyond what a client waits for a sign-in.
	MaxWait time.Duration
}

// maxRest bounds a worker's rest whatever Busy asks.
const maxRest = time.Hour

// yieldFloor is the part of Busy left to the hashing however busy the
// machine: logins are still served, if slowly, under any load.
const yieldFloor = 0.2

// share is the most of its time a worker spends hashing while other work
// uses the share other of the machine's CPU time.
func (l Limits) share(other float64) float64 {
	if !(l.Yield > 0) || !(other > 0) { // NaN too
		return l.Busy
	}
	return l.Busy * (1 - min(other/l.Yield, 1)*(1-yieldFloor))
}

// restAfter is how long a worker rests after a hash that took d, while
// other work uses the share other of the machine's CPU time.
func (l Limits) restAfter(d time.Duration, other float64) time.Duration {
	share := l.share(other)
	if !(share > 0 && share < 1) { // NaN too
		return 0
	}
	return time.Duration(math.Min(math.Round(float64(d)*(1-share)/share), float64(maxRest)))
}

// withinWait reports whether a job that finds ahead jobs admitted and not
// finished, on workers that take cycle from one job to the next, is
// expected to wait at most MaxWait for one of them. Two jobs admitted at
// once may both count the same jobs ahead: the bound is an estimate, and
// Queue still caps the count exactly.
func (l Limits) withinWait(ahead int, cycle time.Duration) bool {
	if l.MaxWait <= 0 || cycle <= 0 || ahead == 0 {
		return true
	}
	return float64(ahead)*float64(cycle) <= float64(l.MaxWait)*float64(max(l.Workers, 1))
}

// Pool runs hashes on a fixed number of workers with a bounded queue.
type Pool struct {
	params Params
	limits Limits
	// room holds a token for each job admitted and not yet finished, so
	// that admission can come before the work that prepares a job (see
	// VerifyLoaded); jobs has room for all of them, so queuing an
	// admitted job never waits.
	room     chan struct{}
	jobs     chan func(engine)
	done     chan struct{}
	children []*child // one per worker when hashing in child processes
	starved  *atomic.Uint64
	meter    *loadMeter // nil unless the share follows the load (Limits.Yield)
	// hashing is how long the workers' recent hashes took (a moving
	// average, in nanoseconds; zero before the first): with the rest the
	// share now asks after each, the pace Limits.MaxWait reckons a
	// queue's wait at (see cycle).
	hashing atomic.Int64
	workers sync.WaitGroup
	close   sync.Once
}

// DefaultWorkers is how many hashes run at once unless configured: half
// the CPUs the process may use, at least one. Hashing is CPU-bound and
// each hash keeps a core busy for tens of milliseconds, so a worker per
// CPU lets a flood of logins take every core from the catalog reads and
// checkouts running beside it (measured on 2 cores: product-detail p99
// from 80 ms to 8.5 s); half leaves the rest of the service its share.
func DefaultWorkers() int { return workersFor(runtime.GOMAXPROCS(0)) }

func workersFor(procs int) int { return max(1, procs/2) }

// NewPool starts workers that hash in this process, within limits.
func NewPool(params Params, limits Limits) *Pool {
	p := newPool(params, limits)
	for range limits.Workers {
		p.start(inProcess{})
	}
	return p
}

// NewProcessPool is NewPool with each worker hashing in a child process:
// this binary started again as a hashing worker (see IsWorker), at the
// lowest CPU priority. It fails if a child does not start.
func NewProcessPool(params Params, limits Limits) (*Pool, error) {
	if IsWorker() {
		// A hashing worker that got here is a program that does not
		// serve jobs when started as one: refuse rather than start
		// itself again and again.
		return nil, errors.New("password: a hashing worker cannot start hashing workers")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("password: the hashing worker's executable: %w", err)
	}
	p := newPool(params, limits)
	for range limits.Workers {
		c := &child{exe: exe, starveAfter: starveAfter, starved: p.starved}
		if err := c.start(); err != nil {
			p.Close()
			return nil, err
		}
		p.children = append(p.children, c)
		p.start(c)
	}
	return p, nil
}

func newPool(params Params, limits Limits) *Pool {
	size := limits.Workers + limits.Queue
	p := &Pool{params: params, limits: limits, room: make(chan struct{}, size), jobs: make(chan func(engine), size),
		done: make(chan struct{}), starved: new(atomic.Uint64)}
	if limits.Yield > 0 {
		if p.meter = newLoadMeter(func() (cpuTimes, error) { return readCPUTimes(procStat) }, meterEvery); p.meter != nil {
			p.workers.Go(func() { p.meter.run(p.done) })
		}
	}
	return p
}

// Share is the most of its time a worker now spends hashing: Limits.Busy,
// less while the machine is busy with other work if Limits.Yield says so.
func (p *Pool) Share() float64 { return p.limits.share(p.meter.otherLoad()) }

// Starved is how many jobs the pool's workers hashed in this process
// because their child process was starved of CPU (see starveAfter): zero
// for an in-process pool, and on a machine with CPU to spare.
func (p *Pool) Starved() uint64 { return p.starved.Load() }

func (p *Pool) start(e engine) {
	p.workers.Go(func() {
		defer e.shutdown()
		for {
			select {
			case <-p.done:
				return
			case <-e.exited():
				// A child that died is replaced before the next job is
				// taken: when both are ready, select would pick either, and
				// the job would fail on the dead child for nothing.
				e.restart()
				continue
			default:
			}
			select {
			case job := <-p.jobs:
				// The rest comes after the job's answer, so that a single
				// login is not slowed, and before the next job, so that the
				// hashing process is off the run queue meanwhile (ADR 58).
				// It is reckoned from the hash alone: time a starved child
				// kept the job waiting is not hashing.
				t := &timed{engine: e}
				job(t)
				p.meter.addHashed(t.took)
				p.timeHash(t.took)
				if !p.pause(p.limits.restAfter(t.took, p.meter.otherLoad())) {
					return
				}
			case <-e.exited(): // a child process died, even between jobs
				e.restart()
			case <-p.done:
				return
			}
		}
	})
}

// timed is an engine that adds up how long its jobs' hashes took.
type timed struct {
	engine
	took time.Duration
}

func (t *timed) do(r request) (response, error) {
	resp, err := t.engine.do(r)
	t.took += resp.Took
	return resp, err
}

// timeHash adds a hash that took d to the pool's recent hashing time,
// at a quarter weight, so that one hash the scheduler delayed does not
// set it. A job that hashed nothing (its caller had left) says nothing.
func (p *Pool) timeHash(d time.Duration) {
	if d <= 0 {
		return
	}
	for {
		old := p.hashing.Load()
		next := int64(d)
		if old > 0 {
			next = old + (next-old)/4
		}
		if p.hashing.CompareAndSwap(old, next) {
			return
		}
	}
}

// cycle is how long a worker now takes from one job to the next: a recent
// hash and the rest the share in force asks after it. The rest is
// reckoned now rather than taken from the last jobs, so that when a
// flood begins beside other work and the share falls (Limits.Yield), the
// logins admitted next are counted at the new pace, not the idle one.
func (p *Pool) cycle() time.Duration {
	hash := time.Duration(p.hashing.Load())
	return hash + p.limits.restAfter(hash, p.meter.otherLoad())
}

// pause waits d, and reports false if the pool closed meanwhile.
func (p *Pool) pause(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.done:
		return false
	}
}

// Close stops the workers and their child processes, and returns once
// they are gone. Jobs still queued are abandoned and a job in a child
// fails; their callers are released by their contexts or get an error.
// A worker's rest ends at once.
func (p *Pool) Close() {
	p.close.Do(func() {
		close(p.done)
		for _, c := range p.children {
			c.stop()
		}
		p.workers.Wait()
	})
}

// Hash hashes pw with the pool's parameters.
func (p *Pool) Hash(ctx context.Context, pw string) (string, error) {
	if !p.admit() {
		return "", ErrBusy
	}
	resp, err := p.do(ctx, request{Params: p.params, Password: pw})
	return resp.Hash, err
}

// Verify checks pw against encoded; see Params.Verify.
func (p *Pool) Verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
	return p.VerifyLoaded(ctx, pw, func(context.Context) (string, error) { return encoded, nil })
}

// VerifyLoaded is Verify against the hash load returns, and load runs only
// once the pool has admitted the job: a login refused because hashing is
// full costs none of the reads that find its hash. A load error is
// returned as it is.
func (p *Pool) VerifyLoaded(ctx context.Context, pw string, load func(context.Context) (string, error)) (ok, rehash bool, err error) {
	if !p.admit() {
		return false, false, ErrBusy
	}
	encoded, err := load(ctx)
	if err != nil {
		p.leave()
		return false, false, err
	}
	resp, err := p.do(ctx, request{Verify: true, Params: p.params, Password: pw, Encoded: encoded})
	if err != nil {
		return false, false, err
	}
	if resp.Err != "" {
		return false, false, errors.New(resp.Err)
	}
	return resp.OK, resp.Rehash, nil
}

// admit takes room for one job, or reports at once that there is none,
// or that the job would wait longer than Limits.MaxWait for a worker. The
// job gives its room back when it finishes (see enqueue).
func (p *Pool) admit() bool {
	if !p.limits.withinWait(len(p.room), p.cycle()) {
		return false
	}
	select {
	case p.room <- struct{}{}:
		return true
	default:
		return false
	}
}

func (p *Pool) leave() { <-p.room }

// do runs an admitted job and waits for it.
func (p *Pool) do(ctx context.Context, req request) (response, error) {
	var (
		resp response
		err  error
	)
	if runErr := p.enqueue(ctx, func(e engine) { resp, err = e.do(req) }); runErr != nil {
		return response{}, runErr
	}
	return resp, err
}

// enqueue queues an admitted job, which never waits for room, and waits
// for it. A caller that gives up leaves the job to finish harmlessly; the
// job's room is given back only then, so that the queue never holds more
// jobs than it admitted.
func (p *Pool) enqueue(ctx context.Context, job func(engine)) error {
	finished := make(chan struct{})
	ran := false // written before finished is closed
	p.jobs <- func(e engine) {
		defer close(finished)
		defer p.leave()
		if ctx.Err() == nil { // the caller may have left while it waited
			job(e)
			ran = true
		}
	}
	select {
	case <-finished:
		// Both may be ready at once, and select picks either: a job
		// skipped for an ended context must not look done, or Hash would
		// return an empty hash and no error.
		if !ran {
			return ctx.Err()
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

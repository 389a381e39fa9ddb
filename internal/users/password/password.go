// Package password hashes passwords with argon2id on a bounded pool of
// workers. Hashing is deliberately expensive; bounding it keeps a flood of
// logins from starving every other request, and a full queue is refused at
// once rather than left to pile up.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
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
// with parameters other than p (so it should be rehashed).
func (p Params) Verify(pw, encoded string) (ok, rehash bool, err error) {
	stored, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, stored.Time, stored.MemoryKiB, stored.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, stored != p, nil
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

// Pool runs hashes on a fixed number of workers with a bounded queue.
type Pool struct {
	params Params
	jobs   chan func()
	done   chan struct{}
}

// DefaultWorkers is how many hashes run at once unless configured: half
// the CPUs the process may use, at least one. Hashing is CPU-bound and
// each hash keeps a core busy for tens of milliseconds, so a worker per
// CPU lets a flood of logins take every core from the catalog reads and
// checkouts running beside it (measured on 2 cores: product-detail p99
// from 80 ms to 8.5 s); half leaves the rest of the service its share.
func DefaultWorkers() int { return workersFor(runtime.GOMAXPROCS(0)) }

func workersFor(procs int) int { return max(1, procs/2) }

// NewPool starts workers that take jobs from a queue of the given size:
// at most workers hashes run at once, and a full queue is refused.
func NewPool(params Params, workers, queue int) *Pool {
	p := &Pool{params: params, jobs: make(chan func(), queue), done: make(chan struct{})}
	for range workers {
		go p.work()
	}
	return p
}

func (p *Pool) work() {
	for {
		select {
		case job := <-p.jobs:
			job()
		case <-p.done:
			return
		}
	}
}

// Close stops the workers. Jobs still queued are abandoned; their callers
// are released by their contexts.
func (p *Pool) Close() { close(p.done) }

// Hash hashes pw with the pool's parameters.
func (p *Pool) Hash(ctx context.Context, pw string) (string, error) {
	var h string
	if err := p.run(ctx, func() { h = p.params.Hash(pw) }); err != nil {
		return "", err
	}
	return h, nil
}

// Verify checks pw against encoded; see Params.Verify.
func (p *Pool) Verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
	runErr := p.run(ctx, func() { ok, rehash, err = p.params.Verify(pw, encoded) })
	if runErr != nil {
		return false, false, runErr
	}
	return ok, rehash, err
}

// run queues job and waits for it. A full queue fails at once with ErrBusy;
// a caller that gives up leaves the job to finish harmlessly.
func (p *Pool) run(ctx context.Context, job func()) error {
	finished := make(chan struct{})
	select {
	case p.jobs <- func() {
		defer close(finished)
		if ctx.Err() == nil { // the caller may have left while it waited
			job()
		}
	}:
	default:
		return ErrBusy
	}
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

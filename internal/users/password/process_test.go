package password

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// TestMain lets this test binary be the hashing worker that the process
// pool's tests start: NewProcessPool runs os.Executable, which is it.
func TestMain(m *testing.M) {
	if IsWorker() {
		os.Exit(ServeWorker())
	}
	os.Exit(m.Run())
}

// newProcessPool starts a pool over child processes, closed at the end.
func newProcessPool(t *testing.T, params Params, workers, queue int) *Pool {
	t.Helper()
	p, err := NewProcessPool(params, Limits{Workers: workers, Queue: queue})
	if err != nil {
		t.Fatalf("NewProcessPool: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// pids returns the process id of each worker's current child.
func pids(p *Pool) []int {
	var ids []int
	for _, c := range p.children {
		c.mu.Lock()
		if c.proc != nil {
			ids = append(ids, c.proc.Pid)
		}
		c.mu.Unlock()
	}
	return ids
}

// alive reports whether a process with this id exists (and is not a zombie
// we failed to reap: Kill(pid, 0) succeeds on those too).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestAProcessPoolHashesAndVerifiesInItsChildren(t *testing.T) {
	t.Parallel()
	p := newProcessPool(t, fast, 2, 16)
	stronger := Params{MemoryKiB: 128, Time: 1, Threads: 1}
	tests := []struct {
		name, password, attempt string
		hashedWith              Params
		ok, rehash              bool
	}{
		{name: "the right password verifies", password: "plum-kettle-orbit-42", attempt: "plum-kettle-orbit-42", hashedWith: fast, ok: true},
		{name: "a wrong password does not", password: "plum-kettle-orbit-42", attempt: "plum-kettle-orbit-43", hashedWith: fast},
		{name: "any bytes cross the pipe unchanged", password: "pässwörd-🔑\x00\xff", attempt: "pässwörd-🔑\x00\xff", hashedWith: fast, ok: true},
		{name: "a hash with other parameters asks for a rehash", password: "pw", attempt: "pw", hashedWith: stronger, ok: true, rehash: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.hashedWith.Hash(tt.password)
			if tt.hashedWith == fast {
				var err error
				if h, err = p.Hash(context.Background(), tt.password); err != nil {
					t.Fatalf("Hash: %v", err)
				}
				if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
					t.Fatalf("hash %q was not made with the pool's parameters", h)
				}
			}
			ok, rehash, err := p.Verify(context.Background(), tt.attempt, h)
			if ok != tt.ok || rehash != tt.rehash || err != nil {
				t.Errorf("Verify = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tt.ok, tt.rehash)
			}
		})
	}
	if _, _, err := p.Verify(context.Background(), "pw", "not a hash"); err == nil || errors.Is(err, ErrWorkerFailed) {
		t.Errorf("Verify of a malformed hash: %v; want the hash's error, not a failed worker", err)
	}
}

func TestAJobWhoseChildDiesFailsAndTheChildIsReplaced(t *testing.T) {
	t.Parallel()
	p := newProcessPool(t, fast, 1, 4)
	// A killed process at idle priority may wait for CPU to die, on a busy
	// machine longer than starveAfter: the job must see the death.
	p.children[0].starveAfter = time.Hour
	first := pids(p)[0]

	// The child dies just as the job is handed to it.
	var jobErr error
	if err := p.run(context.Background(), func(e engine) {
		_ = syscall.Kill(first, syscall.SIGKILL)
		_, jobErr = e.do(request{Params: fast, Password: "pw"})
	}); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(jobErr, ErrWorkerFailed) {
		t.Fatalf("the job of a dead child: %v, want ErrWorkerFailed", jobErr)
	}
	if e, ok := errs.As(jobErr); !ok || e.Kind != errs.Unavailable || e.RetryAfter <= 0 {
		t.Errorf("ErrWorkerFailed is %+v; want an Unavailable error with a Retry-After", e)
	}

	h, err := p.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatalf("Hash after the child died: %v", err)
	}
	if ok, _, err := p.Verify(context.Background(), "pw", h); !ok || err != nil {
		t.Errorf("Verify after the child died: %v, %v", ok, err)
	}
	if now := pids(p); len(now) != 1 || now[0] == first {
		t.Errorf("children %v; want one new one in place of %d", now, first)
	}
	if alive(first) {
		t.Errorf("the killed child %d was not reaped", first)
	}
}

func TestAChildThatDiesBetweenJobsIsReplacedBeforeTheNext(t *testing.T) {
	t.Parallel()
	p := newProcessPool(t, fast, 1, 4)
	first := pids(p)[0]
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, "a new child in place of the killed one", func() bool {
		now := pids(p)
		return len(now) == 1 && now[0] != first
	})
	if _, err := p.Hash(context.Background(), "pw"); err != nil {
		t.Errorf("Hash on the replaced child: %v", err)
	}
}

func TestAFullProcessPoolRefusesAtOnce(t *testing.T) {
	t.Parallel()
	p := newProcessPool(t, fast, 1, 1)
	release := block(t, p)
	defer release()
	queued := make(chan error, 1)
	go func() { _, err := p.Hash(context.Background(), "queued"); queued <- err }()
	waitQueued(t, p, 1)
	if _, err := p.Hash(context.Background(), "refused"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash on a full pool: %v, want ErrBusy", err)
	}
	release()
	if err := <-queued; err != nil {
		t.Errorf("the queued hash failed: %v", err)
	}
}

func TestClosingAProcessPoolLeavesNoChild(t *testing.T) {
	t.Parallel()
	p, err := NewProcessPool(fast, Limits{Workers: 3, Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.children {
		c.starveAfter = time.Hour // the slow job must stay in its child
	}
	children := pids(p)
	if len(children) != 3 {
		t.Fatalf("children %v; want 3", children)
	}
	// A job in flight when the pool closes fails rather than hangs.
	inFlight := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		inFlight <- p.run(context.Background(), func(e engine) {
			close(started)
			if _, err := e.do(request{Params: Params{MemoryKiB: 8 << 10, Time: 50, Threads: 1}, Password: "slow"}); !errors.Is(err, ErrWorkerFailed) {
				t.Errorf("a job in flight at Close: %v, want ErrWorkerFailed", err)
			}
		})
	}()
	<-started
	p.Close()
	for _, pid := range children {
		if alive(pid) {
			t.Errorf("child %d is still there after Close", pid)
		}
	}
	if err := eventually.Receive(t, "the job in flight to end", inFlight); err != nil {
		t.Errorf("run: %v", err)
	}
	p.Close() // twice is harmless
}

func TestAStarvedChildsJobsAreHashedByItsWorkerUntilItAnswersAgain(t *testing.T) {
	t.Parallel()
	p := newProcessPool(t, fast, 1, 4)
	p.children[0].starveAfter = 50 * time.Millisecond // ordered before the worker's first job by the queue
	pid := pids(p)[0]
	// A stopped process gets no CPU at all: what a SCHED_IDLE one gets
	// while normal-priority work keeps every core busy.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	starved, err := p.Hash(ctx, "starved") // given up on after 50 ms
	if err != nil {
		t.Fatalf("Hash on a starved child: %v", err)
	}
	owed := false
	behind, err := p.Hash(ctx, "behind") // not given to the child at all
	if err == nil {
		err = p.run(ctx, func(e engine) { owed = childOf(e).owed })
	}
	if err != nil || !owed {
		t.Fatalf("Hash behind a starved job: %v; the child owes an answer: %v, want true", err, owed)
	}
	if n := p.Starved(); n != 2 {
		t.Errorf("Starved() = %d after two jobs hashed for a starved child, want 2", n)
	}

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, "the child to answer its late job and take new ones", func() bool {
		err := p.run(ctx, func(e engine) {
			c := childOf(e)
			c.starveAfter = time.Hour // a job it takes now is one it answers
			_, _ = c.do(request{Params: fast, Password: "probe"})
			owed = c.owed
		})
		return err == nil && !owed
	})
	// The late answer was not taken for another job's: the child's answers
	// line up with the jobs again.
	tests := []struct {
		name, password, hash string
		ok                   bool
	}{
		{name: "the starved job's hash verifies", password: "starved", hash: starved, ok: true},
		{name: "the job behind it verifies", password: "behind", hash: behind, ok: true},
		{name: "a wrong password does not", password: "behind", hash: starved},
	}
	for _, tt := range tests {
		if ok, _, err := p.Verify(ctx, tt.password, tt.hash); ok != tt.ok || err != nil {
			t.Errorf("%s: Verify = %v, %v; want %v", tt.name, ok, err, tt.ok)
		}
	}
	if now := pids(p); len(now) != 1 || now[0] != pid {
		t.Errorf("children %v; want the starved one, %d, still there", now, pid)
	}
}

func TestAHashingWorkerDoesNotStartWorkers(t *testing.T) {
	t.Setenv(workerEnv, "1")
	if p, err := NewProcessPool(fast, Limits{Workers: 1, Queue: 1}); err == nil {
		p.Close()
		t.Fatal("a process marked as a hashing worker started a pool of workers")
	}
}

func TestAProgramThatIsNotAWorkerFailsToStart(t *testing.T) {
	t.Parallel()
	c := &child{exe: "/bin/true", starved: new(atomic.Uint64)}
	if err := c.start(); err == nil {
		c.shutdown()
		t.Fatal("a program that never says hello was taken for a worker")
	}
}

func TestAWorkerGetsTheGoRuntimeSettingsButNotTheServicesConfiguration(t *testing.T) {
	t.Parallel()
	got := workerEnviron([]string{"GOMAXPROCS=1", "GODEBUG=gctrace=1", "AUTH_SIGNING_KEYS=secret", "USERS_PII_KEYS=k1:secret", "PATH=/bin", workerEnv + "=0"})
	want := []string{workerEnv + "=1", "GOMAXPROCS=1", "GODEBUG=gctrace=1"}
	if !slices.Equal(got, want) {
		t.Errorf("workerEnviron = %q, want %q", got, want)
	}
}

// childOf is the child process behind the engine a job is given.
func childOf(e engine) *child { return e.(*timed).engine.(*child) }

func TestAChildReportsTheCPUItsHashUsed(t *testing.T) {
	t.Parallel()
	p := newProcessPool(t, OWASP, 1, 0)
	var resp response
	var err error
	if runErr := p.run(context.Background(), func(e engine) { resp, err = e.do(request{Params: OWASP, Password: "pw"}) }); runErr != nil {
		t.Fatal(runErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	// A 19 MiB argon2id hash takes tens of milliseconds of CPU; a child
	// that reported nothing would leave its worker no rest.
	if resp.Hash == "" || resp.Took <= 0 {
		t.Errorf("a child's hash %q took %v by its report; want a hash and its CPU time", resp.Hash, resp.Took)
	}
}

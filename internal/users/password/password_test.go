package password

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// fast keeps the unit tests quick; the format and logic do not depend on cost.
var fast = Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHashAndVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"plum-kettle-orbit-42", "", "pässwörd-ünïcode-🔑", strings.Repeat("x", 256)} {
		t.Run(pw, func(t *testing.T) {
			h := fast.Hash(pw)
			if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Errorf("hash %q is not in PHC form with its parameters", h)
			}
			if ok, rehash, err := fast.Verify(pw, h); !ok || rehash || err != nil {
				t.Errorf("right password: ok %v, rehash %v, err %v", ok, rehash, err)
			}
			if ok, _, err := fast.Verify(pw+"x", h); ok || err != nil {
				t.Errorf("wrong password: ok %v, err %v", ok, err)
			}
			if fast.Hash(pw) == h {
				t.Error("two hashes of one password are equal: no random salt")
			}
		})
	}
}

func TestVerifyAsksForARehashWhenParametersDiffer(t *testing.T) {
	t.Parallel()
	current := Params{MemoryKiB: 128, Time: 2, Threads: 1}
	tests := []struct {
		name   string
		stored Params
		rehash bool
	}{
		{"same parameters", current, false},
		{"less memory", Params{MemoryKiB: 64, Time: 2, Threads: 1}, true},
		{"fewer passes", Params{MemoryKiB: 128, Time: 1, Threads: 1}, true},
		{"more lanes", Params{MemoryKiB: 128, Time: 2, Threads: 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := current.Verify("plum-kettle-orbit-42", tt.stored.Hash("plum-kettle-orbit-42"))
			if !ok || err != nil || rehash != tt.rehash {
				t.Errorf("ok %v, rehash %v, err %v; want ok, rehash %v", ok, rehash, err, tt.rehash)
			}
		})
	}
}

func TestATopUpMakesACheaperHashCostWhatACurrentOneDoes(t *testing.T) {
	t.Parallel()
	current := Params{MemoryKiB: 1024, Time: 2, Threads: 1}
	tests := []struct {
		name    string
		current Params
		stored  Params
		want    *Params // nil: no top-up
	}{
		{"same parameters", current, current, nil},
		{"half the memory", current, Params{MemoryKiB: 512, Time: 2, Threads: 1}, &Params{MemoryKiB: 512, Time: 2, Threads: 1}},
		{"half the passes", current, Params{MemoryKiB: 1024, Time: 1, Threads: 1}, &Params{MemoryKiB: 512, Time: 2, Threads: 1}},
		{"a quarter of the work over four lanes", Params{MemoryKiB: 1024, Time: 2, Threads: 4}, Params{MemoryKiB: 256, Time: 2, Threads: 4},
			&Params{MemoryKiB: 768, Time: 2, Threads: 4}},
		{"a sliver less, topped up by argon2's least memory", current, Params{MemoryKiB: 1023, Time: 2, Threads: 1}, &Params{MemoryKiB: 8, Time: 2, Threads: 1}},
		{"more passes", current, Params{MemoryKiB: 1024, Time: 3, Threads: 1}, nil},
		{"one lane where now two run side by side", Params{MemoryKiB: 1024, Time: 2, Threads: 2}, current, nil},
		{"no memory, as argon2 rounds up", current, Params{MemoryKiB: 0, Time: 1, Threads: 1}, &Params{MemoryKiB: 1020, Time: 2, Threads: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.current.topUp(tt.stored)
			switch {
			case tt.want == nil && ok:
				t.Errorf("top-up %+v, want none", got)
			case tt.want != nil && (!ok || got != *tt.want):
				t.Errorf("top-up %+v (%v), want %+v", got, ok, *tt.want)
			}
		})
	}
}

func TestAVerifyAgainstACheaperHashAlsoRunsItsTopUp(t *testing.T) {
	// Not parallel: it counts the bytes the whole process allocates, of
	// which argon2's memory is nearly all. Memory shows that the top-up
	// ran, and with its memory; its passes, which memory cannot show, are
	// TestATopUpMakesACheaperHashCostWhatACurrentOneDoes's.
	current := Params{MemoryKiB: 8 << 10, Time: 2, Threads: 1}
	const pw = "plum-kettle-orbit-42"
	allocatedKiB := func(encoded string) float64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if ok, _, err := current.Verify("wrong", encoded); ok || err != nil {
			t.Fatalf("a wrong password: ok %v, err %v", ok, err)
		}
		runtime.ReadMemStats(&after)
		return float64(after.TotalAlloc-before.TotalAlloc) / 1024
	}
	for _, stored := range []Params{
		current,
		{MemoryKiB: 1 << 10, Time: 2, Threads: 1}, // topped up with 7 MiB
		{MemoryKiB: 8 << 10, Time: 1, Threads: 1}, // topped up with 4 MiB
	} {
		want := float64(stored.MemoryKiB)
		if extra, ok := current.topUp(stored); ok {
			want += float64(extra.MemoryKiB)
		}
		if got := allocatedKiB(stored.Hash(pw)); got < want*0.95 || got > want*1.05 {
			t.Errorf("a verify against a hash made with %+v allocated %.0f KiB, want its hash's and its top-up's %.0f KiB", stored, got, want)
		}
	}
}

func TestVerifyRefusesMalformedHashesWithoutPanicking(t *testing.T) {
	t.Parallel()
	good := fast.Hash("pw")
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for _, tt := range []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", "pw"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with(1, "argon2i")},
		{"another version", with(2, "v=16")},
		{"no version", with(2, "")},
		{"no parameters", with(3, "")},
		{"letters for parameters", with(3, "m=a,t=b,p=c")},
		{"negative memory", with(3, "m=-1,t=1,p=1")},
		{"zero passes", with(3, "m=64,t=0,p=1")},
		{"zero lanes", with(3, "m=64,t=1,p=0")},
		{"lanes over 255", with(3, "m=64,t=1,p=256")},
		{"absurd memory", with(3, "m=4294967295,t=1,p=1")},
		{"absurd passes", with(3, "m=64,t=4294967295,p=1")},
		{"bad salt", with(4, "!!!")},
		{"bad key", with(5, "!!!")},
		{"empty key", with(5, "")},
		{"a part missing", strings.Join(parts[:5], "$")},
		{"a part too many", good + "$x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := fast.Verify("pw", tt.hash)
			if err == nil || ok || rehash {
				t.Errorf("Verify(%q) = %v, %v, %v; want an error", tt.hash, ok, rehash, err)
			}
		})
	}
}

// run admits job, runs it on a worker and waits for it, as Hash and
// Verify do with theirs: ErrBusy at once when the pool has no room.
func (p *Pool) run(ctx context.Context, job func(engine)) error {
	if !p.admit() {
		return ErrBusy
	}
	return p.enqueue(ctx, job)
}

// block occupies the pool's only worker until the returned func is called.
func block(t *testing.T, p *Pool) (release func()) {
	t.Helper()
	started, done := make(chan struct{}), make(chan struct{})
	go func() { _ = p.run(context.Background(), func(engine) { close(started); <-done }) }()
	eventually.Receive(t, "the worker to take the job", started)
	return sync.OnceFunc(func() { close(done) })
}

// waitQueued waits until n jobs wait in the queue.
func waitQueued(t *testing.T, p *Pool, n int) {
	t.Helper()
	eventually.NoError(t, fmt.Sprintf("%d jobs queued", n), func() error {
		if got := len(p.jobs); got != n {
			return fmt.Errorf("%d queued", got)
		}
		return nil
	})
}

func TestPoolRefusesWorkAtOnceWhenTheQueueIsFull(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, Limits{Workers: 1, Queue: 1})
	defer p.Close()
	release := block(t, p)
	defer release()
	queued := make(chan error, 1)
	go func() { _, err := p.Hash(context.Background(), "queued"); queued <- err }()
	waitQueued(t, p, 1)

	start := time.Now()
	_, err := p.Hash(context.Background(), "refused")
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash on a full pool: %v, want ErrBusy", err)
	}
	if _, _, err := p.Verify(context.Background(), "refused", fast.Hash("x")); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify on a full pool: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing took %v; it must not wait", d)
	}
	if e, ok := errs.As(err); !ok || e.Kind != errs.Unavailable || e.Code != "busy" || e.RetryAfter <= 0 {
		t.Errorf("ErrBusy is %+v; want an Unavailable error with a Retry-After", e)
	}

	release()
	if err := <-queued; err != nil {
		t.Errorf("the queued hash failed: %v", err)
	}
	if _, err := p.Hash(context.Background(), "after"); err != nil {
		t.Errorf("hash after the queue drained: %v", err)
	}
}

func TestAFullPoolRefusesAVerifyBeforeItLoadsTheHash(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, Limits{Workers: 1, Queue: 0})
	defer p.Close()
	release := block(t, p)
	defer release()

	_, _, err := p.VerifyLoaded(context.Background(), "pw", func(context.Context) (string, error) {
		t.Error("a refused verify loaded its hash")
		return fast.Hash("pw"), nil
	})
	if !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyLoaded on a full pool: %v, want ErrBusy", err)
	}
}

func TestAVerifyWhoseLoadFailsGivesItsRoomBack(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, Limits{Workers: 1, Queue: 0})
	defer p.Close()
	notFound := errors.New("no such account")
	for range 3 { // with the room of a failed load kept, the second would be refused
		_, _, err := p.VerifyLoaded(context.Background(), "pw", func(context.Context) (string, error) { return "", notFound })
		if !errors.Is(err, notFound) {
			t.Fatalf("VerifyLoaded with a failing load: %v, want the load's error", err)
		}
	}
	ok, _, err := p.VerifyLoaded(context.Background(), "pw", func(context.Context) (string, error) { return fast.Hash("pw"), nil })
	if !ok || err != nil {
		t.Errorf("VerifyLoaded after failed loads = %v, %v; want a match", ok, err)
	}
}

func TestPoolReleasesCallersWhoseContextEnds(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, Limits{Workers: 1, Queue: 4})
	defer p.Close()
	release := block(t, p)
	defer release()

	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	result := make(chan error, 1)
	go func() { result <- p.run(ctx, func(engine) { ran.Store(true) }) }()
	waitQueued(t, p, 1)
	cancel()
	if err := eventually.Receive(t, "the cancelled caller to return", result); !errors.Is(err, context.Canceled) {
		t.Errorf("run after cancel: %v, want context.Canceled", err)
	}

	release()
	if _, err := p.Hash(context.Background(), "next"); err != nil { // runs after the abandoned job
		t.Fatal(err)
	}
	if ran.Load() {
		t.Error("the job of a caller who left was still run")
	}

	// With a free worker, the skipped job and the ended context can be
	// ready at once: the caller must get an error each time, never an
	// empty hash. (Callers that leave before the worker has skipped their
	// jobs fill the queue: the later ones may get ErrBusy.)
	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := p.Hash(done, "late"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with an ended context: %v, want context.Canceled", err)
	}
	for range 100 {
		if hash, err := p.Hash(done, "late"); err == nil {
			t.Fatalf("Hash with an ended context returned %q and no error", hash)
		}
	}
}

func TestPoolHashesAndVerifiesConcurrently(t *testing.T) {
	t.Parallel()
	pools := []struct {
		name string
		new  func(t *testing.T) *Pool
	}{
		{"in process", func(t *testing.T) *Pool {
			p := NewPool(fast, Limits{Workers: 2, Queue: 64})
			t.Cleanup(p.Close)
			return p
		}},
		{"in child processes", func(t *testing.T) *Pool { return newProcessPool(t, fast, 2, 64) }},
	}
	for _, tc := range pools {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hashesAndVerifiesConcurrently(t, tc.new(t))
		})
	}
}

func hashesAndVerifiesConcurrently(t *testing.T, p *Pool) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			pw := strings.Repeat("p", i+1)
			h, err := p.Hash(context.Background(), pw)
			if err != nil {
				t.Error(err)
				return
			}
			ok, rehash, err := p.Verify(context.Background(), pw, h)
			if !ok || rehash || err != nil {
				t.Errorf("verify %q: ok %v, rehash %v, err %v", pw, ok, rehash, err)
			}
			if ok, _, _ := p.Verify(context.Background(), pw+"x", h); ok {
				t.Errorf("wrong password for %q verified", pw)
			}
		})
	}
	wg.Wait()
	if _, _, err := p.Verify(context.Background(), "pw", "not a hash"); err == nil {
		t.Error("a malformed hash verified through the pool without an error")
	}
}

func TestThePoolNeverRunsMoreHashesAtOnceThanItHasWorkers(t *testing.T) {
	t.Parallel()
	const workers, jobs = 2, 8
	p := NewPool(fast, Limits{Workers: workers, Queue: jobs})
	defer p.Close()
	var running, most atomic.Int32
	started := make(chan struct{}, jobs)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for range jobs {
		wg.Go(func() {
			err := p.run(context.Background(), func(engine) {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				started <- struct{}{}
				<-gate
				running.Add(-1)
			})
			if err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	// Let the jobs finish one at a time, each time waiting for the next
	// to start, so that a pool running more than workers would show it.
	for range workers {
		<-started
	}
	for range jobs - workers {
		gate <- struct{}{}
		eventually.Receive(t, "a queued job to start once a worker is free", started)
	}
	close(gate)
	wg.Wait()
	if got := most.Load(); got != workers {
		t.Errorf("%d hashes ran at once, want at most (and here exactly) %d", got, workers)
	}
}

func TestByDefaultHashingLeavesHalfTheCPUsToTheRest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		procs, wants int
	}{
		{name: "one CPU still gets a worker", procs: 1, wants: 1},
		{name: "two CPUs get one worker", procs: 2, wants: 1},
		{name: "eight CPUs get four", procs: 8, wants: 4},
		{name: "an odd count rounds down", procs: 5, wants: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := workersFor(tt.procs); got != tt.wants {
				t.Errorf("workersFor(%d) = %d, want %d", tt.procs, got, tt.wants)
			}
		})
	}
}

func TestAWorkerRestsAsLongAsItsBusyShareLeaves(t *testing.T) {
	t.Parallel()
	const d = 30 * time.Millisecond
	for _, c := range []struct {
		busy float64
		want time.Duration
	}{
		{0, 0},           // unset: never rests
		{1, 0},           // busy all the time
		{0.5, d},         // as long as it hashed
		{0.25, 3 * d},    // three times as long
		{0.8, d / 4},     // a quarter as long, whatever the float rounding
		{1e-12, maxRest}, // bounded
		{1.5, 0},         // out of range: never rests
		{-0.5, 0},        // out of range: never rests
		{math.NaN(), 0},  // out of range: never rests
	} {
		if got := (Limits{Busy: c.busy}).restAfter(d, 0); got != c.want {
			t.Errorf("Busy %v: rest after %v = %v, want %v", c.busy, d, got, c.want)
		}
	}
}

func TestAWorkerTakesItsNextJobOnlyAfterItsRest(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, Limits{Workers: 1, Queue: 1, Busy: 0.5})
	t.Cleanup(p.Close)
	var hashed response
	var firstEnded, secondStarted time.Time
	first, started := make(chan error, 1), make(chan struct{})
	go func() {
		first <- p.run(context.Background(), func(e engine) {
			close(started)
			hashed, _ = e.do(request{Params: fast, Password: "pw"})
			firstEnded = time.Now()
		})
	}()
	eventually.Receive(t, "the worker to take the first job", started)
	if err := p.run(context.Background(), func(engine) { secondStarted = time.Now() }); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if hashed.Took <= 0 {
		t.Fatalf("a hash took %v by its own measure", hashed.Took)
	}
	if gap := secondStarted.Sub(firstEnded); gap < hashed.Took {
		t.Errorf("the next job started %v after a hash of %v; want a rest at least as long at half busy", gap, hashed.Took)
	}
}

func TestAJobThatHashesNothingEarnsNoRest(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, Limits{Workers: 1, Queue: 1, Busy: 1e-12}) // any hash: an hour's rest
	t.Cleanup(p.Close)
	for range 3 {
		if err := p.run(context.Background(), func(engine) {}); err != nil { // a job that left before its hash
			t.Fatal(err)
		}
	}
}

func TestClosingAPoolEndsItsWorkersRests(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, Limits{Workers: 2, Queue: 0, Busy: 1e-12}) // an hour's rest after any hash
	t.Cleanup(p.Close)
	if _, err := p.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	eventually.Receive(t, "Close to return while a worker rests", closed)
}

func TestAJobIsAdmittedOnlyWhileItsExpectedWaitIsWithinMaxWait(t *testing.T) {
	t.Parallel()
	const cycle = 400 * time.Millisecond
	for _, c := range []struct {
		name   string
		limits Limits
		ahead  int
		cycle  time.Duration
		wants  bool
	}{
		{"no bound set", Limits{Workers: 1}, 100, cycle, true},
		{"no pace known yet", Limits{Workers: 1, MaxWait: time.Second}, 100, 0, true},
		{"nothing ahead, however slow the pace", Limits{Workers: 1, MaxWait: time.Second}, 0, time.Hour, true},
		{"two ahead on one worker: 0.8 s", Limits{Workers: 1, MaxWait: time.Second}, 2, cycle, true},
		{"three ahead on one worker: 1.2 s", Limits{Workers: 1, MaxWait: time.Second}, 3, cycle, false},
		{"five ahead on two workers: 1 s", Limits{Workers: 2, MaxWait: time.Second}, 5, cycle, true},
		{"six ahead on two workers: 1.2 s", Limits{Workers: 2, MaxWait: time.Second}, 6, cycle, false},
		{"no workers counts as one", Limits{MaxWait: time.Second}, 3, cycle, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.limits.withinWait(c.ahead, c.cycle); got != c.wants {
				t.Errorf("withinWait(%d, %v) with %+v = %v, want %v", c.ahead, c.cycle, c.limits, got, c.wants)
			}
		})
	}
}

func TestThePoolsHashingTimeFollowsItsNewestHashesAtAQuarterWeight(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, c := range []struct {
		name   string
		hashes []time.Duration
		wants  time.Duration
	}{
		{"unknown before the first hash", nil, 0},
		{"the first hash sets it", []time.Duration{100 * ms}, 100 * ms},
		{"a slower hash moves it a quarter of the way", []time.Duration{100 * ms, 500 * ms}, 200 * ms},
		{"a faster one as well", []time.Duration{400 * ms, 200 * ms}, 350 * ms},
		{"a job that hashed nothing says nothing", []time.Duration{100 * ms, 0}, 100 * ms},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Pool
			for _, d := range c.hashes {
				p.timeHash(d)
			}
			if got := time.Duration(p.hashing.Load()); got != c.wants {
				t.Errorf("hashing time after hashes of %v = %v, want %v", c.hashes, got, c.wants)
			}
		})
	}
}

func TestAWorkersPaceIsItsHashAndTheRestAfterIt(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, Limits{Workers: 1, Queue: 1, Busy: 0.5})
	t.Cleanup(p.Close)
	var hashed response
	if err := p.run(context.Background(), func(e engine) { hashed, _ = e.do(request{Params: fast, Password: "pw"}) }); err != nil {
		t.Fatal(err)
	}
	// At half busy the rest is as long as the hash (see restAfter).
	eventually.NoError(t, "the pace to be set", func() error {
		if got, want := p.cycle(), 2*hashed.Took; got != want {
			return fmt.Errorf("pace %v after a hash of %v, want %v", got, hashed.Took, want)
		}
		return nil
	})
}

func TestThePaceIsReckonedAtTheShareInForce(t *testing.T) {
	t.Parallel()
	const hash = 40 * time.Millisecond
	for _, c := range []struct {
		name  string
		other float64 // the share of the machine other work uses
		wants time.Duration
	}{
		{"an idle machine: half the time", 0, 2 * hash},
		{"other work at a quarter: three tenths", 0.25, 133333333 * time.Nanosecond},
		{"other work at half or more: a tenth", 0.5, 10 * hash},
		{"a saturated machine: still a tenth", 1, 10 * hash},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Pool{limits: Limits{Busy: 0.5, Yield: 0.5}, meter: &loadMeter{}}
			p.meter.other.Store(math.Float64bits(c.other))
			p.timeHash(hash)
			if got := p.cycle(); got != c.wants {
				t.Errorf("pace of %v hashes with other work at %v = %v, want %v", hash, c.other, got, c.wants)
			}
		})
	}
}

func TestAPoolRefusesAtOnceAJobThatWouldWaitPastMaxWait(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, Limits{Workers: 1, Queue: 16, MaxWait: time.Second})
	defer p.Close()
	p.timeHash(400 * time.Millisecond) // a job every 400 ms, as at a tenth of the time for 40 ms hashes
	release := block(t, p)
	defer release()
	// With the blocked job ahead, two more are expected to wait 0.4 and
	// 0.8 s; a third would wait 1.2 s, though the queue has room for 16.
	queued := make(chan error, 2)
	for range 2 {
		go func() { _, err := p.Hash(context.Background(), "queued"); queued <- err }()
	}
	waitQueued(t, p, 2)

	// An admitted job would wait for the release below: the deadline
	// turns that into a failure rather than a hung test.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := p.Hash(ctx, "refused"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash expected to wait 1.2 s: %v, want ErrBusy", err)
	}
	if _, _, err := p.Verify(ctx, "refused", fast.Hash("x")); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify expected to wait 1.2 s: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing took %v; it must not wait", d)
	}

	release()
	for range 2 {
		if err := <-queued; err != nil {
			t.Errorf("a queued hash failed: %v", err)
		}
	}
	if _, err := p.Hash(context.Background(), "after"); err != nil {
		t.Errorf("hash after the queue drained: %v", err)
	}
}

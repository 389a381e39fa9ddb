package password

import (
	"math"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

func TestTheMachinesCPUTimesAreReadFromTheCPUsTotal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stat string
		want cpuTimes
		bad  bool
	}{
		{
			name: "a host's line counts all but steal",
			//            user nice system idle iowait irq softirq steal guest guest_nice
			stat: "cpu  100 20 30 400 50 6 7 800 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n",
			want: cpuTimes{busy: 100 + 20 + 30 + 6 + 7, total: 100 + 20 + 30 + 6 + 7 + 400 + 50},
		},
		{
			name: "an old kernel's shorter line still reads",
			stat: "cpu 1 2 3 4 5 6 7\n",
			want: cpuTimes{busy: 1 + 2 + 3 + 6 + 7, total: 1 + 2 + 3 + 6 + 7 + 4 + 5},
		},
		{name: "a file that starts with one CPU is refused", stat: "cpu0 1 2 3 4 5 6 7\n", bad: true},
		{name: "too few fields are refused", stat: "cpu 1 2 3\n", bad: true},
		{name: "a field that is not a count is refused", stat: "cpu 1 2 x 4 5 6 7\n", bad: true},
		{name: "an empty file is refused", stat: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUTimes([]byte(tt.stat))
			if tt.bad {
				if err == nil {
					t.Errorf("parsed %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestOtherWorkIsTheBusyTimeTheHashingDidNotUse(t *testing.T) {
	t.Parallel()
	start := cpuTimes{busy: 1000, total: 5000}
	tick := time.Second / userHZ
	tests := []struct {
		name   string
		now    cpuTimes
		hashed time.Duration
		want   float64
	}{
		{name: "without hashing, all busy time is other work", now: cpuTimes{busy: 1030, total: 5100}, want: 0.3},
		{name: "hashing's time is taken out", now: cpuTimes{busy: 1030, total: 5100}, hashed: 20 * tick, want: 0.1},
		{name: "a hash counted whole in its last period never makes it negative", now: cpuTimes{busy: 1010, total: 5100}, hashed: 40 * tick, want: 0},
		{name: "an idle period is idle", now: cpuTimes{busy: 1000, total: 5100}, want: 0},
		{name: "a fully busy period is all other work", now: cpuTimes{busy: 1100, total: 5100}, want: 1},
		{name: "no time passed counts as idle", now: start, want: 0},
		{name: "counters that went back count as idle", now: cpuTimes{busy: 900, total: 4000}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := otherShare(start, tt.now, tt.hashed); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("otherShare = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTheHashingShareFallsInStepWithOtherWorkToAFifth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limits Limits
		other  float64
		want   float64
	}{
		{name: "an idle machine gets the whole share", limits: Limits{Busy: 0.5, Yield: 0.5}, other: 0, want: 0.5},
		{name: "halfway to Yield, the share is three fifths", limits: Limits{Busy: 0.5, Yield: 0.5}, other: 0.25, want: 0.3},
		{name: "at Yield, a fifth", limits: Limits{Busy: 0.5, Yield: 0.5}, other: 0.5, want: 0.1},
		{name: "past Yield, still a fifth", limits: Limits{Busy: 0.5, Yield: 0.5}, other: 1, want: 0.1},
		{name: "without Yield the share is fixed", limits: Limits{Busy: 0.5}, other: 0.9, want: 0.5},
		{name: "a share of all the time yields too", limits: Limits{Busy: 1, Yield: 0.5}, other: 0.5, want: 0.2},
		{name: "an unmeasured load yields nothing", limits: Limits{Busy: 0.5, Yield: 0.5}, other: math.NaN(), want: 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.limits.share(tt.other); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("%+v.share(%v) = %v, want %v", tt.limits, tt.other, got, tt.want)
			}
		})
	}
}

func TestAWorkerOnABusyMachineRestsLongerThanOnAnIdleOne(t *testing.T) {
	t.Parallel()
	const d = 20 * time.Millisecond
	l := Limits{Busy: 0.5, Yield: 0.5}
	if got := l.restAfter(d, 0); got != d {
		t.Errorf("idle machine: rest %v after %v, want as long", got, d)
	}
	if got := l.restAfter(d, 0.5); got != 9*d {
		t.Errorf("busy machine: rest %v after %v, want nine times as long (a tenth of the time hashing)", got, d)
	}
	if got := (Limits{Busy: 1, Yield: 0.5}).restAfter(d, 0); got != 0 {
		t.Errorf("a share of all the time on an idle machine rests %v, want none", got)
	}
}

func TestAMeterReportsEachPeriodsOtherWork(t *testing.T) {
	t.Parallel()
	// Each reading is 100 ticks on from the last, 40 of them busy; while
	// hashing is on, the pool's hashes used 10 of those ticks.
	var (
		mu      sync.Mutex
		now     = cpuTimes{busy: 500, total: 1000}
		m       *loadMeter
		hashing atomic.Bool
	)
	hashing.Store(true)
	read := func() (cpuTimes, error) {
		mu.Lock()
		defer mu.Unlock()
		r := now
		now.busy += 40
		now.total += 100
		if m != nil && hashing.Load() {
			m.addHashed(10 * time.Second / userHZ)
		}
		return r, nil
	}
	m = newLoadMeter(read, time.Millisecond)
	if m == nil {
		t.Fatal("no meter for a machine whose CPU time reads")
	}
	if got := m.otherLoad(); got != 0 {
		t.Errorf("before a period has passed the load is %v, want 0", got)
	}
	done, ended := make(chan struct{}), make(chan struct{})
	go func() { m.run(done); close(ended) }()
	near := func(want float64) func() bool { return func() bool { return math.Abs(m.otherLoad()-want) < 1e-9 } }
	eventually.True(t, "a period with hashing to read 0.3", near(0.3))
	hashing.Store(false)
	eventually.True(t, "a period without hashing to read 0.4", near(0.4))
	close(done)
	eventually.Receive(t, "the meter to stop when told", ended)
}

func TestAMachineWhoseCPUTimeCannotBeReadGetsNoMeter(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "stat")
	if m := newLoadMeter(func() (cpuTimes, error) { return readCPUTimes(missing) }, time.Millisecond); m != nil {
		t.Fatal("a meter for a machine whose CPU time cannot be read")
	}
	var none *loadMeter
	none.addHashed(time.Second) // a pool without a meter records nothing, and does not panic
	if got := none.otherLoad(); got != 0 {
		t.Errorf("no meter reads a load of %v, want 0", got)
	}
	p := NewPool(fast, Limits{Workers: 1, Busy: 0.5})
	t.Cleanup(p.Close)
	if got := p.Share(); got != 0.5 {
		t.Errorf("a pool without Yield has a share of %v, want Busy's 0.5", got)
	}
}

// TestAMeterSeesAMachineKeptBusy reads the real /proc/stat while this test
// keeps every CPU busy: the other work it reads must be most of the
// machine, whatever else runs beside it. Elsewhere than on Linux there is
// nothing to read, and a pool that asks to yield keeps its fixed share.
func TestAMeterSeesAMachineKeptBusy(t *testing.T) {
	m := newLoadMeter(func() (cpuTimes, error) { return readCPUTimes(procStat) }, 50*time.Millisecond)
	if m == nil {
		if runtime.GOOS == "linux" {
			t.Fatal("no meter on Linux: /proc/stat did not read")
		}
		p := NewPool(fast, Limits{Workers: 1, Busy: 0.5, Yield: 0.5})
		t.Cleanup(p.Close)
		if got := p.Share(); got != 0.5 {
			t.Errorf("without /proc/stat a pool's share is %v, want Busy's 0.5", got)
		}
		return
	}
	done := make(chan struct{})
	var (
		stop     atomic.Bool
		spinners sync.WaitGroup
	)
	for range runtime.NumCPU() {
		spinners.Go(func() {
			for !stop.Load() { // keeps a CPU busy
			}
		})
	}
	var meter sync.WaitGroup
	meter.Go(func() { m.run(done) })
	t.Cleanup(func() { stop.Store(true); close(done); spinners.Wait(); meter.Wait() })
	eventually.True(t, "the meter to read most of the machine as busy", func() bool { return m.otherLoad() > 0.5 })
}

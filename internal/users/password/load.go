package password

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// cpuTimes is how long the machine's CPUs together have been busy, and
// busy or idle, since boot, in /proc/stat's clock ticks.
type cpuTimes struct{ busy, total uint64 }

// userHZ is how many of /proc/stat's clock ticks make a second: the
// kernel's USER_HZ, fixed at 100 in its ABI on the architectures the
// service runs on, whatever tick rate the kernel itself runs at.
const userHZ = 100

// procStat is where Linux counts the machine's CPU time.
const procStat = "/proc/stat"

// readCPUTimes reads the machine's CPU times from path, a /proc/stat.
func readCPUTimes(path string) (cpuTimes, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("password: the machine's CPU time: %w", err)
	}
	return parseCPUTimes(b)
}

// parseCPUTimes reads the first line of a /proc/stat, the sum over all
// CPUs: "cpu user nice system idle iowait irq softirq steal guest
// guest_nice". Time a virtual machine's host took (steal) was neither this
// machine's work nor idle, so it is left out; guest time is counted in user
// and nice already. The one line is read by hand because the meter wants
// nothing else: procfs's Stat would parse every line, each CPU's and the
// interrupt counts among them, four times a second for this one sum.
func parseCPUTimes(stat []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 8 || string(fields[0]) != "cpu" {
		return cpuTimes{}, errors.New("password: /proc/stat does not start with the CPUs' total")
	}
	var v [7]uint64 // user nice system idle iowait irq softirq
	for i := range v {
		n, err := strconv.ParseUint(string(fields[i+1]), 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("password: /proc/stat's CPU times: %w", err)
		}
		v[i] = n
	}
	busy := v[0] + v[1] + v[2] + v[5] + v[6]
	return cpuTimes{busy: busy, total: busy + v[3] + v[4]}, nil
}

// loadMeter follows how much of the machine's CPU time work other than the
// pool's own hashing uses (ADR 68): what the hashing would take CPU from.
type loadMeter struct {
	read  func() (cpuTimes, error)
	every time.Duration
	// hashed is the CPU time the pool's hashes have used, in nanoseconds,
	// as its workers report them.
	hashed atomic.Int64
	// other holds the last period's share of the machine's CPU time used
	// by other work, as math.Float64bits: 0 until a period has passed.
	other atomic.Uint64
}

// meterEvery is how often the meter reads the machine's CPU time: often
// enough that the hashing yields within a fraction of a second of a surge
// of other work, seldom enough that /proc/stat's ticks (10 ms) count the
// period to within a few per cent on two CPUs.
const meterEvery = 250 * time.Millisecond

// newLoadMeter returns a meter that reads the machine's CPU time with read
// every period, or nil if read fails: where the CPU time cannot be read,
// nothing follows the load.
func newLoadMeter(read func() (cpuTimes, error), every time.Duration) *loadMeter {
	if _, err := read(); err != nil {
		return nil
	}
	return &loadMeter{read: read, every: every}
}

// run measures each period until done is closed.
func (m *loadMeter) run(done <-chan struct{}) {
	prev, err := m.read()
	if err != nil {
		return
	}
	prevHashed := m.hashed.Load()
	tick := time.NewTicker(m.every)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		now, err := m.read()
		if err != nil {
			continue // the next period is measured from the last good reading
		}
		hashed := m.hashed.Load()
		m.other.Store(math.Float64bits(otherShare(prev, now, time.Duration(hashed-prevHashed))))
		prev, prevHashed = now, hashed
	}
}

// otherShare is the share of the CPU time between two readings that was
// busy with other work than hashed, the pool's hashing meanwhile. A hash
// is reported when it ends, so one that began in the period before is
// counted whole in this one: the share can come out a little low, never
// below 0.
func otherShare(prev, now cpuTimes, hashed time.Duration) float64 {
	if now.total <= prev.total || now.busy < prev.busy {
		return 0
	}
	busy := float64(now.busy-prev.busy) - hashed.Seconds()*userHZ
	return min(max(busy/float64(now.total-prev.total), 0), 1)
}

// addHashed records the CPU time a hash used.
func (m *loadMeter) addHashed(d time.Duration) {
	if m != nil {
		m.hashed.Add(int64(d))
	}
}

// otherLoad is the last period's share of the machine's CPU time used by
// other work: 0 with no meter.
func (m *loadMeter) otherLoad() float64 {
	if m == nil {
		return 0
	}
	return math.Float64frombits(m.other.Load())
}

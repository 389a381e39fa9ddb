// Package cputime reads CPU time used by the machine and by this process,
// so that benchmarks on a shared machine can say where the time went.
package cputime

import (
	"context"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ticksPerSecond is USER_HZ, the unit of /proc CPU times on Linux.
const ticksPerSecond = 100

// Machine is the busy and idle CPU time of the whole machine since boot,
// from /proc/stat; zero where it cannot be read.
func Machine() (busy, idle time.Duration) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	var t [8]int64
	for i := range t {
		t[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	return Ticks(t[0] + t[1] + t[2] + t[5] + t[6] + t[7]), Ticks(t[3] + t[4])
}

// Ticks converts a /proc CPU time to a duration.
func Ticks(n int64) time.Duration { return time.Duration(n) * time.Second / ticksPerSecond }

// Process is the user and system CPU time this process has used.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Processes is the user and system CPU time the processes pids have used,
// from /proc/<pid>/stat, such as the PostgreSQL backends that serve one
// database; a process that cannot be read (gone, or on another machine)
// counts zero.
func Processes(pids ...int) time.Duration {
	var total int64
	for _, pid := range pids {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces; the fields after it are
		// state, ppid, ... with utime and stime the 12th and 13th.
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if i < 0 || len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		total += utime + stime
	}
	return Ticks(total)
}

// Redis is the user and system CPU time a Redis server has used (INFO
// cpu); zero where it cannot be read.
func Redis(ctx context.Context, rdb redis.Cmdable) time.Duration {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		name, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (name == "used_cpu_user" || name == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(val, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// Profile writes a CPU profile of this process to dir/name.pprof until
// stop is called; with dir empty it does nothing. Benchmarks use it to
// profile their timed window only.
func Profile(dir, name string) (stop func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(name)+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

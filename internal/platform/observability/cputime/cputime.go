// Package cputime reads CPU time used by the machine and by this process,
// so that benchmarks on a shared machine can say where the time went.
package cputime

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
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

package password

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// lowerPriority puts every thread of this process under SCHED_IDLE, and at
// nice 19 should that be refused: the kernel then runs it only on CPU time
// no normal thread wants, and preempts it as soon as one wakes up. Linux
// keeps the policy per thread and a new thread inherits the one of the
// thread that creates it, so the threads there are now are lowered, again
// until no new one appears, and the Go runtime creates later ones from them.
func lowerPriority() error {
	lowered := map[int]bool{}
	for {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("list threads: %w", err)
		}
		found := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || lowered[tid] {
				continue
			}
			found, lowered[tid] = true, true
			idle := unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE, Nice: 19}, 0)
			if idle != nil {
				if err := unix.Setpriority(unix.PRIO_PROCESS, tid, 19); err != nil {
					return fmt.Errorf("thread %d: %w", tid, errors.Join(idle, err))
				}
			}
		}
		if !found {
			return nil
		}
	}
}

// processCPU is the CPU time this process has used, in user and kernel
// mode, over all its threads.
func processCPU() (time.Duration, bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

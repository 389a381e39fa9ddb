//go:build !linux

package password

import "time"

// lowerPriority does nothing: SCHED_IDLE is Linux's, which is where the
// service runs; elsewhere (a developer's machine) the worker keeps the
// priority it was started with.
func lowerPriority() error { return nil }

// processCPU reports nothing here: a worker's hashes are then timed by the
// clock.
func processCPU() (time.Duration, bool) { return 0, false }

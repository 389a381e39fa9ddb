//go:build !linux

package password

// lowerPriority does nothing: SCHED_IDLE is Linux's, which is where the
// service runs; elsewhere (a developer's machine) the worker keeps the
// priority it was started with.
func lowerPriority() error { return nil }

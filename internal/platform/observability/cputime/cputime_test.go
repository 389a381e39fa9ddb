package cputime_test

import (
	"os"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/observability/cputime"
)

func TestProcessesCountsAProcessesCPUAndNothingForOneThatIsGone(t *testing.T) {
	t.Parallel()
	// Spin until the process has used some CPU (ticks are 10 ms).
	for cputime.Process() < 50*time.Millisecond {
	}
	if got := cputime.Processes(os.Getpid()); got < 20*time.Millisecond || got > cputime.Process()+20*time.Millisecond {
		t.Errorf("Processes(this process) = %v, want about Process() = %v", got, cputime.Process())
	}
	if got := cputime.Processes(-1); got != 0 {
		t.Errorf("Processes(-1) = %v, want 0", got)
	}
}

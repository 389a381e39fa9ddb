package mongotest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

func TestOnlyTheDatabasesOfProcessesThatAreGoneCountAsAbandoned(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatalf("run a process that ends: %v", err)
	}
	tests := map[string]struct {
		name    string
		running bool
	}{
		"this process's":             {fmt.Sprintf("%s%d_0123456789ab", pgPrefix, os.Getpid()), true},
		"an ended process's":         {fmt.Sprintf("%s%d_0123456789ab", pgPrefix, gone.Process.Pid), false},
		"one named before pids were": {pgPrefix + "0c7b54d95f0b4d88a968", false},
		"one with a garbled pid":     {pgPrefix + "12x_0123456789ab", false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := running(tt.name); got != tt.running {
				t.Errorf("running(%q) = %v, want %v", tt.name, got, tt.running)
			}
		})
	}
}

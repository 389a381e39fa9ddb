package searchsrv_test

import (
	"runtime"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/search/searchsrv"
)

func TestSearchesRunAtOnceAreFourPerCPUUnlessSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		want int
	}{
		{"by default", nil, 4 * runtime.GOMAXPROCS(0)},
		{"when set", map[string]string{"SEARCH_MAX_IN_FLIGHT": "3"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := config.FromLookup(func(k string) (string, bool) { v, ok := tt.vars[k]; return v, ok })
			cfg := searchsrv.LoadConfig(e, config.Shared{DataDir: t.TempDir()})
			if err := e.Err(); err != nil {
				t.Fatal(err)
			}
			if cfg.MaxInFlight != tt.want {
				t.Errorf("MaxInFlight = %d, want %d", cfg.MaxInFlight, tt.want)
			}
		})
	}
}

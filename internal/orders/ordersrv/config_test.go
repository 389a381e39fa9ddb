package ordersrv_test

import (
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/orders/ordersrv"
	"github.com/marketplace-go/marketplace/internal/platform/config"
)

func TestProductEventsAreRetriedForADayBeforeTheyAreDeadLettered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		want time.Duration // retried for at least this long
	}{
		{"by default", nil, 24 * time.Hour},
		{"when set", map[string]string{"ORDERS_PRODUCT_EVENTS_RETRY_DELAY": "1m", "ORDERS_PRODUCT_EVENTS_MAX_ATTEMPTS": "120"}, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := config.FromLookup(func(k string) (string, bool) { v, ok := tt.vars[k]; return v, ok })
			cfg := ordersrv.LoadConfig(e, config.Shared{DataDir: t.TempDir(), PostgresURL: "postgres://localhost/x"})
			if err := e.Err(); err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(cfg.ProductMaxAttempts) * cfg.ProductRetryDelay; got < tt.want {
				t.Errorf("product events retried for %v (%d × %v), want at least %v", got, cfg.ProductMaxAttempts, cfg.ProductRetryDelay, tt.want)
			}
		})
	}
}

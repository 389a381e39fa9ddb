package usersrv

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/users/password"
)

func TestTheHashingPoolsStarvedJobsAreExportedFromZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	pool := password.NewPool(password.OWASP, password.Limits{Workers: 1, Queue: 1})
	t.Cleanup(pool.Close)
	registerHasherMetrics(reg, pool)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "users_password_hashes_starved_total" || mfs[0].GetMetric()[0].GetCounter().GetValue() != 0 {
		t.Errorf("gathered %v; want users_password_hashes_starved_total at 0", mfs)
	}
}

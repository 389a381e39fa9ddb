package usersrv

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/users/password"
)

func TestTheHashingPoolsStarvedJobsAndShareAreExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	pool := password.NewPool(password.OWASP, password.Limits{Workers: 1, Queue: 1, Busy: 0.5})
	t.Cleanup(pool.Close)
	registerHasherMetrics(reg, pool)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	want := map[string]float64{
		"users_password_hashes_starved_total": 0,   // from zero
		"users_password_hashing_share":        0.5, // Busy, with no Yield
	}
	if len(got) != len(want) {
		t.Errorf("gathered %v; want %v", got, want)
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (exported: %t), want %v", name, g, ok, v)
		}
	}
}

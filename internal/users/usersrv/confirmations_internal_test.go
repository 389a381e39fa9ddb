package usersrv

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/users"
)

func TestConfirmationsAreCountedByOutcomeFromZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	count := confirmationCounter(reg)
	count(users.ConfirmationSent)
	count(users.ConfirmationSent)
	count(users.ConfirmationFailed)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "users_order_confirmations_total" {
			t.Errorf("unexpected family %s", mf.GetName())
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"sent": 2, "duplicate": 0, "skipped": 0, "failed": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts by outcome (-want +got):\n%s", diff)
	}
}

package grafana_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/marketplace-go/marketplace/deploy/grafana"
)

// TestTheJSONFilesAreWhatTheCodeGenerates fails when a dashboard changed in
// Go and `make dashboards` was not run.
func TestTheJSONFilesAreWhatTheCodeGenerates(t *testing.T) {
	t.Parallel()
	for _, d := range grafana.All() {
		want, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(d.File())
		if err != nil {
			t.Fatalf("%v: run make dashboards", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the code: run make dashboards", d.File())
		}
	}
}

func TestEveryPanelHasAQueryAndEveryDashboardAUniqueUID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, d := range grafana.All() {
		if seen[d.UID] {
			t.Errorf("uid %s used twice", d.UID)
		}
		seen[d.UID] = true
		for _, p := range d.Panels {
			if len(p.Queries) == 0 {
				t.Errorf("%s: panel %q has no query", d.UID, p.Title)
			}
		}
	}
}

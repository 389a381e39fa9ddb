package productsrv_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/marketplace-go/marketplace/internal/products"
)

func TestTheInternalExportStreamsEveryProductOfEveryStatus(t *testing.T) {
	e := newEnv(t)
	e.mustCategory(t, "lamps", "")
	seller := e.seller(t)
	var want []productBody
	// More than one batch of the store, so that the stream spans batches.
	for i := range products.ExportBatch + 3 {
		status := []string{"active", "draft"}[i%2]
		want = append(want, e.mustCreate(t, seller, productOf("lamps", map[string]any{"title": fmt.Sprintf("Lamp %d", i), "status": status})))
	}
	want[0] = e.mustArchive(t, seller, want[0].ID, 1)
	byID := func(a, b productBody) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(want, byID)

	got := e.storedOf(t, seller)
	slices.SortFunc(got, byID)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("export differs from the products written (-want +got):\n%s", diff)
	}
	var sum struct {
		Products   int64 `json:"products"`
		VersionSum int64 `json:"version_sum"`
	}
	e.do(t, anonymous, "GET", "/internal/v1/products/summary", nil).want(t, http.StatusOK).decode(t, &sum)
	if n := int64(len(want)); sum.Products != n || sum.VersionSum != n+1 {
		t.Errorf("summary %+v, want %d products and version sum %d (one archive)", sum, n, n+1)
	}
}

func TestAProductEventCarriesTheWholeProduct(t *testing.T) {
	e := newEnv(t)
	log := consume(t, e.Config.Events.URL)
	e.mustCategory(t, "lamps", "")
	p := e.mustCreate(t, e.seller(t), productOf("lamps", map[string]any{"attributes": map[string]any{"colour": "red", "wattage": 9}}))
	evs := log.waitFor(t, 1, p.ID)
	var body struct {
		Product struct {
			Description string         `json:"description"`
			Images      []string       `json:"images"`
			Attributes  map[string]any `json:"attributes"`
			CreatedAt   time.Time      `json:"created_at"`
		} `json:"product"`
	}
	if err := json.Unmarshal(evs[0].Data, &body); err != nil {
		t.Fatal(err)
	}
	ev := body.Product
	if ev.Description != p.Description || !slices.Equal(ev.Images, p.Images) || !cmp.Equal(ev.Attributes, p.Attributes) || !ev.CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("the event's product %+v lacks fields of %+v", ev, p)
	}
}

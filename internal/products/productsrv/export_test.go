package productsrv_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTheInternalExportPagesThroughEveryProductOfEveryStatusInIDOrder(t *testing.T) {
	e := newEnv(t)
	e.mustCategory(t, "lamps", "")
	seller := e.seller(t)
	var want []productBody
	for i, status := range []string{"active", "draft", "active", "active", "draft"} {
		want = append(want, e.mustCreate(t, seller, productOf("lamps", map[string]any{"title": "Lamp " + string(rune('A'+i)), "status": status})))
	}
	archived := e.mustArchive(t, seller, want[0].ID, 1)
	want[0] = archived
	slices.SortFunc(want, func(a, b productBody) int { return strings.Compare(a.ID, b.ID) })

	var got []productBody
	after, pages := "", 0
	for {
		var page struct {
			Items []productBody `json:"items"`
			Next  string        `json:"next"`
		}
		e.do(t, anonymous, "GET", "/internal/v1/products?limit=2&after="+after, nil).want(t, http.StatusOK).decode(t, &page)
		got, pages = append(got, page.Items...), pages+1
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("export differs from the products written (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("%d pages of 2 for 5 products, want 3", pages)
	}
	var sum struct {
		Products   int64 `json:"products"`
		VersionSum int64 `json:"version_sum"`
	}
	e.do(t, anonymous, "GET", "/internal/v1/products/summary", nil).want(t, http.StatusOK).decode(t, &sum)
	if sum.Products != 5 || sum.VersionSum != 6 {
		t.Errorf("summary %+v, want 5 products and version sum 6 (one archive)", sum)
	}
}

func TestTheInternalExportRefusesAPageSizeOutOfRange(t *testing.T) {
	e := newEnv(t)
	for _, limit := range []string{"0", "1001", "many"} {
		e.do(t, anonymous, "GET", "/internal/v1/products?limit="+limit, nil).wantProblem(t, http.StatusBadRequest, "validation_failed")
	}
}

func TestAProductEventCarriesTheWholeProduct(t *testing.T) {
	e := newEnv(t)
	log := consume(t, e.Config.Events.URL)
	e.mustCategory(t, "lamps", "")
	p := e.mustCreate(t, e.seller(t), productOf("lamps", map[string]any{"attributes": map[string]any{"colour": "red", "wattage": 9}}))
	deadline := time.Now().Add(10 * time.Second)
	for len(log.snapshot()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polls for the event, which then ends the wait
	}
	evs := log.snapshot()
	if len(evs) == 0 {
		t.Fatal("no product event within 10s")
	}
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

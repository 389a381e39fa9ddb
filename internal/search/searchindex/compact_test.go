package searchindex_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/search"
)

func TestCompactingMergesTheIndexIntoOneSegmentAndKeepsEveryAnswer(t *testing.T) {
	x := open(t, t.TempDir())
	// Each write is a segment of its own until Bleve's merges catch up.
	for batch := range 12 {
		var ps []search.Product
		for i := range 5 {
			colour := []string{"red", "blue", "green"}[(batch+i)%3]
			ps = append(ps, product(fmt.Sprintf("p-%02d-%d", batch, i), 1, title(fmt.Sprintf("%s Desk Lamp %d", colour, batch*5+i)),
				func(p *search.Product) { p.Attributes = map[string]any{"colour": colour} }))
		}
		apply(t, x, ps...)
	}
	if n := x.Stats().Segments; n < 2 {
		t.Fatalf("twelve writes left %d segment: the test needs several", n)
	}
	requests := []search.Request{
		{Query: search.Query{Words: []string{"lamp"}}, FacetAttributes: []string{"colour"}},
		{Query: search.Query{Words: []string{"blue"}, Sort: search.SortPriceAsc}, Size: 7},
		{Query: search.Query{Sort: search.SortTitle}, FacetAttributes: []string{"colour"}},
	}
	var before []search.Result
	for _, r := range requests {
		before = append(before, list(t, x, r))
	}

	if err := x.Compact(ctx); err != nil {
		t.Fatalf("Compact: %v", err)
	}

	if n := x.Stats().Segments; n != 1 {
		t.Errorf("segments after compacting = %d, want 1", n)
	}
	if got := x.Stats().Products; got != 60 {
		t.Errorf("products after compacting = %d, want 60", got)
	}
	for i, r := range requests {
		if diff := cmp.Diff(before[i], list(t, x, r)); diff != "" {
			t.Errorf("request %d answers otherwise after compacting (-before +after):\n%s", i, diff)
		}
	}
}

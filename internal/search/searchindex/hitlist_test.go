package searchindex

import (
	"context"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/marketplace-go/marketplace/internal/search"
)

func TestAHitListFiltersOnlyTheSnapshotItWasMadeOn(t *testing.T) {
	x := generated(t, 80)
	snapshot := func() *scorch.IndexSnapshot {
		t.Helper()
		adv, err := x.idx.Advanced()
		if err != nil {
			t.Fatal(err)
		}
		r, err := adv.Reader()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r.(*scorch.IndexSnapshot)
	}
	before := snapshot()
	q := &hitsQuery{snap: before, docs: []uint64{3, 5, 8}, otherwise: bleve.NewMatchNoneQuery()}
	p := search.Product{ID: "p-new", Title: "Brass Lamp", Category: "lamps", Status: search.StatusActive, Version: 1}
	if _, err := x.Apply(context.Background(), []search.Doc{{Product: p}}); err != nil {
		t.Fatal(err)
	}
	after := snapshot()
	tests := map[string]struct {
		snap *scorch.IndexSnapshot
		want []uint64
	}{
		"on its snapshot, the list":               {before, []uint64{3, 5, 8}},
		"on a later snapshot, what it stands for": {after, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := q.Searcher(context.Background(), tt.snap, x.idx.Mapping(), bsearch.SearcherOptions{Score: "none"})
			if err != nil {
				t.Fatal(err)
			}
			if _, none := s.(*searcher.MatchNoneSearcher); none != (tt.want == nil) {
				t.Fatalf("searcher %T", s)
			}
			ctx := &bsearch.SearchContext{DocumentMatchPool: bsearch.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0)}
			var got []uint64
			for d, err := s.Next(ctx); d != nil || err != nil; d, err = s.Next(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, d.IndexInternalID.Value())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("found %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAHitListAdvancesToTheFirstDocumentAtOrAfter(t *testing.T) {
	s := &hitsSearcher{docs: []uint64{2, 4, 9, 15}}
	ctx := &bsearch.SearchContext{DocumentMatchPool: bsearch.NewDocumentMatchPool(1, 0)}
	for _, step := range []struct{ to, want uint64 }{{0, 2}, {3, 4}, {9, 9}, {10, 15}} {
		d, err := s.Advance(ctx, index.NewIndexInternalID(nil, step.to))
		if err != nil || d == nil {
			t.Fatalf("advance to %d: %v, %v", step.to, d, err)
		}
		if got := d.IndexInternalID.Value(); got != step.want {
			t.Errorf("advance to %d found %d, want %d", step.to, got, step.want)
		}
	}
	if d, _ := s.Advance(ctx, index.NewIndexInternalID(nil, 16)); d != nil {
		t.Errorf("advance past the end found %d", d.IndexInternalID.Value())
	}
}

package searchindex

import (
	"slices"
	"testing"

	"github.com/marketplace-go/marketplace/internal/search"
)

func TestAPageCutKeepsWhatMayStillBeOnThePage(t *testing.T) {
	k := func(key float64, id string) cutKey { return cutKey{key: key, id: id} }
	tx := func(text, id string) cutKey { return cutKey{text: text, id: id} }
	tests := []struct {
		name  string
		sort  string
		after *search.Cursor
		size  int
		keys  []cutKey
		want  []bool
	}{
		{"the first page's worth is kept", search.SortRelevance, nil, 3, []cutKey{k(1, "a"), k(2, "b"), k(3, "c")}, []bool{true, true, true}},
		{"worse than the page's worst is dropped", search.SortRelevance, nil, 2,
			[]cutKey{k(5, "a"), k(4, "b"), k(3, "c"), k(6, "d"), k(4, "e"), k(5, "f")}, []bool{true, true, false, true, false, true}},
		{"on equal keys the higher id is better, as relevance orders", search.SortRelevance, nil, 2,
			[]cutKey{k(5, "m"), k(4, "m2"), k(4, "a"), k(4, "z"), k(4, "n")}, []bool{true, true, false, true, false}},
		{"on equal prices the lower id is better, cheapest first", search.SortPriceAsc, nil, 1,
			[]cutKey{k(-5, "m"), k(-5, "z"), k(-5, "a"), k(-4, "0")}, []bool{true, false, true, true}},
		{"a better one raises the bar", search.SortRelevance, nil, 1,
			[]cutKey{k(1, "a"), k(3, "b"), k(2, "c"), k(3, "a"), k(4, "d"), k(3, "e")}, []bool{true, true, false, false, true, false}},
		{"no page keeps nothing", search.SortRelevance, nil, 0, []cutKey{k(1, "a"), k(2, "b")}, []bool{false, false}},
		{"the newest first, ties by the higher id", search.SortNewest, nil, 1,
			[]cutKey{k(10, "m"), k(10, "a"), k(10, "z"), k(11, "0")}, []bool{true, false, true, true}},
		{"a cursor's page keeps only what sorts after the cursor", search.SortNewest, &search.Cursor{Key: int64(10), ID: "m"}, 5,
			[]cutKey{k(11, "a"), k(10, "z"), k(10, "m"), k(10, "b"), k(9, "z")}, []bool{false, false, false, true, true}},
		{"a cheapest-first cursor compares the price turned as the hits' are", search.SortPriceAsc, &search.Cursor{Key: int64(5), ID: "m"}, 5,
			[]cutKey{k(-4, "z"), k(-5, "a"), k(-5, "z"), k(-6, "a")}, []bool{false, false, true, true}},
		{"by title, the lower text first, ties by the lower id", search.SortTitle, nil, 2,
			[]cutKey{tx("b", "m"), tx("b", "a"), tx("c", "0"), tx("a", "z"), tx("b", "0")}, []bool{true, true, false, true, true}},
		{"a title cursor's text", search.SortTitle, &search.Cursor{Key: "b", ID: "m"}, 5,
			[]cutKey{tx("a", "z"), tx("b", "a"), tx("b", "m"), tx("b", "z"), tx("c", "a")}, []bool{false, false, false, true, true}},
		{"a cursor of another order's kind cuts nothing", search.SortTitle, &search.Cursor{Key: int64(5), ID: "m"}, 1, nil, nil},
		{"a relevance cursor's score", search.SortRelevance, &search.Cursor{Key: 0.5, ID: "m"}, 2,
			[]cutKey{k(0.7, "a"), k(0.5, "z"), k(0.5, "a"), k(0.4, "z"), k(0.45, "a"), k(0.3, "z")}, []bool{false, false, true, true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newPageCut(search.Request{Query: search.Query{Sort: tt.sort, After: tt.after}, Size: tt.size})
			if tt.keys == nil {
				if c != nil {
					t.Errorf("a cut %+v, want none", c)
				}
				return
			}
			var got []bool
			for _, key := range tt.keys {
				got = append(got, c.keep(key))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("kept %v, want %v", got, tt.want)
			}
		})
	}
}

package searchindex

import (
	"slices"
	"testing"
)

func TestAPageCutKeepsWhatMayStillBeOnThePage(t *testing.T) {
	tests := []struct {
		name string
		size int
		keys []float64
		want []bool
	}{
		{"the first page's worth is kept", 3, []float64{1, 2, 3}, []bool{true, true, true}},
		{"worse than the page's worst is dropped", 2, []float64{5, 4, 3, 6, 4, 5}, []bool{true, true, false, true, false, true}},
		{"equal to the page's worst is kept, the id decides", 2, []float64{5, 4, 4, 4}, []bool{true, true, true, true}},
		{"a better one raises the bar", 1, []float64{1, 3, 2, 3, 4, 3}, []bool{true, true, false, true, true, false}},
		{"no page keeps nothing", 0, []float64{1, 2}, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &pageCut{size: tt.size, by: keyScore}
			var got []bool
			for _, k := range tt.keys {
				got = append(got, c.keep(k))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("kept %v, want %v", got, tt.want)
			}
		})
	}
}

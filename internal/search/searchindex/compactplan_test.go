package searchindex

import (
	"testing"

	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
)

// planSegment is a segment as Bleve's merge planner sees it: an id and a
// number of live documents, none deleted.
type planSegment struct{ id, docs int64 }

func (s planSegment) Id() uint64          { return uint64(s.id) }
func (s planSegment) FullSize() int64     { return s.docs }
func (s planSegment) LiveSize() int64     { return s.docs }
func (s planSegment) HasVector() bool     { return false }
func (s planSegment) FileSize() int64     { return s.docs * 1000 }
func (s planSegment) LiveFileSize() int64 { return s.docs * 1000 }

func TestACompactionPlanMergesEverySegmentHoweverUnevenTheirSizes(t *testing.T) {
	tests := []struct {
		name string
		docs []int64
	}{
		{"one large segment and four small ones", []int64{990, 10, 10, 10, 10}},
		{"one large segment and nine small ones", []int64{99_000, 100, 100, 100, 100, 100, 100, 100, 100, 100}},
		{"twelve segments of equal size", []int64{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}},
		{"two segments", []int64{1, 100_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs := make([]mergeplan.Segment, len(tt.docs))
			for i, n := range tt.docs {
				segs[i] = planSegment{id: int64(i + 1), docs: n}
			}
			plan, err := mergeplan.Plan(segs, compactPlan())
			if err != nil {
				t.Fatal(err)
			}
			var tasks []int
			for _, task := range plan.Tasks {
				tasks = append(tasks, len(task.Segments))
			}
			if len(tasks) != 1 || tasks[0] != len(segs) {
				t.Errorf("the plan's tasks merge %v segments; want one task of all %d", tasks, len(segs))
			}
		})
	}
}

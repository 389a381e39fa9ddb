package search

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// FuzzPrepareQuery: no search text, order, attribute filter or cursor a
// client sends makes a listing panic or answer anything but a validation
// problem or invalid_cursor. A query it accepts has an order it serves and
// at most MaxWords words. The seeds are in testdata/fuzz/FuzzPrepareQuery.
func FuzzPrepareQuery(f *testing.F) {
	first := Query{Text: "desk lamp", Limit: 5}
	if err := first.prepare(); err != nil {
		f.Fatal(err)
	}
	f.Add("desk lamp", "", "color", "red", first.cursorAt(Hit{Product: Product{ID: "0195-id"}, Score: 1.5}))
	f.Fuzz(func(t *testing.T, text, sort, attr, value, cursor string) {
		q := Query{Text: text, Sort: sort, Cursor: cursor, Limit: 5}
		if attr != "" {
			q.Attributes = []AttributeFilter{{Name: attr, Equals: value, Text: value}}
		}
		if err := q.prepare(); err != nil {
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("%+v: %v, want a validation problem or invalid_cursor", q, err)
			}
			return
		}
		if len(q.Words) > MaxWords || q.Sort == "" || !page.ValidLimit(q.Limit) {
			t.Fatalf("accepted %+v", q)
		}
	})
}

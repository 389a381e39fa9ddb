package productapi

import (
	"net/url"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// FuzzDecodeProductRequests: no body gives a product or category write a
// 5xx or a panic, and none that is accepted carries text the stores
// refuse. The seeds are in testdata/fuzz/FuzzDecodeProductRequests.
func FuzzDecodeProductRequests(f *testing.F) {
	f.Add(false, []byte(`{"title":"Desk lamp","price":{"amount":1999,"currency":"EUR"},"attributes":{"color":"red","watts":40}}`))
	f.Fuzz(func(t *testing.T, category bool, body []byte) {
		var dst any = &productBody{}
		if category {
			dst = &categoryBody{}
		}
		httpxtest.CheckDecode(t, dst, body, maxBody)
	})
}

// FuzzParseListingQuery: no query string makes the product listing's
// parser and rules panic or answer anything but a validation problem, and
// a query they accept has a page size that lists serve. The seeds are in
// testdata/fuzz/FuzzParseListingQuery.
func FuzzParseListingQuery(f *testing.F) {
	f.Add("category=lamps&attr.color=red&attr.watts.min=10&sort=price_asc&limit=5")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return // the server answers invalid_query before any handler
		}
		q, err := parseQuery(v)
		if err == nil {
			err = q.Validate()
		}
		if err != nil {
			if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid {
				t.Fatalf("%q: %v, want a validation problem", raw, err)
			}
			return
		}
		if !page.ValidLimit(q.Limit) {
			t.Fatalf("%q: accepted limit %d", raw, q.Limit)
		}
	})
}

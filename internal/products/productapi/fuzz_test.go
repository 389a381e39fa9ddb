package productapi

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
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

package orderapi

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// ordersRequests makes a fresh value of each request body the orders API
// decodes; the fuzz input chooses one.
var ordersRequests = []func() any{
	func() any { return &cartItemRequest{} },
	func() any { return &checkoutRequest{} },
	func() any { return &paymentRequest{} },
	func() any { return &cancelRequest{} },
	func() any { return &shipRequest{} },
	func() any { return &setStockRequest{} },
	func() any { return &adjustStockRequest{} },
}

// FuzzDecodeOrdersRequests: no body gives an orders request a 5xx or a
// panic, and none that is accepted carries text the stores refuse. The
// seeds are in testdata/fuzz/FuzzDecodeOrdersRequests.
func FuzzDecodeOrdersRequests(f *testing.F) {
	f.Add(uint8(1), []byte(`{"items":[{"product_id":"0190a0b0-0000-7000-8000-000000000001","quantity":2}]}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		dst := ordersRequests[int(which)%len(ordersRequests)]()
		httpxtest.CheckDecode(t, dst, body, maxBody)
	})
}

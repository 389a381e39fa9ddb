package userapi

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// usersRequests makes a fresh value of each request body the users API
// decodes; the fuzz input chooses one.
var usersRequests = []func() any{
	func() any { return &registerRequest{} },
	func() any { return &loginRequest{} },
	func() any { return &refreshRequest{} },
	func() any { return &resetRequest{} },
	func() any { return &confirmResetRequest{} },
	func() any { return &profileRequest{} },
	func() any { return &passwordRequest{} },
	func() any { return &sellerRequest{} },
}

// FuzzDecodeUsersRequests: no body gives a users request a 5xx or a panic,
// and none that is accepted carries text the stores refuse. The seeds are
// in testdata/fuzz/FuzzDecodeUsersRequests; `go test` runs them.
func FuzzDecodeUsersRequests(f *testing.F) {
	f.Add(uint8(5), []byte(`{"display_name":"y","preferences":{"currency":"\u0000nul","language":"de"}}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		dst := usersRequests[int(which)%len(usersRequests)]()
		httpxtest.CheckDecode(t, dst, body, 16<<10)
	})
}

package httpxtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

// CheckDecode is the property every request body decoder must hold, for
// fuzz targets: httpx.Decode of body into dst (a pointer to a request type)
// either refuses it with an error a client is told about (a 4xx kind,
// never Internal or Unavailable, which would be a 5xx), or accepts it and
// leaves nothing in dst that the stores would refuse: every string valid
// UTF-8 without NUL. It never panics.
func CheckDecode(t *testing.T, dst any, body []byte, maxBytes int64) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	err := httpx.Decode(httptest.NewRecorder(), req, dst, maxBytes)
	if err != nil {
		e, ok := errs.As(err)
		if !ok || e.Kind == errs.Internal || e.Kind == errs.Unavailable {
			t.Fatalf("%q: decode failed with %v, which clients see as a 5xx", body, err)
		}
		return
	}
	out, err := json.Marshal(dst)
	if err != nil {
		t.Fatalf("%q: accepted, but the request does not marshal again: %v", body, err)
	}
	if !utf8.Valid(out) || strings.Contains(string(out), `\u0000`) {
		t.Fatalf("%q: accepted text the stores refuse: %s", body, out)
	}
}

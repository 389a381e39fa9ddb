package httpxtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
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
// UTF-8 without NUL, and no free-form JSON with an escape of half a
// surrogate pair (PostgreSQL's jsonb refuses one). It never panics.
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
	if !utf8.Valid(out) || strings.Contains(string(out), `\u0000`) || halfSurrogate(out) {
		t.Fatalf("%q: accepted text the stores refuse: %s", body, out)
	}
}

// surrogateEscape matches a \u escape of a surrogate (D800 to DFFF) and an
// escape that follows it at once, with the backslashes before it: an even
// number of them means the u is escaped text, not an escape.
var surrogateEscape = regexp.MustCompile(`(\\*)\\u([dD][89a-fA-F][0-9a-fA-F]{2})(\\u[0-9a-fA-F]{4})?`)

// halfSurrogate reports whether the JSON out holds an escape of a
// surrogate that is not a high half followed by a low half.
func halfSurrogate(out []byte) bool {
	for _, m := range surrogateEscape.FindAllSubmatch(out, -1) {
		if len(m[1])%2 == 1 {
			continue // an escaped backslash, then the letter u
		}
		first, _ := strconv.ParseUint(string(m[2]), 16, 16)
		second, _ := strconv.ParseUint(strings.TrimPrefix(string(m[3]), `\u`), 16, 16)
		if first >= 0xDC00 || second < 0xDC00 || second > 0xDFFF {
			return true
		}
	}
	return false
}

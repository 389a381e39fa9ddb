package httpx_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// profileBody has every shape of string Decode checks: plain, tagged
// multi-line and long, in a list, in a map, optional and free-form JSON.
type profileBody struct {
	Name        string                 `json:"name"`
	Description string                 `json:"description" text:"max=2000,multiline"`
	Tags        []string               `json:"tags"`
	Labels      map[string]string      `json:"labels"`
	Nick        httpx.Optional[string] `json:"nick"`
	Preferences json.RawMessage        `json:"preferences"`
}

func TestDecodeRefusesTextTheStoresWouldNot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		field       string // the field the problem names, "" for none
	}{
		{name: "plain text is accepted", body: `{"name":"Zoë","description":"line one\nline two\ttabbed"}`, status: http.StatusOK},
		{name: "a NUL escape in a field is refused", body: `{"name":"a\u0000b"}`, status: http.StatusBadRequest, field: "name"},
		{name: "a NUL inside free-form JSON is refused", body: `{"preferences":{"currency":"\u0000nul"}}`, status: http.StatusBadRequest, field: "preferences.currency"},
		{name: "a NUL in a map key of free-form JSON is refused", body: `{"preferences":{"a\u0000":"x"}}`, status: http.StatusBadRequest, field: "preferences.(key)"},
		{name: "half a surrogate pair inside free-form JSON is refused", body: `{"preferences":{"currency":"\ud800"}}`, status: http.StatusBadRequest, field: "preferences"},
		{name: "a low surrogate alone in a key of free-form JSON is refused", body: `{"preferences":{"\udc00x":"y"}}`, status: http.StatusBadRequest, field: "preferences"},
		{name: "a surrogate pair in the wrong order in free-form JSON is refused", body: `{"preferences":{"k":"\udc00\ud800"}}`, status: http.StatusBadRequest, field: "preferences"},
		{name: "a high surrogate followed by another escape in free-form JSON is refused", body: `{"preferences":{"k":"\ud800\u0041"}}`, status: http.StatusBadRequest, field: "preferences"},
		{name: "a surrogate pair in free-form JSON is accepted", body: `{"preferences":{"k":"\ud83d\ude00","\uDBFF\uDFFF":"\u00e9"}}`, status: http.StatusOK},
		{name: "an escaped backslash before u in free-form JSON is plain text", body: `{"preferences":{"k":"\\ud800"}}`, status: http.StatusOK},
		{name: "a control character in a list element is refused", body: `{"tags":["ok","\u001b[31m"]}`, status: http.StatusBadRequest, field: "tags[1]"},
		{name: "a control character in a map value is refused", body: `{"labels":{"k":"\u0007"}}`, status: http.StatusBadRequest, field: "labels.k"},
		{name: "a NUL in an optional field is refused", body: `{"nick":"\u0000"}`, status: http.StatusBadRequest, field: "nick"},
		{name: "a newline where the field does not allow it is refused", body: `{"name":"a\nb"}`, status: http.StatusBadRequest, field: "name"},
		{name: "a NUL where newlines are allowed is still refused", body: `{"description":"a\u0000"}`, status: http.StatusBadRequest, field: "description"},
		{name: "a C1 control character is refused", body: `{"name":"a\u0085"}`, status: http.StatusBadRequest, field: "name"},
		{name: "a string over the default length is refused", body: `{"name":"` + strings.Repeat("x", httpx.MaxText+1) + `"}`, status: http.StatusBadRequest, field: "name"},
		{name: "a tagged field may be longer", body: `{"description":"` + strings.Repeat("é", 2000) + `"}`, status: http.StatusOK},
		{name: "a tagged field has its own limit", body: `{"description":"` + strings.Repeat("x", 2001) + `"}`, status: http.StatusBadRequest, field: "description"},
		{name: "bytes that are not UTF-8 are refused", body: "{\"name\":\"\xff\xfe\"}", status: http.StatusBadRequest},
		{name: "a UTF-16 charset is unsupported", contentType: "application/json; charset=utf-16", body: `{"name":"a"}`, status: http.StatusUnsupportedMediaType},
		{name: "an upper-case UTF-8 charset is accepted", contentType: "application/json; charset=UTF-8", body: `{"name":"a"}`, status: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/profiles", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			var dst profileBody
			status := http.StatusOK
			if err := httpx.Decode(rec, req, &dst, 1<<20); err != nil {
				httpx.Error(rec, req, nil, err)
				status = rec.Code
			}
			if status != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", status, tt.status, rec.Body)
			}
			if status == http.StatusOK {
				return
			}
			p := decodeProblem(t, rec)
			if tt.field != "" && p.Errors[tt.field] == "" {
				t.Errorf("problem names %v, want a reason for %q", p.Errors, tt.field)
			}
		})
	}
}

func TestRouterRefusesBadPathAndQueryTextBeforeTheHandler(t *testing.T) {
	t.Parallel()
	rt := httpx.NewRouter("catalog", observability.NewHTTPMetrics(prometheus.NewRegistry()))
	var ran atomic.Int32
	rt.HandleFunc("POST /v1/orders/{id}/payment", func(w http.ResponseWriter, _ *http.Request) {
		ran.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	tests := []struct {
		name   string
		url    string
		status int
		code   string
	}{
		{name: "a plain id reaches the handler", url: "/v1/orders/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/payment", status: http.StatusNoContent},
		{name: "a NUL in the id is refused", url: "/v1/orders/%00/payment", status: http.StatusBadRequest, code: "invalid_path"},
		{name: "an id that is not UTF-8 is refused", url: "/v1/orders/%ff%fe/payment", status: http.StatusBadRequest, code: "invalid_path"},
		{name: "a 5000-character id is refused", url: "/v1/orders/" + strings.Repeat("a", 5000) + "/payment", status: http.StatusBadRequest, code: "invalid_path"},
		{name: "a control character in a query value is refused", url: "/v1/orders/x/payment?q=%07", status: http.StatusBadRequest, code: "invalid_query"},
		{name: "a malformed query escape is refused", url: "/v1/orders/x/payment?q=%zz", status: http.StatusBadRequest, code: "invalid_query"},
		{name: "a long query value is refused", url: "/v1/orders/x/payment?q=" + strings.Repeat("a", httpx.MaxQueryValue+1), status: http.StatusBadRequest, code: "invalid_query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ran.Load()
			rec := httptest.NewRecorder()
			rt.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tt.url, nil))
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			if tt.code == "" {
				return
			}
			if p := decodeProblem(t, rec); p.Code != tt.code {
				t.Errorf("code = %q, want %q", p.Code, tt.code)
			}
			if ran.Load() != before {
				t.Error("the handler ran for a refused request")
			}
		})
	}
}

func TestProblemInstanceIsTheEscapedPath(t *testing.T) {
	t.Parallel()
	rt := httpx.NewRouter("catalog", observability.NewHTTPMetrics(prometheus.NewRegistry()))
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/products/'%20OR%201=1%20--", nil))
	p := decodeProblem(t, rec)
	if want := "/v1/products/'%20OR%201=1%20--"; p.Instance != want {
		t.Errorf("instance = %q, want %q", p.Instance, want)
	}
}

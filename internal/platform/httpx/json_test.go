package httpx_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

// createItem is a request body with every JSON type Decode reports on.
type createItem struct {
	Name    string   `json:"name"`
	Price   int      `json:"price"`
	Active  bool     `json:"active"`
	Tags    []string `json:"tags"`
	Address struct {
		Zip string `json:"zip"`
	} `json:"address"`
	Note httpx.Optional[string] `json:"note"`
	Ship httpx.Optional[struct {
		City string `json:"city"`
	}] `json:"ship"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	const jsonType = "application/json"
	tests := []struct {
		name        string
		contentType string
		body        string
		maxBytes    int64
		want        *errs.Error // nil when the body is accepted
	}{
		{
			name:        "a valid object is accepted",
			contentType: jsonType,
			body:        `{"name":"lamp","price":12,"active":true,"tags":["a"],"address":{"zip":"10115"}}`,
		},
		{
			name:        "a content type with parameters is accepted",
			contentType: "application/json; charset=utf-8",
			body:        `{"name":"lamp"}`,
		},
		{
			name:        "trailing whitespace is accepted",
			contentType: jsonType,
			body:        "{\"name\":\"lamp\"}\r\n\t ",
		},
		{
			name:        "a wrong content type is unsupported",
			contentType: "text/plain",
			body:        `{"name":"lamp"}`,
			want:        &errs.Error{Kind: errs.Unsupported, Code: "unsupported_media_type"},
		},
		{
			name: "a missing content type is unsupported",
			body: `{"name":"lamp"}`,
			want: &errs.Error{Kind: errs.Unsupported, Code: "unsupported_media_type"},
		},
		{
			name:        "a form content type is unsupported",
			contentType: "application/x-www-form-urlencoded",
			body:        `name=lamp`,
			want:        &errs.Error{Kind: errs.Unsupported, Code: "unsupported_media_type"},
		},
		{
			name:        "an oversized object is too large",
			contentType: jsonType,
			body:        `{"name":"` + strings.Repeat("x", 100) + `"}`,
			maxBytes:    32,
			want:        &errs.Error{Kind: errs.TooLarge, Code: "body_too_large"},
		},
		{
			name:        "a small object padded past the limit is too large",
			contentType: jsonType,
			body:        `{"name":"lamp"}` + strings.Repeat(" ", 100),
			maxBytes:    32,
			want:        &errs.Error{Kind: errs.TooLarge, Code: "body_too_large"},
		},
		{
			name:        "malformed JSON is invalid",
			contentType: jsonType,
			body:        `{"name":"lamp",}`,
			want:        &errs.Error{Kind: errs.Invalid, Code: "malformed_json"},
		},
		{
			name:        "a truncated object is invalid",
			contentType: jsonType,
			body:        `{"name":"la`,
			want:        &errs.Error{Kind: errs.Invalid, Code: "malformed_json"},
		},
		{
			name:        "an empty body is invalid",
			contentType: jsonType,
			body:        ``,
			want:        &errs.Error{Kind: errs.Invalid, Code: "malformed_json"},
		},
		{
			name:        "a second object after the first is invalid",
			contentType: jsonType,
			body:        `{"name":"lamp"}{"name":"chair"}`,
			want:        &errs.Error{Kind: errs.Invalid, Code: "malformed_json"},
		},
		{
			name:        "trailing garbage is invalid",
			contentType: jsonType,
			body:        `{"name":"lamp"} x`,
			want:        &errs.Error{Kind: errs.Invalid, Code: "malformed_json"},
		},
		{
			name:        "an unknown field is named",
			contentType: jsonType,
			body:        `{"name":"lamp","roles":["admin"]}`,
			want:        errs.Validation(map[string]string{"roles": "is not a field of this request"}),
		},
		{
			name:        "a string for a number names the field and type",
			contentType: jsonType,
			body:        `{"price":"ten"}`,
			want:        errs.Validation(map[string]string{"price": "must be a number"}),
		},
		{
			name:        "a number for a string names the field and type",
			contentType: jsonType,
			body:        `{"name":5}`,
			want:        errs.Validation(map[string]string{"name": "must be a string"}),
		},
		{
			name:        "a string for a boolean names the field and type",
			contentType: jsonType,
			body:        `{"active":"yes"}`,
			want:        errs.Validation(map[string]string{"active": "must be a boolean"}),
		},
		{
			name:        "a string for an array names the field and type",
			contentType: jsonType,
			body:        `{"tags":"a"}`,
			want:        errs.Validation(map[string]string{"tags": "must be an array"}),
		},
		{
			name:        "a number for an object names the field and type",
			contentType: jsonType,
			body:        `{"address":1}`,
			want:        errs.Validation(map[string]string{"address": "must be an object"}),
		},
		{
			name:        "a nested field is named by its path",
			contentType: jsonType,
			body:        `{"address":{"zip":10115}}`,
			want:        errs.Validation(map[string]string{"address.zip": "must be a string"}),
		},
		{
			name:        "a wrong type inside an optional field names the field",
			contentType: jsonType,
			body:        `{"note":7}`,
			want:        errs.Validation(map[string]string{"note": "must be a string"}),
		},
		{
			name:        "an unknown field inside an optional value is named",
			contentType: jsonType,
			body:        `{"ship":{"city":"Berlin","owner_id":1}}`,
			want:        errs.Validation(map[string]string{"owner_id": "is not a field of this request"}),
		},
		{
			name:        "a nested unknown field is named",
			contentType: jsonType,
			body:        `{"address":{"zip":"10115","admin":true}}`,
			want:        errs.Validation(map[string]string{"admin": "is not a field of this request"}),
		},
		{
			name:        "an array body is reported against the body",
			contentType: jsonType,
			body:        `[1,2]`,
			want:        errs.Validation(map[string]string{"(body)": "must be an object"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/v1/items", strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			maxBytes := tt.maxBytes
			if maxBytes == 0 {
				maxBytes = httpx.DefaultMaxBody
			}
			var dst createItem
			err := httpx.Decode(httptest.NewRecorder(), r, &dst, maxBytes)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Decode = %v, want nil", err)
				}
				return
			}
			got, ok := errs.As(err)
			if !ok {
				t.Fatalf("Decode = %v (%T), want an *errs.Error", err, err)
			}
			if diff := cmp.Diff(
				[]any{tt.want.Kind, tt.want.Code, tt.want.Fields},
				[]any{got.Kind, got.Code, got.Fields},
			); diff != "" {
				t.Errorf("Decode error %q mismatch [kind code fields] (-want +got):\n%s", got, diff)
			}
		})
	}
}

func TestDecodeFillsTheDestination(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/v1/items", strings.NewReader(`{"name":"lamp","price":12,"tags":["a","b"],"address":{"zip":"10115"}}`))
	r.Header.Set("Content-Type", "application/json")
	var got createItem
	if err := httpx.Decode(httptest.NewRecorder(), r, &got, httpx.DefaultMaxBody); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := createItem{Name: "lamp", Price: 12, Tags: []string{"a", "b"}}
	want.Address.Zip = "10115"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded value mismatch (-want +got):\n%s", diff)
	}
}

func TestOptionalTellsAbsentFromNullFromValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want httpx.Optional[string]
	}{
		{name: "an absent field is not set", body: `{}`, want: httpx.Optional[string]{}},
		{name: "a null field is set and null", body: `{"v":null}`, want: httpx.Optional[string]{Set: true, Null: true}},
		{name: "a value is set", body: `{"v":"hello"}`, want: httpx.Optional[string]{Set: true, Value: "hello"}},
		{name: "an empty string is a value, not null", body: `{"v":""}`, want: httpx.Optional[string]{Set: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got struct {
				V httpx.Optional[string] `json:"v"`
			}
			if err := json.Unmarshal([]byte(tt.body), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if diff := cmp.Diff(tt.want, got.V); diff != "" {
				t.Errorf("Optional mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOptionalRefusesAValueOfTheWrongType(t *testing.T) {
	t.Parallel()
	var got struct {
		V httpx.Optional[int] `json:"v"`
	}
	if err := json.Unmarshal([]byte(`{"v":"seven"}`), &got); err == nil {
		t.Fatalf("Unmarshal = nil, want a type error; got %+v", got.V)
	}
}

func TestJSONWritesStatusContentTypeAndBody(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	httpx.JSON(w, http.StatusCreated, map[string]int{"id": 7})
	if w.Code != http.StatusCreated {
		t.Errorf("status = %d, want %d", w.Code, http.StatusCreated)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if body := strings.TrimSpace(w.Body.String()); body != `{"id":7}` {
		t.Errorf("body = %q, want {\"id\":7}", body)
	}
}

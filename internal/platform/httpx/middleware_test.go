package httpx_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

func TestRequestIDKeepsSafeIDsAndReplacesOthers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{name: "a uuid is kept", incoming: "8a6e0804-2bd0-4672-b79d-d97027f9071a", keep: true},
		{name: "letters, digits, dots, dashes and underscores are kept", incoming: "gw.01_req-Z9", keep: true},
		{name: "128 characters are kept", incoming: strings.Repeat("a", 128), keep: true},
		{name: "129 characters are replaced", incoming: strings.Repeat("a", 129)},
		{name: "a missing id is generated", incoming: ""},
		{name: "an id with a space is replaced", incoming: "abc def"},
		{name: "an id with a newline is replaced", incoming: "abc\nlevel=ERROR msg=forged"},
		{name: "an id with a trailing newline is replaced", incoming: "abc\n"},
		{name: "an id with a carriage return is replaced", incoming: "abc\rdef"},
		{name: "an id with quotes is replaced", incoming: `abc"def`},
		{name: "an id with non-ASCII letters is replaced", incoming: "ümlaut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			h := httpx.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = observability.RequestID(r.Context())
			}))
			w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.incoming != "" {
				r.Header[http.CanonicalHeaderKey(httpx.RequestIDHeader)] = []string{tt.incoming}
			}
			h.ServeHTTP(w, r)

			got := w.Header().Get(httpx.RequestIDHeader)
			if got != seen {
				t.Errorf("response id %q differs from context id %q", got, seen)
			}
			if tt.keep {
				if got != tt.incoming {
					t.Errorf("id = %q, want the incoming %q kept", got, tt.incoming)
				}
				return
			}
			if _, err := uuid.Parse(got); err != nil || got == tt.incoming {
				t.Errorf("id = %q, want a fresh uuid replacing %q", got, tt.incoming)
			}
		})
	}
}

func TestRequestIDGeneratesADifferentIDForEachRequest(t *testing.T) {
	t.Parallel()
	h := httpx.RequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	seen := map[string]bool{}
	for range 20 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		id := w.Header().Get(httpx.RequestIDHeader)
		if seen[id] {
			t.Fatalf("id %q generated twice", id)
		}
		seen[id] = true
	}
}

func TestChainRunsMiddlewareInTheOrderListed(t *testing.T) {
	t.Parallel()
	var order []string
	mark := func(name string) httpx.Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := httpx.Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "handler") }),
		mark("first"), mark("second"))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if got := strings.Join(order, ","); got != "first,second,handler" {
		t.Errorf("order = %s, want first,second,handler", got)
	}
}

func TestRecoverAnswersAPanicWithAProblemAndKeepsServing(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("nil map write in handler") })
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "fine") })
	srv := httptest.NewServer(httpx.Chain(mux, httpx.RequestID, httpx.Recover(log)))
	t.Cleanup(srv.Close)

	res := get(t, srv.URL+"/panic")
	if res.status != http.StatusInternalServerError {
		t.Errorf("panic: status = %d, want 500", res.status)
	}
	if res.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("panic: Content-Type = %q, want application/problem+json", res.header.Get("Content-Type"))
	}
	var p httpx.Problem
	if err := json.Unmarshal([]byte(res.body), &p); err != nil || p.Code != "internal" {
		t.Errorf("panic: body %q, want an internal problem", res.body)
	}
	if strings.Contains(res.body, "nil map") {
		t.Errorf("panic: body %q leaks the panic value", res.body)
	}
	if p.RequestID == "" || p.RequestID != res.header.Get(httpx.RequestIDHeader) {
		t.Errorf("panic: request_id %q, header %q; want them equal and set", p.RequestID, res.header.Get(httpx.RequestIDHeader))
	}
	if !strings.Contains(logs.String(), "nil map write in handler") {
		t.Errorf("logs = %q, want the panic logged", logs)
	}

	if res := get(t, srv.URL+"/ok"); res.status != http.StatusOK || res.body != "fine" {
		t.Errorf("after a panic: %d %q, want 200 fine", res.status, res.body)
	}
}

func TestRecoverLetsAbortHandlerThrough(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger(t)
	h := httpx.Recover(log)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler re-panicked", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

func TestAccessLogRecordsStatusAndRequestID(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger(t)
	h := httpx.Chain(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "short and stout")
	}), httpx.RequestID, httpx.AccessLog(log))
	r := httptest.NewRequest(http.MethodPost, "/brew", nil)
	r.Header.Set(httpx.RequestIDHeader, "brew-1")
	h.ServeHTTP(httptest.NewRecorder(), r)

	var line map[string]any
	if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
		t.Fatalf("log %q is not one JSON line: %v", logs, err)
	}
	for key, want := range map[string]any{"msg": "request", "method": "POST", "path": "/brew", "status": float64(418), "bytes": float64(15), "request_id": "brew-1"} {
		if line[key] != want {
			t.Errorf("log %s = %v, want %v", key, line[key], want)
		}
	}
}

func TestProbesAreLoggedAtDebugLevelAndRequestsAtInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, level string
	}{
		{"/healthz", "DEBUG"},
		{"/readyz", "DEBUG"},
		{"/metrics", "DEBUG"},
		{"/v1/products", "INFO"},
		{"/readyz/more", "INFO"},
	}
	for _, tt := range tests {
		log, logs := newTestLogger(t)
		h := httpx.AccessLog(log)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, tt.path, nil))
		var line map[string]any
		if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
			t.Fatalf("%s: log %q is not one JSON line: %v", tt.path, logs, err)
		}
		if line["level"] != tt.level {
			t.Errorf("%s logged at %v, want %s", tt.path, line["level"], tt.level)
		}
	}
}

func TestSecurityHeadersAreSetOnEveryResponse(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger(t)
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{name: "a JSON answer", handler: func(w http.ResponseWriter, _ *http.Request) { httpx.JSON(w, http.StatusOK, "ok") }},
		{name: "a problem", handler: func(w http.ResponseWriter, r *http.Request) {
			httpx.Error(w, r, log, errs.New(errs.NotFound, "nope", "nope"))
		}},
		{name: "an empty answer", handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }},
	}
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			httpx.SecurityHeaders(tt.handler).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			for name, value := range want {
				if got := w.Header().Get(name); got != value {
					t.Errorf("%s = %q, want %q", name, got, value)
				}
			}
		})
	}
}

// response is what get read.
type response struct {
	status int
	header http.Header
	body   string
}

// get fetches url and reads the whole response.
func get(t *testing.T, url string) response {
	t.Helper()
	return do(t, http.MethodGet, url)
}

// do sends a body-less request and reads the whole response.
func do(t *testing.T, method, url string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}

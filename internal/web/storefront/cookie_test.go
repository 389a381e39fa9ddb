package storefront

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// TestTheCookiesAreSecureWhenTheBrowserCameOverTLS: the pages' cookies
// are always HttpOnly and SameSite=Lax, and Secure when the browser came
// over TLS, directly or through the gateway, which says so in
// X-Forwarded-Proto.
func TestTheCookiesAreSecureWhenTheBrowserCameOverTLS(t *testing.T) {
	tests := []struct {
		name       string
		tls        bool
		proto      string
		wantSecure bool
	}{
		{name: "plain HTTP", wantSecure: false},
		{name: "TLS to the pages themselves", tls: true, wantSecure: true},
		{name: "TLS to the gateway in front", proto: "https", wantSecure: true},
		{name: "plain HTTP to the gateway in front", proto: "http", wantSecure: false},
	}
	h, err := New(Config{APIURL: "http://127.0.0.1:1", CookieKeys: [][]byte{make([]byte, 32)}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rt := httpx.NewRouter("web", observability.NewHTTPMetrics(observability.NewRegistry()))
	h.Routes(rt)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/login", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("GET /login = %d: %s", w.Code, w.Body)
			}
			cookies := w.Result().Cookies()
			if len(cookies) == 0 {
				t.Fatal("the log-in form set no cookie")
			}
			for _, c := range cookies {
				if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tt.wantSecure {
					t.Errorf("cookie %s: HttpOnly %t, SameSite %v, Secure %t; want HttpOnly, Lax, Secure %t",
						c.Name, c.HttpOnly, c.SameSite, c.Secure, tt.wantSecure)
				}
			}
		})
	}
}

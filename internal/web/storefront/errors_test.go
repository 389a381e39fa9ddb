package storefront

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// TestAnAPIThatRefusesOrFailsGivesAPageAPersonCanActOn: when the API
// rate-limits the visitor, is down, or answers what the pages cannot
// read, the page says what to do (wait, try again), in the visitor's
// language, with a fitting status, and never shows the API's own answer.
func TestAnAPIThatRefusesOrFailsGivesAPageAPersonCanActOn(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string // the API's answer, when not a problem
		lang       string
		wantStatus int
		want       string
	}{
		{name: "rate limited, told when to come back", status: http.StatusTooManyRequests, retryAfter: "7", lang: "en",
			wantStatus: http.StatusTooManyRequests, want: "Too many requests. Please wait 7 seconds and try again."},
		{name: "rate limited, in German", status: http.StatusTooManyRequests, retryAfter: "7", lang: "de",
			wantStatus: http.StatusTooManyRequests, want: "Zu viele Anfragen. Bitte warten Sie 7 Sekunden und versuchen Sie es erneut."},
		{name: "rate limited without a time", status: http.StatusTooManyRequests, lang: "en",
			wantStatus: http.StatusTooManyRequests, want: "Too many requests. Please wait a moment and try again."},
		{name: "a service down", status: http.StatusServiceUnavailable, lang: "en",
			wantStatus: http.StatusServiceUnavailable, want: "The shop is having trouble right now. Please try again in a moment."},
		{name: "a service failing", status: http.StatusInternalServerError, lang: "de",
			wantStatus: http.StatusServiceUnavailable, want: "Der Shop hat gerade Schwierigkeiten. Bitte versuchen Sie es gleich noch einmal."},
		// An answer the pages cannot read is their own failure: the 500 page.
		{name: "an answer the pages cannot read", status: http.StatusOK, body: "stack trace here", lang: "en",
			wantStatus: http.StatusInternalServerError, want: "Something went wrong on our side. Please try again."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				body := `{"code":"secret_internal_code","title":"stack trace here"}`
				w.Header().Set("Content-Type", "application/problem+json")
				if tt.body != "" {
					body = tt.body
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, body)
			}))
			t.Cleanup(api.Close)
			h, err := New(Config{APIURL: api.URL, CookieKeys: [][]byte{make([]byte, 32)}}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			rt := httpx.NewRouter("web", observability.NewHTTPMetrics(observability.NewRegistry()))
			h.Routes(rt)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Accept-Language", tt.lang)
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tt.wantStatus {
				t.Errorf("GET / = %d, want %d", w.Code, tt.wantStatus)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want a page", ct)
			}
			if !strings.Contains(body, tt.want) {
				t.Errorf("the page does not say %q:\n%s", tt.want, body)
			}
			if !strings.Contains(body, `lang="`+tt.lang+`"`) {
				t.Errorf("the page is not in %q", tt.lang)
			}
			if strings.Contains(body, "secret_internal_code") || strings.Contains(body, "stack trace here") {
				t.Errorf("the page shows the API's own answer:\n%s", body)
			}
		})
	}
}

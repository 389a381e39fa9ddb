package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

func TestRequireRunsTheHandlerOnlyWithAValidBearerToken(t *testing.T) {
	key := newTestKey(t, testKID)
	v := newTestVerifier(t, key)
	valid := key.sign(t, validClaims())
	tests := []struct {
		name       string
		header     string
		wantCalled bool
		wantCode   string
		challenge  string
	}{
		{"a valid token reaches the handler", "Bearer " + valid, true, "", ""},
		{"the scheme is case-insensitive", "bearer " + valid, true, "", ""},
		{"no header is a missing token", "", false, "missing_token", `Bearer`},
		{"another scheme is a missing token", "Basic dXNlcjpwYXNz", false, "missing_token", `Bearer`},
		{"an empty bearer is a missing token", "Bearer ", false, "missing_token", `Bearer`},
		{"a forged token is an invalid token", "Bearer " + valid + "x", false, "invalid_token", `Bearer error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				called  bool
				failure error
			)
			fail := func(w http.ResponseWriter, r *http.Request, err error) {
				failure = err
				SetChallenge(w, err)
			}
			h := v.Require(fail, func(w http.ResponseWriter, r *http.Request, c Claims) {
				called = true
				if fromCtx, ok := FromContext(r.Context()); !ok || fromCtx.UserID != c.UserID {
					t.Errorf("claims not in the request context")
				}
			})
			req := httptest.NewRequest("GET", "/", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			w := httptest.NewRecorder()
			h(w, req)
			if called != tt.wantCalled {
				t.Fatalf("handler called = %v, want %v (failure %v)", called, tt.wantCalled, failure)
			}
			if tt.wantCode != "" {
				if e, ok := errs.As(failure); !ok || e.Code != tt.wantCode || e.Kind != errs.Unauthenticated {
					t.Errorf("failure %v, want Unauthenticated %s", failure, tt.wantCode)
				}
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
		})
	}
}

func TestOptionalFromRequestIsAnonymousOnlyWithoutAnAuthorizationHeader(t *testing.T) {
	key := newTestKey(t, testKID)
	v := newTestVerifier(t, key)
	valid := key.sign(t, validClaims())
	tests := []struct {
		name      string
		header    string
		wantUser  bool
		wantError string
	}{
		{"no header is anonymous", "", false, ""},
		{"a valid token gives its claims", "Bearer " + valid, true, ""},
		{"a forged token is an invalid token, not anonymous", "Bearer " + valid + "x", false, "invalid_token"},
		{"another scheme is a missing token, not anonymous", "Basic dXNlcjpwYXNz", false, "missing_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			c, err := v.OptionalFromRequest(req)
			if tt.wantError != "" {
				if e, ok := errs.As(err); !ok || e.Code != tt.wantError || c != nil {
					t.Errorf("OptionalFromRequest = %v, %v; want no claims and %s", c, err, tt.wantError)
				}
				return
			}
			if err != nil || (c != nil) != tt.wantUser || c != nil && c.UserID != validClaims()["sub"] {
				t.Errorf("OptionalFromRequest = %+v, %v; want claims: %v", c, err, tt.wantUser)
			}
		})
	}
}

package auth

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

func TestResponderAnswersEveryOutcomeAsTheAPIsDo(t *testing.T) {
	key := newTestKey(t, testKID)
	rs := NewResponder(newTestVerifier(t, key), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ok := func(w http.ResponseWriter, r *http.Request, c Claims) {
		rs.Reply(w, r, http.StatusOK, map[string]string{"user": c.UserID}, nil)
	}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		token     string
		status    int
		code      string
		challenge string
	}{
		{"a valid token reaches the handler", rs.Authed(ok), key.sign(t, validClaims()), http.StatusOK, "", ""},
		{"no token is 401 missing_token with a bare challenge", rs.Authed(ok), "", http.StatusUnauthorized, "missing_token", "Bearer"},
		{"a rejected token is 401 invalid_token with its challenge", rs.Authed(ok), "forged", http.StatusUnauthorized, "invalid_token", `Bearer error="invalid_token"`},
		{"a client's error is its problem, with no challenge",
			func(w http.ResponseWriter, r *http.Request) {
				rs.Fail(w, r, errs.New(errs.NotFound, "thing_not_found", "no such thing"))
			},
			"", http.StatusNotFound, "thing_not_found", ""},
		{"our own error is a bare 500",
			func(w http.ResponseWriter, r *http.Request) {
				rs.Reply(w, r, http.StatusOK, nil, errors.New("disk on fire"))
			},
			"", http.StatusInternalServerError, "internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v1/things", nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()
			tt.handler(w, req)
			var body struct {
				Code string `json:"code"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if w.Code != tt.status || body.Code != tt.code {
				t.Errorf("answer %d %q, want %d %q (body %s)", w.Code, body.Code, tt.status, tt.code, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
		})
	}
}

package auth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

var (
	errNoToken  = errs.New(errs.Unauthenticated, "missing_token", "this endpoint needs a bearer access token")
	errBadToken = errs.New(errs.Unauthenticated, "invalid_token", "the access token is invalid or expired")
)

// FromRequest verifies the request's "Authorization: Bearer" token. Every
// rejection is an *errs.Error of kind Unauthenticated; a failure to reach the
// keys is returned as is (a server fault, not the client's).
func (v *Verifier) FromRequest(r *http.Request) (Claims, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Claims{}, errNoToken
	}
	c, err := v.Verify(r.Context(), strings.TrimSpace(token))
	if errors.Is(err, ErrInvalidToken) {
		return Claims{}, errBadToken
	}
	return c, err
}

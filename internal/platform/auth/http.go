package auth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

var (
	errNoToken  = errs.New(errs.Unauthenticated, "missing_token", "this endpoint needs a bearer access token")
	errBadToken = errs.New(errs.Unauthenticated, "invalid_token", "the access token is invalid or expired")
)

// FromRequest verifies the request's "Authorization: Bearer" token. Every
// rejection is an *errs.Error of kind Unauthenticated; a failure to reach the
// keys is returned as is (a server fault, not the client's).
func (v *Verifier) FromRequest(r *http.Request) (Claims, error) {
	token, ok := bearer(r)
	if !ok {
		return Claims{}, errNoToken
	}
	c, err := v.Verify(r.Context(), token)
	if errors.Is(err, ErrInvalidToken) {
		return Claims{}, errBadToken
	}
	if err == nil {
		observability.SetUserID(r.Context(), c.UserID) // for the access log
	}
	return c, err
}

// OptionalFromRequest is FromRequest for endpoints open to anyone that
// show more to some: a request without an Authorization header is
// anonymous (nil claims), while a token that is sent must be valid. A bad
// token is an error rather than an anonymous request, so that the client
// learns it is wrong instead of silently seeing less.
func (v *Verifier) OptionalFromRequest(r *http.Request) (*Claims, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, nil
	}
	c, err := v.FromRequest(r)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// bearer returns the request's "Authorization: Bearer" token.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// SetChallenge sets the WWW-Authenticate header RFC 6750 asks for on a 401
// from FromRequest: a bare "Bearer" when no token was sent, with
// error="invalid_token" when one was rejected; nothing for other errors.
func SetChallenge(w http.ResponseWriter, err error) {
	switch {
	case errs.Is(err, errNoToken.Code):
		w.Header().Set("WWW-Authenticate", `Bearer`)
	case errs.Is(err, errBadToken.Code):
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
}

// Require returns a handler that runs h with the verified claims of the
// request's bearer token (also put in the request context, with the token
// itself), or answers through fail when there is no valid token.
func (v *Verifier) Require(fail func(http.ResponseWriter, *http.Request, error), h func(http.ResponseWriter, *http.Request, Claims)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := v.FromRequest(r)
		if err != nil {
			fail(w, r, err)
			return
		}
		token, _ := bearer(r)
		h(w, r.WithContext(WithBearer(WithClaims(r.Context(), c), token)), c)
	}
}

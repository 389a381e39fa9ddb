// Package auth verifies the access tokens that the users service issues, so
// that every service can trust who is calling it without calling back to the
// users service on each request.
//
// Tokens are JWTs signed with EdDSA (Ed25519). The verifier pins that
// algorithm rather than trusting the token's header, and finds the public key
// by the header's kid through a KeySource: StaticKeys inside the users service
// itself, JWKS everywhere else.
package auth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Role names carried in the "roles" claim.
const (
	RoleBuyer  = "buyer"
	RoleSeller = "seller"
	RoleAdmin  = "admin"
)

// Claims is what a verified access token says about its bearer.
type Claims struct {
	UserID    string // sub
	Roles     []string
	SessionID string // sid: the refresh-token family, so a logout can be honoured
	TokenID   string // jti
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// HasRole reports whether the bearer was granted role.
func (c Claims) HasRole(role string) bool {
	return slices.Contains(c.Roles, role)
}

// ErrInvalidToken is returned, wrapped, for every token that must be rejected:
// malformed, bad signature, an algorithm other than EdDSA, a missing or
// unknown kid, wrong issuer or audience, expired, not yet valid, issued in the
// future beyond the leeway, or without a subject. Callers answer it with 401.
var ErrInvalidToken = errors.New("invalid access token")

// ErrUnknownKey is returned, wrapped, by a KeySource that holds no key with
// the requested id.
var ErrUnknownKey = errors.New("unknown signing key")

// KeySource finds the public verification key for a key id.
type KeySource interface {
	// PublicKey returns the public key with id kid, or an error wrapping
	// ErrUnknownKey when there is none. Any other error means the source
	// could not answer (e.g. the key server is down), not that the token is bad.
	PublicKey(ctx context.Context, kid string) (jwk.Key, error)
}

// claimsKey is the context key for Claims; unexported so only this package
// can set or read it.
type claimsKey struct{}

// WithClaims returns a copy of ctx carrying c, for middleware that has
// verified a request's token.
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// bearerKey keys the caller's access token in a context.
type bearerKey struct{}

// WithBearer stores the caller's access token, for calls a service makes
// to another on the caller's behalf (so that the other sees what the
// caller may see, such as a seller's own drafts).
func WithBearer(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, bearerKey{}, token)
}

// BearerFrom returns the token stored by WithBearer, or "".
func BearerFrom(ctx context.Context) string {
	t, _ := ctx.Value(bearerKey{}).(string)
	return t
}

// FromContext returns the claims stored by WithClaims, and false when the
// request was not authenticated.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

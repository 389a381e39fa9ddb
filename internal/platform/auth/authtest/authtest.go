// Package authtest issues access tokens for tests of services that verify
// them: it plays the users service's part with its own Ed25519 key, served
// as a JWKS on a loopback port.
package authtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
)

// Issuer and audience of the tokens this package issues.
const (
	IssuerName = "authtest-issuer"
	Audience   = "authtest-audience"
)

// Issuer signs tokens and serves its public key.
type Issuer struct {
	JWKSURL string
	key     jwk.Key
}

// NewIssuer starts a JWKS server that stops when the test ends.
func NewIssuer(tb testing.TB) *Issuer {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := jwk.Import(priv)
	if err != nil {
		tb.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, uuid.NewString())
	_ = key.Set(jwk.AlgorithmKey, jwa.EdDSA())
	pub, err := jwk.PublicKeyOf(key)
	if err != nil {
		tb.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	body, _ := json.Marshal(set)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return &Issuer{JWKSURL: srv.URL, key: key}
}

// Verifier returns a verifier of this issuer's tokens, as a service builds.
func (is *Issuer) Verifier() *auth.Verifier {
	return auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: is.JWKSURL}), auth.VerifierConfig{Issuer: IssuerName, Audience: Audience})
}

// Token returns a 15-minute access token for user with roles.
func (is *Issuer) Token(tb testing.TB, user string, roles ...string) string {
	tb.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(IssuerName).Audience([]string{Audience}).Subject(user).
		IssuedAt(now).Expiration(now.Add(15*time.Minute)).JwtID(uuid.NewString()).
		Claim("roles", roles).Claim("sid", uuid.NewString()).Build()
	if err != nil {
		tb.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), is.key))
	if err != nil {
		tb.Fatal(err)
	}
	return string(signed)
}

package usersrv_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// signingKey is an Ed25519 key the test holds, so it can mint tokens the
// service must accept or refuse.
type signingKey struct {
	kid  string
	priv ed25519.PrivateKey
}

func newSigningKey(t *testing.T, kid string) signingKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, priv: priv}
}

// withKeys configures the service with a private JWK set of keys; the first
// signs.
func withKeys(t *testing.T, keys ...signingKey) func(*usersrv.Config) {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for _, k := range keys {
		set.Keys = append(set.Keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": k.kid,
			"x": b64(k.priv.Public().(ed25519.PublicKey)), "d": b64(k.priv.Seed())})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *usersrv.Config) { c.KeysJSON = string(b) }
}

// jwtClaims are the claims of a token the service would issue to sub.
func jwtClaims(sub string, now time.Time) map[string]any {
	return map[string]any{"iss": "test-issuer", "aud": []string{"test-audience"}, "sub": sub,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "test-jti",
		"roles": []string{"buyer"}, "sid": "00000000-0000-0000-0000-000000000000"}
}

// mint builds a compact JWS; sign returns the signature of the signing input.
func mint(t *testing.T, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	input := jsonSegment(t, header) + "." + jsonSegment(t, claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func jsonSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (k signingKey) sign(input []byte) []byte { return ed25519.Sign(k.priv, input) }

func (k signingKey) header() map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": k.kid}
}

// with returns a copy of m with key set to v, or removed when v is nil.
func with(m map[string]any, key string, v any) map[string]any {
	m = maps.Clone(m)
	if v == nil {
		delete(m, key)
	} else {
		m[key] = v
	}
	return m
}

func hs256(secret []byte) func([]byte) []byte {
	return func(input []byte) []byte {
		mac := hmac.New(sha256.New, secret)
		mac.Write(input)
		return mac.Sum(nil)
	}
}

type jwksDoc struct {
	Keys []map[string]any `json:"keys"`
}

func (e *testEnv) jwks(t *testing.T) jwksDoc {
	t.Helper()
	var doc jwksDoc
	r := e.do(t, "GET", "/.well-known/jwks.json", "", nil).want(t, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("jwks content type %q", ct)
	}
	r.decode(t, &doc)
	return doc
}

func TestForgedAndExpiredAccessTokensAreRejected(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, "key-1")
	e := newEnv(t, withKeys(t, key))
	u, real := e.mustUser(t, "victim@example.com")
	now := time.Now()
	claims := jwtClaims(u.ID, now)

	jwk := e.jwks(t).Keys[0]
	x, err := base64.RawURLEncoding.DecodeString(jwk["x"].(string))
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, _ := json.Marshal(jwk)
	impostor := newSigningKey(t, key.kid)
	var realClaims map[string]any
	decodeSegment(t, real.AccessToken, 1, &realClaims)
	parts := strings.Split(real.AccessToken, ".")
	tampered := parts[0] + "." + jsonSegment(t, with(realClaims, "roles", []string{"buyer", "admin"})) + "." + parts[2]
	none := func([]byte) []byte { return nil }

	// The first row proves that mint makes tokens the service accepts, so
	// the rejections below are not an accident of a broken helper.
	if got := e.me(t, mint(t, key.header(), claims, key.sign)); got.ID != u.ID {
		t.Fatalf("a well-formed token signed with the service key was not accepted for %s", u.ID)
	}
	tests := []struct {
		name  string
		token string
	}{
		{"an expired token", mint(t, key.header(), with(with(claims, "exp", now.Add(-time.Hour).Unix()), "iat", now.Add(-2*time.Hour).Unix()), key.sign)},
		{"a token without exp", mint(t, key.header(), with(claims, "exp", nil), key.sign)},
		{"a token not valid before an hour from now", mint(t, key.header(), with(claims, "nbf", now.Add(time.Hour).Unix()), key.sign)},
		{"a token issued an hour in the future", mint(t, key.header(), with(with(claims, "iat", now.Add(time.Hour).Unix()), "exp", now.Add(2*time.Hour).Unix()), key.sign)},
		{"a token signed by another Ed25519 key with the same kid", mint(t, impostor.header(), claims, impostor.sign)},
		{"a token with alg none", mint(t, map[string]any{"alg": "none", "typ": "JWT", "kid": key.kid}, claims, none)},
		{"a token with alg none and no signature part", strings.TrimSuffix(mint(t, map[string]any{"alg": "none", "kid": key.kid}, claims, none), ".")},
		{"a token with alg None", mint(t, map[string]any{"alg": "None", "typ": "JWT", "kid": key.kid}, claims, none)},
		{"an HS256 token keyed with the raw public key", mint(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims, hs256(x))},
		{"an HS256 token keyed with the public key's base64", mint(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims, hs256([]byte(jwk["x"].(string))))},
		{"an HS256 token keyed with the public JWK", mint(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims, hs256(jwkJSON))},
		{"a real token whose roles were changed to admin", tampered},
		{"a real token with its signature cut off", parts[0] + "." + parts[1] + "."},
		{"a token from another issuer", mint(t, key.header(), with(claims, "iss", "https://evil.example"), key.sign)},
		{"a token for another audience", mint(t, key.header(), with(claims, "aud", []string{"orders"}), key.sign)},
		{"a token without a subject", mint(t, key.header(), with(claims, "sub", nil), key.sign)},
		{"a token whose roles are a string", mint(t, key.header(), with(claims, "roles", "admin"), key.sign)},
		{"a token with an unknown kid", mint(t, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "key-2"}, claims, key.sign)},
		{"a token without a kid", mint(t, map[string]any{"alg": "EdDSA", "typ": "JWT"}, claims, key.sign)},
		{"a token with a crit header", mint(t, with(key.header(), "crit", []string{"exp"}), claims, key.sign)},
		{"a string that is not a JWT", "not-a-token"},
		{"an oversized token", strings.Repeat("a", 9<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(t, "GET", "/v1/users/me", tt.token, nil).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			e.do(t, "GET", "/v1/admin/users", tt.token, nil).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		})
	}
}

func TestRequestsWithoutABearerTokenAreRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.mustUser(t, "bearer@example.com")
	tests := []struct {
		name   string
		header string
	}{
		{"no Authorization header", ""},
		{"a Basic scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("bearer@example.com:"+goodPassword))},
		{"a bare token without a scheme", tok.AccessToken},
		{"the Bearer scheme without a token", "Bearer "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", "/v1/users/me", "", nil, "Authorization", tt.header)
			r.wantProblem(t, http.StatusUnauthorized, "missing_token")
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// The scheme is case-insensitive.
	e.do(t, "GET", "/v1/users/me", "", nil, "Authorization", "bearer "+tok.AccessToken).want(t, http.StatusOK)
}

func TestAccessTokensCarryTheAgreedClaims(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, "key-claims")
	e := newEnv(t, withKeys(t, key))
	u, tok := e.mustUser(t, "claims@example.com")
	var header map[string]any
	decodeSegment(t, tok.AccessToken, 0, &header)
	if header["alg"] != "EdDSA" || header["kid"] != key.kid {
		t.Errorf("header %v, want alg EdDSA and kid %s", header, key.kid)
	}
	var c struct {
		Iss, Sub, Jti, Sid string
		Aud                any
		Roles              []string
		Iat, Exp           int64
	}
	decodeSegment(t, tok.AccessToken, 1, &c)
	if c.Iss != "test-issuer" || c.Sub != u.ID || c.Jti == "" || c.Sid == "" || !slices.Equal(c.Roles, []string{"buyer"}) {
		t.Errorf("claims %+v", c)
	}
	if aud, _ := c.Aud.([]any); len(aud) != 1 || aud[0] != "test-audience" {
		t.Errorf("aud %v, want [test-audience]", c.Aud)
	}
	if c.Exp-c.Iat != int64((15 * time.Minute).Seconds()) {
		t.Errorf("exp - iat = %ds, want 900", c.Exp-c.Iat)
	}
	var again struct{ Jti, Sid string }
	decodeSegment(t, e.mustRefresh(t, tok.RefreshToken).AccessToken, 1, &again)
	if again.Jti == c.Jti || again.Sid != c.Sid {
		t.Errorf("after refresh jti %s sid %s; want a new jti and the same sid %s", again.Jti, again.Sid, c.Sid)
	}
}

func TestJWKSPublishesOnlyPublicKeysThatVerifyIssuedTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // keys generated and persisted, as in a local run
	doc := e.jwks(t)
	if len(doc.Keys) != 1 {
		t.Fatalf("%d keys, want 1", len(doc.Keys))
	}
	k := doc.Keys[0]
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if _, ok := k[private]; ok {
			t.Errorf("JWKS key has private member %q: %v", private, k)
		}
	}
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["kid"] == nil || k["x"] == nil {
		t.Errorf("JWKS key %v, want an Ed25519 public key with kid and alg EdDSA", k)
	}

	u, tok := e.mustUser(t, "jwks@example.com")
	v := auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: e.URL + "/.well-known/jwks.json"}),
		auth.VerifierConfig{Issuer: "test-issuer", Audience: "test-audience"})
	c, err := v.Verify(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatalf("verify a login token with the published keys: %v", err)
	}
	if c.UserID != u.ID || !slices.Equal(c.Roles, []string{"buyer"}) || c.SessionID == "" || c.TokenID == "" {
		t.Errorf("claims %+v", c)
	}
	if _, err := v.Verify(context.Background(), tok.AccessToken+"x"); err == nil {
		t.Error("a token with a broken signature verified")
	}
}

func TestKeyRotationPublishesThePreviousKey(t *testing.T) {
	t.Parallel()
	current, previous := newSigningKey(t, "key-2025"), newSigningKey(t, "key-2024")
	e := newEnv(t, withKeys(t, current, previous))

	var kids []string
	for _, k := range e.jwks(t).Keys {
		if _, ok := k["d"]; ok {
			t.Errorf("key %v has a private part", k["kid"])
		}
		kids = append(kids, k["kid"].(string))
	}
	slices.Sort(kids)
	if !slices.Equal(kids, []string{previous.kid, current.kid}) {
		t.Fatalf("JWKS kids %v, want both keys", kids)
	}

	u, tok := e.mustUser(t, "rotation@example.com")
	var header map[string]any
	decodeSegment(t, tok.AccessToken, 0, &header)
	if header["kid"] != current.kid {
		t.Errorf("new tokens are signed with %v, want the first key %s", header["kid"], current.kid)
	}
	// A token signed before the rotation still works until it expires.
	old := mint(t, previous.header(), jwtClaims(u.ID, time.Now()), previous.sign)
	if me := e.me(t, old); me.ID != u.ID {
		t.Errorf("token of the previous key: /me is %s", me.ID)
	}
	v := auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: e.URL + "/.well-known/jwks.json"}),
		auth.VerifierConfig{Issuer: "test-issuer", Audience: "test-audience"})
	for _, token := range []string{tok.AccessToken, old} {
		if _, err := v.Verify(context.Background(), token); err != nil {
			t.Errorf("platform verifier refused a token: %v", err)
		}
	}
}

func TestGeneratedSigningKeysSurviveARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sameDir := func(c *usersrv.Config) { c.DataDir = dir }
	first := newEnv(t, sameDir)
	second := newEnv(t, sameDir)
	if a, b := first.jwks(t).Keys[0]["kid"], second.jwks(t).Keys[0]["kid"]; a != b {
		t.Errorf("kid %v after a restart, want %v again", b, a)
	}
	var file struct {
		Keys []struct{ D string }
	}
	b, err := os.ReadFile(filepath.Join(dir, "users", "jwt-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &file); err != nil || len(file.Keys) != 1 || file.Keys[0].D == "" {
		t.Fatalf("persisted keys %s: %v", b, err)
	}
	for _, e := range []*testEnv{first, second} {
		if strings.Contains(e.Logs.String(), file.Keys[0].D) {
			t.Error("the private signing key was logged")
		}
	}
}

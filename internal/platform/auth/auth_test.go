package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

const (
	testIssuer   = "https://users.marketplace.test"
	testAudience = "marketplace"
	testKID      = "key-1"
)

// testNow is the verifier's clock in tests: fixed, so expiry cases are exact.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testKey is an Ed25519 signing key as the users service holds it.
type testKey struct {
	kid  string
	raw  ed25519.PrivateKey
	priv jwk.Key // private JWK carrying kid
	pub  jwk.Key
}

// newTestKey generates an Ed25519 key with the given kid.
func newTestKey(t testing.TB, kid string) testKey {
	t.Helper()
	_, raw, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		t.Fatalf("import key: %v", err)
	}
	if err := priv.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatalf("set kid: %v", err)
	}
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	return testKey{kid: kid, raw: raw, priv: priv, pub: pub}
}

// sign signs claims with jwx the way the users service does; the header
// carries alg EdDSA and the key's kid.
func (k testKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("marshal claims: %v", err)
	}
	token, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA(), k.priv))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return string(token)
}

// signRaw signs with the raw Ed25519 key under a header of our choosing, for
// tokens jwx would refuse to produce.
func (k testKey) signRaw(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	return compact(t, header, claims, func(input []byte) []byte { return ed25519.Sign(k.raw, input) })
}

// compact hand-crafts a compact JWS whose signature is sign(signing input).
func compact(t testing.TB, header, claims map[string]any, sign func([]byte) []byte) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

// segment is the base64url JSON encoding of v.
func segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// validClaims is a token the test verifier accepts; cases change one thing.
func validClaims() map[string]any {
	return map[string]any{
		"sub":   "5f0c7a52-3d0e-4c36-9a59-0e4a3c1f2b7d",
		"roles": []string{RoleBuyer, RoleSeller},
		"sid":   "family-1",
		"jti":   "token-1",
		"iss":   testIssuer,
		"aud":   []string{testAudience},
		"iat":   testNow.Add(-time.Minute).Unix(),
		"exp":   testNow.Add(14 * time.Minute).Unix(),
	}
}

// with returns a copy of claims with name set to value, or removed when
// value is nil.
func with(claims map[string]any, name string, value any) map[string]any {
	out := maps.Clone(claims)
	if value == nil {
		delete(out, name)
	} else {
		out[name] = value
	}
	return out
}

// newTestVerifier returns a verifier that trusts key and runs at testNow.
func newTestVerifier(t testing.TB, key testKey) *Verifier {
	t.Helper()
	return NewVerifier(staticKeysOf(t, key), VerifierConfig{
		Issuer:   testIssuer,
		Audience: testAudience,
		Now:      func() time.Time { return testNow },
	})
}

// staticKeysOf builds StaticKeys over the private keys given.
func staticKeysOf(t testing.TB, keys ...testKey) *StaticKeys {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k.priv); err != nil {
			t.Fatalf("add key: %v", err)
		}
	}
	static, err := NewStaticKeys(set)
	if err != nil {
		t.Fatalf("static keys: %v", err)
	}
	return static
}

// equalTimes compares instants, ignoring location.
var equalTimes = cmpopts.EquateApproxTime(0)

func TestVerifyAcceptsValidTokens(t *testing.T) {
	key := newTestKey(t, testKID)
	v := newTestVerifier(t, key)
	want := Claims{
		UserID:    "5f0c7a52-3d0e-4c36-9a59-0e4a3c1f2b7d",
		Roles:     []string{RoleBuyer, RoleSeller},
		SessionID: "family-1",
		TokenID:   "token-1",
		IssuedAt:  testNow.Add(-time.Minute),
		ExpiresAt: testNow.Add(14 * time.Minute),
	}
	tests := []struct {
		name   string
		claims map[string]any
		want   Claims
	}{
		{"a valid token yields its claims", validClaims(), want},
		{"a single-string audience is accepted", with(validClaims(), "aud", testAudience), want},
		{
			"a token expired within the leeway is accepted",
			with(validClaims(), "exp", testNow.Add(-10*time.Second).Unix()),
			withExpiry(want, testNow.Add(-10*time.Second)),
		},
		{
			"a token without roles has none",
			with(validClaims(), "roles", nil),
			withRoles(want, nil),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), key.sign(t, tc.claims))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, equalTimes); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

// withExpiry returns c expiring at exp.
func withExpiry(c Claims, exp time.Time) Claims { c.ExpiresAt = exp; return c }

// withRoles returns c holding roles.
func withRoles(c Claims, roles []string) Claims { c.Roles = roles; return c }

func TestVerifyRejectsBadTokens(t *testing.T) {
	key := newTestKey(t, testKID)
	impostor := newTestKey(t, testKID)
	v := newTestVerifier(t, key)
	eddsa := map[string]any{"alg": "EdDSA", "kid": testKID}

	tests := []struct {
		name  string
		token func(t *testing.T) string
	}{
		{"a tampered payload is rejected", func(t *testing.T) string {
			parts := strings.Split(key.sign(t, validClaims()), ".")
			parts[1] = segment(t, with(validClaims(), "roles", []string{RoleAdmin}))
			return strings.Join(parts, ".")
		}},
		{"a signature by another key with the same kid is rejected", func(t *testing.T) string {
			return impostor.sign(t, validClaims())
		}},
		{"alg none is rejected", func(t *testing.T) string {
			header := map[string]any{"alg": "none", "kid": testKID}
			return compact(t, header, validClaims(), func([]byte) []byte { return nil })
		}},
		{"HS256 keyed with the public key bytes is rejected", func(t *testing.T) string {
			header := map[string]any{"alg": "HS256", "kid": testKID}
			secret := key.raw.Public().(ed25519.PublicKey)
			return compact(t, header, validClaims(), func(input []byte) []byte {
				mac := hmac.New(sha256.New, secret)
				mac.Write(input)
				return mac.Sum(nil)
			})
		}},
		{"a correctly signed token with alg Ed25519 is rejected as not EdDSA", func(t *testing.T) string {
			return key.signRaw(t, map[string]any{"alg": "Ed25519", "kid": testKID}, validClaims())
		}},
		{"an unknown kid is rejected", func(t *testing.T) string {
			return key.signRaw(t, map[string]any{"alg": "EdDSA", "kid": "key-2"}, validClaims())
		}},
		{"a missing kid is rejected", func(t *testing.T) string {
			return key.signRaw(t, map[string]any{"alg": "EdDSA"}, validClaims())
		}},
		{"a crit header is rejected", func(t *testing.T) string {
			header := map[string]any{"alg": "EdDSA", "kid": testKID, "crit": []string{"exp"}, "exp": 1}
			return key.signRaw(t, header, validClaims())
		}},
		{"a wrong issuer is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "iss", "https://evil.test"))
		}},
		{"a missing issuer is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "iss", nil))
		}},
		{"a wrong audience is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "aud", []string{"other-app"}))
		}},
		{"an expired token is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "exp", testNow.Add(-31*time.Second).Unix()))
		}},
		{"a token without exp is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "exp", nil))
		}},
		{"a token not yet valid is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "nbf", testNow.Add(time.Minute).Unix()))
		}},
		{"iat in the future beyond the leeway is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "iat", testNow.Add(time.Minute).Unix()))
		}},
		{"a missing sub is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "sub", nil))
		}},
		{"an empty sub is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "sub", ""))
		}},
		{"roles that are not strings are rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "roles", []any{"buyer", 7}))
		}},
		{"a roles string instead of an array is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "roles", RoleAdmin))
		}},
		{"a JSON-serialized JWS is rejected", func(t *testing.T) string {
			parts := strings.Split(key.sign(t, validClaims()), ".")
			b, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
			return string(b)
		}},
		{"an oversized token is rejected", func(t *testing.T) string {
			return key.sign(t, with(validClaims(), "pad", strings.Repeat("x", maxTokenBytes)))
		}},
		{"an empty string is rejected", func(*testing.T) string { return "" }},
		{"a garbage word is rejected", func(*testing.T) string { return "garbage" }},
		{"three garbage segments are rejected", func(*testing.T) string { return "a.b.c" }},
		{"bare dots are rejected", func(*testing.T) string { return ".." }},
		{"a header alone is rejected", func(t *testing.T) string { return segment(t, eddsa) + ".." }},
		{"a bearer prefix is rejected", func(t *testing.T) string { return "Bearer " + key.sign(t, validClaims()) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), tc.token(t))
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify error = %v, want ErrInvalidToken", err)
			}
			if diff := cmp.Diff(Claims{}, got); diff != "" {
				t.Errorf("claims of a rejected token (-want +got):\n%s", diff)
			}
		})
	}
}

// failingKeys is a KeySource whose key server is down.
type failingKeys struct{}

func (failingKeys) PublicKey(context.Context, string) (jwk.Key, error) {
	return nil, errors.New("connection refused")
}

func TestVerifyReportsSetupFaultsAsServerErrors(t *testing.T) {
	key := newTestKey(t, testKID)
	token := key.sign(t, validClaims())
	tests := []struct {
		name string
		keys KeySource
		cfg  VerifierConfig
	}{
		{"a key source that cannot answer is not the token's fault", failingKeys{}, VerifierConfig{Issuer: testIssuer, Audience: testAudience}},
		{"a verifier without an issuer refuses to verify", staticKeysOf(t, key), VerifierConfig{Audience: testAudience}},
		{"a verifier without an audience refuses to verify", staticKeysOf(t, key), VerifierConfig{Issuer: testIssuer}},
		{"a verifier without keys refuses to verify", nil, VerifierConfig{Issuer: testIssuer, Audience: testAudience}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = func() time.Time { return testNow }
			_, err := NewVerifier(tc.keys, tc.cfg).Verify(context.Background(), token)
			if err == nil || errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify error = %v, want a non-token error", err)
			}
		})
	}
}

func TestStaticKeysServeOnlyPublicKeys(t *testing.T) {
	key := newTestKey(t, testKID)
	static := staticKeysOf(t, key)

	got, err := static.PublicKey(context.Background(), testKID)
	if err != nil {
		t.Fatalf("PublicKey: %v", err)
	}
	assertPublic(t, got)
	if !jwk.Equal(got, key.pub) {
		t.Errorf("PublicKey returned a key other than the public half of the signing key")
	}
	if _, err := static.PublicKey(context.Background(), "key-2"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("PublicKey(unknown) error = %v, want ErrUnknownKey", err)
	}
}

// assertPublic fails unless key is an asymmetric key without private parts.
func assertPublic(t *testing.T, key jwk.Key) {
	t.Helper()
	private, err := jwk.IsPrivateKey(key)
	if err != nil || private {
		t.Errorf("IsPrivateKey = %v, %v; want a public key", private, err)
	}
	if key.Has(jwk.OKPDKey) {
		t.Errorf("key still has its private %q field", jwk.OKPDKey)
	}
}

func TestNewStaticKeysRefusesUnusableSets(t *testing.T) {
	noKID := newTestKey(t, "")
	secret, err := jwk.Import([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatalf("import secret: %v", err)
	}
	if err := secret.Set(jwk.KeyIDKey, "hmac"); err != nil {
		t.Fatalf("set kid: %v", err)
	}
	tests := []struct {
		name string
		keys []jwk.Key
	}{
		{"a symmetric key is refused since it has no public half", []jwk.Key{secret}},
		{"a key without kid is refused", []jwk.Key{noKID.priv}},
		{"two keys with one kid are refused", []jwk.Key{newTestKey(t, testKID).priv, newTestKey(t, testKID).priv}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := jwk.NewSet()
			for _, k := range tc.keys {
				if err := set.AddKey(k); err != nil {
					t.Fatalf("add key: %v", err)
				}
			}
			if _, err := NewStaticKeys(set); err == nil {
				t.Fatal("NewStaticKeys succeeded, want an error")
			}
		})
	}
}

func TestHasRole(t *testing.T) {
	c := Claims{UserID: uuid.NewString(), Roles: []string{RoleBuyer, RoleSeller}}
	tests := []struct {
		name string
		role string
		want bool
	}{
		{"a granted role is held", RoleSeller, true},
		{"an ungranted role is not held", RoleAdmin, false},
		{"role names are case sensitive", "Buyer", false},
		{"the empty role is never held", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.HasRole(tc.role); got != tc.want {
				t.Errorf("HasRole(%q) = %v, want %v", tc.role, got, tc.want)
			}
		})
	}
}

func TestClaimsTravelInContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext found claims in a bare context")
	}
	want := Claims{UserID: uuid.NewString(), Roles: []string{RoleAdmin}}
	got, ok := FromContext(WithClaims(context.Background(), want))
	if !ok {
		t.Fatal("FromContext found no claims after WithClaims")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

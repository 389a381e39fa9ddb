package tokens_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/users"
	"github.com/marketplace-go/marketplace/internal/users/tokens"
)

var cfg = tokens.Config{Issuer: "https://users.test", Audience: "marketplace", TTL: 15 * time.Minute}

func newIssuer(t *testing.T) (*tokens.Issuer, jwk.Set) {
	t.Helper()
	keys, err := tokens.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	is, err := tokens.NewIssuer(keys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return is, keys
}

func kidOf(t *testing.T, set jwk.Set, i int) string {
	t.Helper()
	key, ok := set.Key(i)
	if !ok {
		t.Fatalf("no key %d", i)
	}
	kid, _ := key.KeyID()
	return kid
}

func TestIssueSignsTheAgreedClaims(t *testing.T) {
	t.Parallel()
	is, keys := newIssuer(t)
	u := users.User{ID: uuid.Must(uuid.NewV7()), Roles: []string{"buyer", "seller"}}
	sid := uuid.Must(uuid.NewV7())
	now := time.Now().Truncate(time.Second)

	signed, exp, err := is.Issue(u, sid, now)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(cfg.TTL)) {
		t.Errorf("expiry %v, want %v", exp, now.Add(cfg.TTL))
	}

	msg, err := jws.Parse([]byte(signed))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if kid, _ := h.KeyID(); kid != kidOf(t, keys, 0) {
		t.Errorf("kid %q, want %q", kid, kidOf(t, keys, 0))
	}
	if alg, _ := h.Algorithm(); alg.String() != "EdDSA" {
		t.Errorf("alg %s, want EdDSA", alg)
	}

	pub, _ := is.PublicKeys().Key(0)
	tok, err := jwt.Parse([]byte(signed), jwt.WithKey(jwa.EdDSA(), pub), jwt.WithValidate(true))
	if err != nil {
		t.Fatalf("the token does not verify with the published key: %v", err)
	}
	iss, _ := tok.Issuer()
	aud, _ := tok.Audience()
	sub, _ := tok.Subject()
	jti, _ := tok.JwtID()
	iat, _ := tok.IssuedAt()
	texp, _ := tok.Expiration()
	var (
		rawRoles []any
		roles    []string
		gotSID   string
	)
	if err := tok.Get("roles", &rawRoles); err != nil {
		t.Error(err)
	}
	for _, r := range rawRoles {
		roles = append(roles, r.(string))
	}
	if err := tok.Get("sid", &gotSID); err != nil {
		t.Error(err)
	}
	if iss != cfg.Issuer || !slices.Equal(aud, []string{cfg.Audience}) || sub != u.ID.String() ||
		!slices.Equal(roles, u.Roles) || gotSID != sid.String() {
		t.Errorf("claims iss %q aud %v sub %q roles %v sid %q", iss, aud, sub, roles, gotSID)
	}
	if _, err := uuid.Parse(jti); err != nil {
		t.Errorf("jti %q is not a UUID", jti)
	}
	if !iat.Equal(now) || texp.Sub(iat) != cfg.TTL {
		t.Errorf("iat %v exp %v; want iat now and exp - iat = %v", iat, texp, cfg.TTL)
	}

	again, _, err := is.Issue(u, sid, now)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _ := jwt.ParseInsecure([]byte(again))
	if jti2, _ := tok2.JwtID(); jti2 == jti {
		t.Error("two tokens share a jti")
	}

	// The platform verifier every other service uses accepts the token.
	static, err := auth.NewStaticKeys(is.PublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	c, err := auth.NewVerifier(static, auth.VerifierConfig{Issuer: cfg.Issuer, Audience: cfg.Audience}).Verify(context.Background(), signed)
	if err != nil || c.UserID != u.ID.String() || c.SessionID != sid.String() || !c.HasRole("seller") {
		t.Errorf("platform verifier: %+v, %v", c, err)
	}
}

func TestPublicKeysHoldNoPrivateMaterial(t *testing.T) {
	t.Parallel()
	is, keys := newIssuer(t)
	b, err := json.Marshal(is.PublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Keys []map[string]any }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("%d public keys, want 1", len(doc.Keys))
	}
	k := doc.Keys[0]
	if _, ok := k["d"]; ok {
		t.Errorf("public key has a private part: %s", b)
	}
	if k["kid"] != kidOf(t, keys, 0) || k["alg"] != "EdDSA" || k["use"] != "sig" || k["crv"] != "Ed25519" {
		t.Errorf("public key %v", k)
	}
}

func TestNewIssuerRefusesUnusableKeySets(t *testing.T) {
	t.Parallel()
	ed := func(t *testing.T, change func(jwk.Key)) jwk.Set {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		key, err := jwk.Import(priv)
		if err != nil {
			t.Fatal(err)
		}
		_ = key.Set(jwk.KeyIDKey, "k1")
		change(key)
		set := jwk.NewSet()
		_ = set.AddKey(key)
		return set
	}
	public := func(t *testing.T) jwk.Set {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		key, _ := jwk.Import(pub)
		_ = key.Set(jwk.KeyIDKey, "k1")
		set := jwk.NewSet()
		_ = set.AddKey(key)
		return set
	}
	ec := func(t *testing.T) jwk.Set {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		key, _ := jwk.Import(priv)
		_ = key.Set(jwk.KeyIDKey, "k1")
		set := jwk.NewSet()
		_ = set.AddKey(key)
		return set
	}
	tests := []struct {
		name string
		set  func(t *testing.T) jwk.Set
	}{
		{"an empty set", func(*testing.T) jwk.Set { return jwk.NewSet() }},
		{"a key without a kid", func(t *testing.T) jwk.Set { return ed(t, func(k jwk.Key) { _ = k.Remove(jwk.KeyIDKey) }) }},
		{"a key for another algorithm", func(t *testing.T) jwk.Set { return ed(t, func(k jwk.Key) { _ = k.Set(jwk.AlgorithmKey, jwa.ES256()) }) }},
		{"a public key to sign with", public},
		{"an ECDSA key", ec},
		{"a symmetric key, whose \"public\" half is the secret", func(t *testing.T) jwk.Set {
			key, _ := jwk.Import([]byte("0123456789abcdef0123456789abcdef"))
			_ = key.Set(jwk.KeyIDKey, "k1")
			set := jwk.NewSet()
			_ = set.AddKey(key)
			return set
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tokens.NewIssuer(tt.set(t), cfg); err == nil {
				t.Error("NewIssuer accepted it")
			}
		})
	}

	// A retired key only has to verify, so its public half is enough.
	rotation := ed(t, func(jwk.Key) {})
	retired, _ := public(t).Key(0)
	_ = retired.Set(jwk.KeyIDKey, "k0")
	_ = rotation.AddKey(retired)
	is, err := tokens.NewIssuer(rotation, cfg)
	if err != nil {
		t.Fatalf("a private signing key and a public retired key: %v", err)
	}
	if n := is.PublicKeys().Len(); n != 2 {
		t.Errorf("%d keys published, want 2", n)
	}
}

func TestLoadKeysGeneratesPersistsAndReloadsALocalKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "users", "jwt-keys.json")
	first, generated, err := tokens.LoadKeys(tokens.KeysConfig{GeneratedPath: path})
	if err != nil || !generated {
		t.Fatalf("first load: generated %v, err %v", generated, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %v, want 0600", perm)
	}
	if info, err := os.Stat(filepath.Dir(path)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("key directory: %v, %v; want mode 0700", info.Mode().Perm(), err)
	}

	second, generated, err := tokens.LoadKeys(tokens.KeysConfig{GeneratedPath: path})
	if err != nil || generated {
		t.Fatalf("second load: generated %v, err %v", generated, err)
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(second)
	if string(a) != string(b) {
		t.Errorf("the second load has another key:\n%s\n%s", a, b)
	}
	if _, err := tokens.NewIssuer(second, cfg); err != nil {
		t.Errorf("the reloaded key cannot sign: %v", err)
	}
}

func TestLoadKeysPrefersConfiguredKeys(t *testing.T) {
	t.Parallel()
	keys, _ := tokens.GenerateKeys()
	b, _ := json.Marshal(keys)
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	generatedPath := filepath.Join(dir, "generated.json")
	for name, kc := range map[string]tokens.KeysConfig{
		"json": {JSON: string(b), GeneratedPath: generatedPath},
		"file": {File: file, GeneratedPath: generatedPath},
	} {
		t.Run(name, func(t *testing.T) {
			set, generated, err := tokens.LoadKeys(kc)
			if err != nil || generated || kidOf(t, set, 0) != kidOf(t, keys, 0) {
				t.Errorf("generated %v, err %v", generated, err)
			}
		})
	}
	if _, err := os.Stat(generatedPath); !os.IsNotExist(err) {
		t.Error("a key was generated although keys were configured")
	}

	secret := `{"keys":[{"kty":"OKP","crv":"Ed25519","d":"c2VjcmV0LXNlZWQ","x":`
	_, _, err := tokens.LoadKeys(tokens.KeysConfig{JSON: secret})
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("bad JSON: err %v; want an error that does not quote the key", err)
	}
	if _, _, err := tokens.LoadKeys(tokens.KeysConfig{File: filepath.Join(dir, "missing.json")}); err == nil {
		t.Error("a missing key file was accepted")
	}
}

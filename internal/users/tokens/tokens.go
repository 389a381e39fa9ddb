// Package tokens signs the access tokens of the users service and manages
// its Ed25519 signing keys. Verification lives in internal/platform/auth so
// that every service shares it.
package tokens

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/marketplace-go/marketplace/internal/users"
)

// Config names the token's issuer, audience and lifetime.
type Config struct {
	Issuer   string
	Audience string
	TTL      time.Duration
}

// Issuer signs access tokens with the first key of a key set; the other
// keys are still published so tokens they signed verify until they expire.
type Issuer struct {
	cfg    Config
	signer jwk.Key
	public jwk.Set
}

var _ users.TokenIssuer = (*Issuer)(nil)

// NewIssuer returns an issuer over a set of private Ed25519 keys.
func NewIssuer(keys jwk.Set, cfg Config) (*Issuer, error) {
	if keys.Len() == 0 {
		return nil, errors.New("tokens: the key set is empty")
	}
	public := jwk.NewSet()
	for i := range keys.Len() {
		key, _ := keys.Key(i)
		if _, ok := key.KeyID(); !ok {
			return nil, fmt.Errorf("tokens: key %d has no kid", i)
		}
		if alg, ok := key.Algorithm(); ok && alg.String() != jwa.EdDSA().String() {
			return nil, fmt.Errorf("tokens: key %d is for %s; want EdDSA", i, alg)
		}
		pub, err := jwk.PublicKeyOf(key)
		if err != nil {
			return nil, fmt.Errorf("tokens: key %d: %w", i, err)
		}
		var raw ed25519.PublicKey
		if err := jwk.Export(pub, &raw); err != nil {
			return nil, fmt.Errorf("tokens: key %d is not an Ed25519 key", i)
		}
		_ = pub.Set(jwk.AlgorithmKey, jwa.EdDSA())
		_ = pub.Set(jwk.KeyUsageKey, jwk.ForSignature)
		if err := public.AddKey(pub); err != nil {
			return nil, fmt.Errorf("tokens: key %d: %w", i, err)
		}
	}
	signer, _ := keys.Key(0)
	var priv ed25519.PrivateKey
	if err := jwk.Export(signer, &priv); err != nil {
		return nil, errors.New("tokens: key 0 signs, so it must be an Ed25519 private key")
	}
	return &Issuer{cfg: cfg, signer: signer, public: public}, nil
}

// Issue signs an access token for u in session sessionID.
func (is *Issuer) Issue(u users.User, sessionID uuid.UUID, now time.Time) (string, time.Time, error) {
	exp := now.Add(is.cfg.TTL)
	tok, err := jwt.NewBuilder().
		Issuer(is.cfg.Issuer).
		Audience([]string{is.cfg.Audience}).
		Subject(u.ID.String()).
		IssuedAt(now).
		Expiration(exp).
		JwtID(uuid.Must(uuid.NewV7()).String()).
		Claim("roles", u.Roles).
		Claim("sid", sessionID.String()).
		Build()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("build token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), is.signer))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return string(signed), exp, nil
}

// PublicKeys is the JWKS document content: public halves only.
func (is *Issuer) PublicKeys() jwk.Set { return is.public }

// KeysConfig says where signing keys come from, in order: JSON (a JWK set
// in an environment variable), File, or a generated key persisted at
// GeneratedPath for local runs.
type KeysConfig struct {
	JSON          string
	File          string
	GeneratedPath string
}

// LoadKeys returns the private signing key set. generated reports that a new
// key was made (the caller should warn: production must configure keys).
func LoadKeys(cfg KeysConfig) (set jwk.Set, generated bool, err error) {
	switch {
	case cfg.JSON != "":
		set, err = parseKeys([]byte(cfg.JSON))
		return set, false, err
	case cfg.File != "":
		b, err := os.ReadFile(cfg.File)
		if err != nil {
			return nil, false, fmt.Errorf("read signing keys: %w", err)
		}
		set, err = parseKeys(b)
		return set, false, err
	}
	if b, err := os.ReadFile(cfg.GeneratedPath); err == nil {
		set, err = parseKeys(b)
		return set, false, err
	}
	set, err = GenerateKeys()
	if err != nil {
		return nil, false, err
	}
	return set, true, persist(cfg.GeneratedPath, set)
}

func parseKeys(b []byte) (jwk.Set, error) {
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, errors.New("signing keys are not a valid JWK set") // the parse error could quote key material
	}
	return set, nil
}

// GenerateKeys makes a set holding one new Ed25519 key with a random kid.
func GenerateKeys() (jwk.Set, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	key, err := jwk.Import(priv)
	if err != nil {
		return nil, fmt.Errorf("import signing key: %w", err)
	}
	_ = key.Set(jwk.KeyIDKey, uuid.Must(uuid.NewV7()).String())
	_ = key.Set(jwk.AlgorithmKey, jwa.EdDSA())
	set := jwk.NewSet()
	return set, set.AddKey(key)
}

func persist(path string, set jwk.Set) error {
	b, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return fmt.Errorf("encode signing keys: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("persist signing keys: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("persist signing keys: %w", err)
	}
	return nil
}

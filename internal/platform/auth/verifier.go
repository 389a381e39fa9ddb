package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

const (
	defaultLeeway = 30 * time.Second

	// maxTokenBytes rejects oversized input before any parsing; our tokens
	// are well under 1 KiB.
	maxTokenBytes = 8 << 10

	// verifiedTokens is how many verified tokens a Verifier remembers: a
	// client sends its token with every request for up to its lifetime,
	// so a few thousand cover every active session of an instance.
	verifiedTokens = 8192
)

// Private claims set by the users service.
const (
	rolesClaim     = "roles"
	sessionIDClaim = "sid"
)

// VerifierConfig says which tokens a Verifier accepts.
type VerifierConfig struct {
	Issuer   string           // required: the users service's iss
	Audience string           // required: must appear in aud
	Leeway   time.Duration    // clock skew allowed on exp/iat/nbf; 0 -> 30s
	Now      func() time.Time // nil -> time.Now; for tests
}

// Verifier checks access tokens. It is safe for concurrent use.
type Verifier struct {
	keys      KeySource
	issuer    string
	audience  string
	leeway    time.Duration
	now       func() time.Time
	configErr error // reported by every Verify, so a bad setup fails closed

	// verified remembers the claims of tokens whose signature and claims
	// checked out, by the token's SHA-256. Checking an EdDSA signature and
	// parsing the JWT cost about a tenth of a millisecond of CPU, paid by
	// the gateway and again by the service on every request; a hit costs
	// a hash and a lookup (ADR 39).
	verified *lru.Cache[[sha256.Size]byte, verifiedToken]
}

// verifiedToken is a remembered verification: valid until its token
// expires, and only while the key source still serves the same key.
type verifiedToken struct {
	claims Claims
	kid    string
	key    jwk.Key
}

// NewVerifier returns a Verifier that finds keys through keys. A missing
// issuer, audience or key source does not panic; instead every Verify fails
// with an error that is not ErrInvalidToken, so it surfaces as a server error.
func NewVerifier(keys KeySource, cfg VerifierConfig) *Verifier {
	v := &Verifier{keys: keys, issuer: cfg.Issuer, audience: cfg.Audience, leeway: cfg.Leeway, now: cfg.Now}
	if v.leeway <= 0 {
		v.leeway = defaultLeeway
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.verified, _ = lru.New[[sha256.Size]byte, verifiedToken](verifiedTokens) // errs only for a size <= 0
	if keys == nil || cfg.Issuer == "" || cfg.Audience == "" {
		v.configErr = errors.New("auth: verifier needs a key source, an issuer and an audience")
	}
	return v
}

// Verify checks token and returns what it says about its bearer. Every
// rejected token yields an error wrapping ErrInvalidToken; any other error
// means the token could not be checked (e.g. no keys could be fetched).
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if v.configErr != nil {
		return Claims{}, v.configErr
	}
	sum := sha256.Sum256([]byte(token))
	if c, ok := v.remembered(ctx, sum); ok {
		return c, nil
	}
	raw := []byte(token)
	kid, err := pinnedKeyID(raw)
	if err != nil {
		return Claims{}, invalid(err)
	}
	key, err := v.keys.PublicKey(ctx, kid)
	if errors.Is(err, ErrUnknownKey) {
		return Claims{}, invalid(err)
	}
	if err != nil {
		return Claims{}, fmt.Errorf("verify access token: %w", err)
	}
	tok, err := jwt.Parse(raw, v.parseOptions(key)...)
	if err != nil {
		return Claims{}, invalid(err)
	}
	claims, err := claimsOf(tok)
	if err != nil {
		return Claims{}, invalid(err)
	}
	if v.now().Before(claims.ExpiresAt) {
		v.verified.Add(sum, verifiedToken{claims: claims, kid: kid, key: key})
	}
	return claims, nil
}

// remembered returns the claims of a token verified before, if it has not
// expired since (the leeway is not granted here: a token past its exp is
// verified afresh) and its key is still the one the key source serves for
// its kid, so a key withdrawn from the JWKS stops its tokens as before.
func (v *Verifier) remembered(ctx context.Context, sum [sha256.Size]byte) (Claims, bool) {
	t, ok := v.verified.Get(sum)
	if !ok {
		return Claims{}, false
	}
	if !v.now().Before(t.claims.ExpiresAt) {
		v.verified.Remove(sum)
		return Claims{}, false
	}
	key, err := v.keys.PublicKey(ctx, t.kid)
	if err != nil || key != t.key {
		v.verified.Remove(sum)
		return Claims{}, false
	}
	c := t.claims
	c.Roles = slices.Clone(c.Roles) // the caller's to keep, as from a fresh parse
	return c, true
}

// invalid marks err as a rejected token.
func invalid(err error) error {
	return fmt.Errorf("%w: %w", ErrInvalidToken, err)
}

// pinnedKeyID reads the protected header of a compact JWS and returns its
// kid, refusing any algorithm but EdDSA before a key is even looked up. The
// algorithm is pinned here and again in parseOptions, never taken from the
// token or the key: that is what defeats "none" and HMAC-with-public-key
// forgeries.
func pinnedKeyID(raw []byte) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("empty token")
	}
	if len(raw) > maxTokenBytes {
		return "", fmt.Errorf("token longer than %d bytes", maxTokenBytes)
	}
	msg, err := jws.Parse(raw, jws.WithCompact())
	if err != nil {
		return "", err
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return "", fmt.Errorf("%d signatures, want 1", len(sigs))
	}
	return headerKeyID(sigs[0].ProtectedHeaders())
}

// headerKeyID checks alg and returns kid. Headers that change how the
// signature is computed (crit, b64) are refused: our issuer never sets them.
func headerKeyID(h jws.Headers) (string, error) {
	alg, _ := h.Algorithm()
	if alg.String() != jwa.EdDSA().String() {
		return "", fmt.Errorf("alg %q not allowed", alg.String())
	}
	for _, name := range []string{jws.CriticalKey, "b64"} {
		if h.Has(name) {
			return "", fmt.Errorf("header %q not allowed", name)
		}
	}
	kid, _ := h.KeyID()
	if kid == "" {
		return "", errors.New("no kid in header")
	}
	return kid, nil
}

// parseOptions verifies the signature with key under EdDSA only and
// validates the registered claims against the verifier's settings.
func (v *Verifier) parseOptions(key jwk.Key) []jwt.ParseOption {
	return []jwt.ParseOption{
		jwt.WithKey(jwa.EdDSA(), key),
		jwt.WithValidate(true),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithAcceptableSkew(v.leeway),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithStrictStringClaims(true),
	}
}

// claimsOf copies a validated token into Claims, rejecting private claims of
// the wrong type rather than silently dropping them.
func claimsOf(tok jwt.Token) (Claims, error) {
	sub, _ := tok.Subject()
	if sub == "" {
		return Claims{}, errors.New("empty sub")
	}
	roles, err := stringsClaim(tok, rolesClaim)
	if err != nil {
		return Claims{}, err
	}
	sid, err := stringClaim(tok, sessionIDClaim)
	if err != nil {
		return Claims{}, err
	}
	jti, _ := tok.JwtID()
	iat, _ := tok.IssuedAt()
	exp, _ := tok.Expiration()
	return Claims{UserID: sub, Roles: roles, SessionID: sid, TokenID: jti, IssuedAt: iat, ExpiresAt: exp}, nil
}

// stringsClaim reads an optional array-of-strings claim. It reads into an
// any because another package in the same binary may have registered a
// typed decoder for the claim.
func stringsClaim(tok jwt.Token, name string) ([]string, error) {
	v, err := optionalClaim(tok, name)
	if err != nil || v == nil {
		return nil, err // absent or null: no values
	}
	switch vs := v.(type) {
	case []string:
		return vs, nil
	case []any:
		out := make([]string, 0, len(vs))
		for _, e := range vs {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("claim %s: element %v is not a string", name, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("claim %s: %T is not an array of strings", name, v)
}

// stringClaim reads an optional string claim.
func stringClaim(tok jwt.Token, name string) (string, error) {
	v, err := optionalClaim(tok, name)
	if err != nil || v == nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("claim %s: %T is not a string", name, v)
	}
	return s, nil
}

// optionalClaim returns the raw value of a claim, or nil when it is absent.
func optionalClaim(tok jwt.Token, name string) (any, error) {
	if !tok.Has(name) {
		return nil, nil
	}
	var v any
	if err := tok.Get(name, &v); err != nil {
		return nil, fmt.Errorf("claim %s: %w", name, err)
	}
	return v, nil
}

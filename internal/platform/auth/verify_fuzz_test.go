package auth

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// FuzzVerifyToken: whatever a client sends as a bearer token, Verify
// accepts it only with a subject, and refuses it with ErrInvalidToken (a
// 401), never another error (a 500) or a panic. The seeds, in
// testdata/fuzz/FuzzVerifyToken, are forged tokens: alg none, HS256, a
// foreign kid, a cut signature; the keys are new each run, so no seed
// verifies.
func FuzzVerifyToken(f *testing.F) {
	key := newTestKey(f, testKID)
	v := newTestVerifier(f, key)
	f.Add(key.sign(f, validClaims()))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(t.Context(), token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("%q: %v, want ErrInvalidToken", token, err)
			}
			return
		}
		if c.UserID == "" {
			t.Fatalf("%q: accepted without a subject: %+v", token, c)
		}
	})
}

// FuzzVerifyClaims signs whatever claims the fuzzer makes with the trusted
// key, as a token of ours that a bug could issue: the claims parser
// accepts them only with a subject, and refuses the rest with
// ErrInvalidToken, never another error or a panic.
// The seeds are in testdata/fuzz/FuzzVerifyClaims.
func FuzzVerifyClaims(f *testing.F) {
	key := newTestKey(f, testKID)
	v := newTestVerifier(f, key)
	valid, _ := json.Marshal(validClaims())
	f.Add(valid)
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) == 0 {
			return // jws refuses to sign nothing
		}
		token, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA(), key.priv))
		if err != nil {
			return
		}
		c, err := v.Verify(t.Context(), string(token))
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("%s: %v, want ErrInvalidToken", payload, err)
			}
			return
		}
		if c.UserID == "" {
			t.Fatalf("%s: accepted as %+v", payload, c)
		}
	})
}

package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// switchableKeys is a KeySource whose keys a test can withdraw, as a JWKS
// refresh after a rotation does.
type switchableKeys struct {
	mu   sync.Mutex
	keys map[string]jwk.Key
}

func (s *switchableKeys) PublicKey(_ context.Context, kid string) (jwk.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

func (s *switchableKeys) set(kid string, key jwk.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == nil {
		delete(s.keys, kid)
		return
	}
	s.keys[kid] = key
}

// clock is a verifier's clock a test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// rememberingVerifier returns a verifier over switchable keys holding key,
// on a clock the test moves, and a token it accepts, verified once.
func rememberingVerifier(t *testing.T) (*Verifier, *switchableKeys, *clock, testKey, string) {
	t.Helper()
	key := newTestKey(t, testKID)
	keys := &switchableKeys{keys: map[string]jwk.Key{key.kid: key.pub}}
	clk := &clock{now: testNow}
	v := NewVerifier(keys, VerifierConfig{Issuer: testIssuer, Audience: testAudience, Now: clk.Now})
	token := key.sign(t, validClaims())
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	return v, keys, clk, key, token
}

func TestARememberedTokenGivesTheSameClaimsAsItsFirstVerification(t *testing.T) {
	v, _, _, key, token := rememberingVerifier(t)
	first, err := newTestVerifier(t, key).Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("second Verify: %v", err)
	}
	if diff := cmp.Diff(first, again, equalTimes); diff != "" {
		t.Errorf("remembered claims differ (-first +again):\n%s", diff)
	}
	again.Roles[0] = "admin" // the caller's copy: the next answer must not see it
	third, _ := v.Verify(context.Background(), token)
	if diff := cmp.Diff(first, third, equalTimes); diff != "" {
		t.Errorf("a caller's change leaked into the remembered claims (-first +third):\n%s", diff)
	}
}

func TestARememberedTokenIsRefusedWhen(t *testing.T) {
	tests := []struct {
		name   string
		change func(*switchableKeys, *clock, testKey)
	}{
		{"it has expired", func(_ *switchableKeys, c *clock, _ testKey) {
			c.set(testNow.Add(time.Hour))
		}},
		{"its key is withdrawn from the key source", func(k *switchableKeys, _ *clock, key testKey) {
			k.set(key.kid, nil)
		}},
		{"its key id now names another key", func(k *switchableKeys, _ *clock, key testKey) {
			k.set(key.kid, newTestKey(t, key.kid).pub)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, keys, clk, key, token := rememberingVerifier(t)
			tc.change(keys, clk, key)
			_, err := v.Verify(context.Background(), token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify error = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestManyRequestsVerifyOneTokenAtOnce(t *testing.T) {
	v, _, _, _, token := rememberingVerifier(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				if c, err := v.Verify(context.Background(), token); err != nil || c.UserID == "" {
					t.Errorf("Verify = %+v, %v", c, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkVerify compares a token's first verification (signature and
// claims), the baseline, with the verifications after it.
func BenchmarkVerify(b *testing.B) {
	key := newTestKey(b, testKID)
	token := key.sign(b, validClaims())
	b.Run("first", func(b *testing.B) {
		v := newTestVerifier(b, key)
		for b.Loop() {
			v.verified.Purge()
			if _, err := v.Verify(context.Background(), token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		v := newTestVerifier(b, key)
		for b.Loop() {
			if _, err := v.Verify(context.Background(), token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package auth

import (
	"github.com/marketplace-go/marketplace/internal/platform/eventually"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// jwksServer serves a JWKS document on loopback and counts fetches.
type jwksServer struct {
	url     string
	fetches atomic.Int64

	mu      sync.Mutex
	keys    []jwk.Key
	status  int
	release chan struct{} // when non-nil, responses wait until it is closed
}

// newJWKSServer starts a server publishing keys.
func newJWKSServer(t *testing.T, keys ...jwk.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/.well-known/jwks.json"
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	keys, status, release := s.keys, s.status, s.release
	s.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	if status != http.StatusOK {
		http.Error(w, "boom", status)
		return
	}
	set := jwk.NewSet()
	for _, k := range keys {
		_ = set.AddKey(k)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

// publish replaces the served keys, as a key rotation does.
func (s *jwksServer) publish(keys ...jwk.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

// fail makes the server answer status from now on.
func (s *jwksServer) fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// hold makes responses wait until the returned func is called.
func (s *jwksServer) hold() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release = ch
	return func() { close(ch) }
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	testMinRefresh = time.Minute
	testMaxAge     = time.Hour
)

// newTestJWKS returns a JWKS over srv whose clock the test drives.
func newTestJWKS(t *testing.T, srv *jwksServer) (*JWKS, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: testNow}
	j := NewJWKS(JWKSConfig{URL: srv.url, MinRefreshInterval: testMinRefresh, MaxAge: testMaxAge})
	j.now = clock.Now
	return j, clock
}

// mustFind looks kid up and fails the test unless it is the public half of want.
func mustFind(t *testing.T, j *JWKS, want testKey) {
	t.Helper()
	got, err := j.PublicKey(context.Background(), want.kid)
	if err != nil {
		t.Fatalf("PublicKey(%q): %v", want.kid, err)
	}
	if !jwk.Equal(got, want.pub) {
		t.Fatalf("PublicKey(%q) returned another key", want.kid)
	}
}

// assertFetches fails the test unless the server was fetched want times.
func assertFetches(t *testing.T, srv *jwksServer, want int64) {
	t.Helper()
	if got := srv.fetches.Load(); got != want {
		t.Errorf("server fetched %d times, want %d", got, want)
	}
}

func TestJWKSFindsAServedKeyAndCachesIt(t *testing.T) {
	key := newTestKey(t, testKID)
	srv := newJWKSServer(t, key.pub)
	j, _ := newTestJWKS(t, srv)

	mustFind(t, j, key)
	mustFind(t, j, key)
	assertFetches(t, srv, 1)
}

func TestJWKSPicksUpARotatedKeyOnTheNextMiss(t *testing.T) {
	oldKey, newKey := newTestKey(t, "key-1"), newTestKey(t, "key-2")
	srv := newJWKSServer(t, oldKey.pub)
	j, clock := newTestJWKS(t, srv)
	mustFind(t, j, oldKey)

	srv.publish(oldKey.pub, newKey.pub)
	clock.Advance(testMinRefresh)
	mustFind(t, j, newKey)
	mustFind(t, j, oldKey)
	assertFetches(t, srv, 2)
}

func TestJWKSThrottlesUnknownKids(t *testing.T) {
	key := newTestKey(t, testKID)
	srv := newJWKSServer(t, key.pub)
	j, clock := newTestJWKS(t, srv)

	for i := range 20 {
		_, err := j.PublicKey(context.Background(), fmt.Sprintf("random-%d", i))
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("PublicKey(random) error = %v, want ErrUnknownKey", err)
		}
		clock.Advance(testMinRefresh / 40)
	}
	assertFetches(t, srv, 1)

	clock.Advance(testMinRefresh / 2)
	_, _ = j.PublicKey(context.Background(), "random-after-interval")
	assertFetches(t, srv, 2)
}

func TestJWKSRefetchesASetOlderThanMaxAge(t *testing.T) {
	key := newTestKey(t, testKID)
	srv := newJWKSServer(t, key.pub)
	j, clock := newTestJWKS(t, srv)
	mustFind(t, j, key)

	clock.Advance(testMaxAge)
	mustFind(t, j, key)
	assertFetches(t, srv, 2)
}

func TestJWKSSharesOneFetchAmongConcurrentMisses(t *testing.T) {
	key := newTestKey(t, testKID)
	srv := newJWKSServer(t, key.pub)
	j, _ := newTestJWKS(t, srv)
	// A clock that leaps a whole MinRefreshInterval on every read disables
	// the throttle, so only the shared in-flight fetch can keep the count at one.
	var leaps atomic.Int64
	j.now = func() time.Time { return testNow.Add(time.Duration(leaps.Add(1)) * testMinRefresh) }
	var waiting atomic.Int64
	j.joined = func() { waiting.Add(1) }
	release := srv.hold()

	const callers = 50
	errs := make(chan error, callers)
	for range callers {
		go func() {
			_, err := j.PublicKey(context.Background(), testKID)
			errs <- err
		}()
	}
	eventually.True(t, "every caller waits on the held fetch", func() bool { return waiting.Load() == callers })
	release()
	for range callers {
		if err := <-errs; err != nil {
			t.Errorf("PublicKey: %v", err)
		}
	}
	assertFetches(t, srv, 1)
}

func TestJWKSKeepsCachedKeysWhenTheServerFails(t *testing.T) {
	tests := []struct {
		name        string
		breakServer func(*jwksServer)
	}{
		{"a 500 keeps the cached keys", func(s *jwksServer) { s.fail(http.StatusInternalServerError) }},
		{"an empty set keeps the cached keys", func(s *jwksServer) { s.publish() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := newTestKey(t, testKID)
			srv := newJWKSServer(t, key.pub)
			j, clock := newTestJWKS(t, srv)
			mustFind(t, j, key)

			tc.breakServer(srv)
			clock.Advance(testMaxAge)
			mustFind(t, j, key)
			_, err := j.PublicKey(context.Background(), "key-2")
			if !errors.Is(err, ErrUnknownKey) {
				t.Errorf("PublicKey(unknown) error = %v, want ErrUnknownKey", err)
			}
			assertFetches(t, srv, 2)
		})
	}
}

func TestJWKSWithoutAnyFetchedKeysIsAServerError(t *testing.T) {
	key := newTestKey(t, testKID)
	srv := newJWKSServer(t, key.pub)
	srv.fail(http.StatusInternalServerError)
	j, _ := newTestJWKS(t, srv)

	_, err := j.PublicKey(context.Background(), testKID)
	if err == nil || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("PublicKey error = %v, want a fetch error", err)
	}
	v := NewVerifier(j, VerifierConfig{Issuer: testIssuer, Audience: testAudience, Now: func() time.Time { return testNow }})
	_, err = v.Verify(context.Background(), key.sign(t, validClaims()))
	if err == nil || errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify error = %v, want a non-token error", err)
	}
}

func TestJWKSGivesUpOnAHangingServer(t *testing.T) {
	key := newTestKey(t, testKID)
	srv := newJWKSServer(t, key.pub)
	defer srv.hold()()
	j := NewJWKS(JWKSConfig{URL: srv.url, Client: &http.Client{Timeout: 50 * time.Millisecond}})

	if _, err := j.PublicKey(context.Background(), testKID); err == nil {
		t.Fatal("PublicKey succeeded against a hanging server")
	}
}

func TestJWKSServesOnlyPublicKeys(t *testing.T) {
	key := newTestKey(t, testKID)
	srv := newJWKSServer(t, key.priv) // a misconfigured server leaking its private key
	j, _ := newTestJWKS(t, srv)

	got, err := j.PublicKey(context.Background(), testKID)
	if err != nil {
		t.Fatalf("PublicKey: %v", err)
	}
	assertPublic(t, got)
}

func TestVerifyWithJWKSAcceptsAServedKey(t *testing.T) {
	key := newTestKey(t, testKID)
	srv := newJWKSServer(t, key.pub)
	j, _ := newTestJWKS(t, srv)
	v := NewVerifier(j, VerifierConfig{Issuer: testIssuer, Audience: testAudience, Now: func() time.Time { return testNow }})

	got, err := v.Verify(context.Background(), key.sign(t, validClaims()))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.UserID != validClaims()["sub"] {
		t.Errorf("UserID = %q, want %q", got.UserID, validClaims()["sub"])
	}
}

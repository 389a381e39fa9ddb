package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"golang.org/x/sync/singleflight"
)

const (
	defaultMinRefreshInterval = 10 * time.Second
	defaultMaxAge             = 15 * time.Minute

	// fetchTimeout bounds every fetch whatever the client says: requests
	// waiting on a key must not hang on a stuck users service.
	fetchTimeout = 5 * time.Second

	// maxJWKSBytes caps the document we read; a real JWKS is a few KiB.
	maxJWKSBytes = 1 << 20
)

// JWKSConfig says where to fetch the users service's public keys and how
// often.
type JWKSConfig struct {
	URL    string
	Client *http.Client // nil -> a client with a 5s timeout

	// MinRefreshInterval is the least time between two fetches, so a flood
	// of tokens with made-up kids cannot hammer the users service. 0 -> 10s.
	MinRefreshInterval time.Duration

	// MaxAge is how long a fetched set is trusted before the next lookup
	// refetches it, so retired keys eventually stop verifying. 0 -> 15m.
	MaxAge time.Duration
}

// JWKS is a KeySource that fetches a JWKS document over HTTP and caches it.
// It refetches lazily, on the first lookup after the set is older than MaxAge
// or when asked for a kid it does not know (e.g. after a key rotation), but
// never more than once per MinRefreshInterval; concurrent lookups share one
// fetch. A failed fetch keeps the keys it already had.
type JWKS struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	maxAge     time.Duration
	now        func() time.Time // replaced by tests to step over the intervals
	// joined is called once a lookup waits on the shared fetch; tests
	// count the calls to know every caller is in before the fetch ends.
	joined func()

	group singleflight.Group

	mu          sync.Mutex
	keys        map[string]jwk.Key // nil until the first successful fetch
	fetchedAt   time.Time          // of the last successful fetch
	attemptedAt time.Time          // of the last fetch, successful or not
	lastErr     error              // of the last fetch; nil if it succeeded
}

// NewJWKS returns a JWKS for cfg. It fetches nothing until the first lookup,
// so services can start while the users service is still coming up.
func NewJWKS(cfg JWKSConfig) *JWKS {
	j := &JWKS{
		url:        cfg.URL,
		client:     cfg.Client,
		minRefresh: cfg.MinRefreshInterval,
		maxAge:     cfg.MaxAge,
		now:        time.Now,
		joined:     func() {},
	}
	if j.client == nil {
		j.client = &http.Client{Timeout: fetchTimeout}
	}
	if j.minRefresh <= 0 {
		j.minRefresh = defaultMinRefreshInterval
	}
	if j.maxAge <= 0 {
		j.maxAge = defaultMaxAge
	}
	return j
}

// PublicKey returns the public key with id kid. It returns an error wrapping
// ErrUnknownKey when the (possibly refreshed) set lacks kid, and some other
// error when no set could be fetched at all, because then the fault lies with
// the key server rather than the token.
func (j *JWKS) PublicKey(ctx context.Context, kid string) (jwk.Key, error) {
	keys, fresh := j.cached()
	if key, ok := keys[kid]; ok && fresh {
		return key, nil
	}
	keys, err := j.refresh(ctx)
	if key, ok := keys[kid]; ok {
		return key, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("key %q: %w", kid, ctxErr)
	}
	if keys == nil {
		if err == nil {
			err = errNoKeysYet
		}
		return nil, fmt.Errorf("jwks %s: no keys available: %w", j.url, err)
	}
	return nil, fmt.Errorf("key %q: %w", kid, ErrUnknownKey)
}

// errNoKeysYet explains a lookup before any fetch has succeeded.
var errNoKeysYet = errors.New("no successful fetch yet")

// cached returns the current keys and whether they are younger than MaxAge.
func (j *JWKS) cached() (map[string]jwk.Key, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	fresh := j.keys != nil && j.now().Sub(j.fetchedAt) < j.maxAge
	return j.keys, fresh
}

// refresh returns the newest keys, fetching them if the last fetch is old
// enough. All callers share one fetch; a caller whose ctx ends stops waiting
// but does not cancel the fetch for the others.
func (j *JWKS) refresh(ctx context.Context) (map[string]jwk.Key, error) {
	ch := j.group.DoChan("jwks", func() (any, error) {
		return j.fetchIfDue(context.WithoutCancel(ctx))
	})
	j.joined()
	select {
	case <-ctx.Done():
		keys, _ := j.cached()
		return keys, ctx.Err()
	case res := <-ch:
		keys, _ := res.Val.(map[string]jwk.Key)
		return keys, res.Err
	}
}

// fetchIfDue fetches unless the last attempt was within MinRefreshInterval,
// and returns the keys held afterwards with the last fetch's error. The check
// is made here, inside the shared call, so callers that lost the race to
// start a fetch do not start another one right after it.
func (j *JWKS) fetchIfDue(ctx context.Context) (map[string]jwk.Key, error) {
	j.mu.Lock()
	if !j.attemptedAt.IsZero() && j.now().Sub(j.attemptedAt) < j.minRefresh {
		defer j.mu.Unlock()
		return j.keys, j.lastErr
	}
	j.attemptedAt = j.now()
	j.mu.Unlock()

	keys, err := j.fetch(ctx)

	j.mu.Lock()
	defer j.mu.Unlock()
	j.lastErr = err
	if err == nil {
		j.keys, j.fetchedAt = keys, j.now()
	}
	return j.keys, err
}

// fetch downloads and parses the JWKS document, keeping public keys only.
func (j *JWKS) fetch(ctx context.Context) (map[string]jwk.Key, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	body, err := j.download(ctx)
	if err != nil {
		return nil, err
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("parse jwks %s: %w", j.url, err)
	}
	keys, err := publicKeysByID(set)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", j.url, err)
	}
	if len(keys) == 0 {
		// Never swap a working set for an empty one: that would reject
		// every token until the next fetch.
		return nil, fmt.Errorf("jwks %s: no keys", j.url)
	}
	return keys, nil
}

// download GETs the JWKS document, refusing non-200 answers and bodies
// larger than maxJWKSBytes.
func (j *JWKS) download(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks %s: status %d", j.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read jwks %s: %w", j.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks %s: larger than %d bytes", j.url, maxJWKSBytes)
	}
	return body, nil
}

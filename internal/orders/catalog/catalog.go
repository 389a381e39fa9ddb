// Package catalog reads products from the products service over its public
// HTTP API, for products the orders service's projection has not seen yet.
// Each call is bounded by a timeout, retried with back-off on failures that
// a retry can cure, and guarded by a circuit breaker, so a products service
// in trouble costs checkout a fast error rather than a pile of stuck
// requests.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Config tunes the client.
type Config struct {
	// BaseURL is the products service, such as http://localhost:8082.
	BaseURL string
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Attempts is how many times a call is tried (at least 1).
	Attempts int
	// Backoff is the wait before the second attempt; it doubles after.
	Backoff time.Duration
	// BreakerOpenFor is how long the breaker stays open after tripping.
	BreakerOpenFor time.Duration
}

// Client implements orders.Catalog.
type Client struct {
	cfg     Config
	http    *http.Client
	breaker *gobreaker.CircuitBreaker[orders.Product]
}

var _ orders.Catalog = (*Client)(nil)

// ErrUnavailable is returned when the products service cannot answer: it
// failed every attempt, or the breaker is open.
var ErrUnavailable = &errs.Error{Kind: errs.Unavailable, Code: "catalog_unavailable",
	Message: "the product catalog cannot be reached; try again shortly", RetryAfter: 5 * time.Second}

// New returns a client; zero fields of cfg take defaults.
func New(cfg Config, hc *http.Client) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Attempts < 1 {
		cfg.Attempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	if cfg.BreakerOpenFor <= 0 {
		cfg.BreakerOpenFor = 10 * time.Second
	}
	if hc == nil {
		hc = &http.Client{}
	}
	cb := gobreaker.NewCircuitBreaker[orders.Product](gobreaker.Settings{
		Name:        "products",
		MaxRequests: 1,
		Interval:    30 * time.Second,
		Timeout:     cfg.BreakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
		// A product that does not exist is an answer, not a failure; a
		// caller that gave up says nothing about the service.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, orders.ErrNotFound) },
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
	})
	return &Client{cfg: cfg, http: hc, breaker: cb}
}

// Product fetches a product: an active one, or one the caller whose token
// ctx carries (auth.WithBearer) may see.
func (c *Client) Product(ctx context.Context, id string) (orders.Product, error) {
	p, err := c.breaker.Execute(func() (orders.Product, error) { return c.withRetries(ctx, id) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return p, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return p, err
}

func (c *Client) withRetries(ctx context.Context, id string) (orders.Product, error) {
	wait := c.cfg.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		var p orders.Product
		var retry bool
		p, retry, err = c.fetch(ctx, id)
		if err == nil || !retry || attempt == c.cfg.Attempts {
			if retry {
				return p, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return p, err
		}
		// Full jitter spreads the retries of many callers.
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(rand.N(wait) + wait/2):
		}
		wait *= 2
	}
}

// fetch makes one attempt; retry says whether another could succeed.
func (c *Client) fetch(ctx context.Context, id string) (p orders.Product, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.BaseURL+"/v1/products/"+url.PathEscape(id), nil)
	if err != nil {
		return p, false, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	// On a user's behalf, the catalog shows what that user may see: a
	// seller stocking a draft the projection has not heard of yet finds it.
	if token := auth.BearerFrom(ctx); token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return p, ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded), fmt.Errorf("get product %s: %w", id, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return p, false, orders.ErrNotFound
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return p, true, fmt.Errorf("get product %s: status %d", id, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return p, false, fmt.Errorf("get product %s: status %d", id, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p); err != nil {
		return p, true, fmt.Errorf("decode product %s: %w", id, err)
	}
	if p.ID != id || p.SellerID == "" || p.Version < 1 {
		return orders.Product{}, false, fmt.Errorf("product %s: incomplete answer", id)
	}
	return p, false, nil
}

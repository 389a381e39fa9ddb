// Package catalog reads the products service for the search service: the
// category tree (its public endpoint), and every product page by page and
// the catalog's summary (its internal endpoints), to build or check the
// index. It implements search.Source.
package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
	"go.opentelemetry.io/otel/trace"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/marketplace-go/marketplace/internal/search"
)

// Client calls one products service base URL.
type Client struct {
	base string
	http *http.Client
}

var _ search.Source = (*Client)(nil)

// New returns a client of the products service at base (such as
// http://localhost:8082). Each call is bounded by timeout, and is a client
// span when tp is not nil.
func New(base string, timeout time.Duration, tp trace.TracerProvider) *Client {
	return &Client{base: base, http: tracing.Client(&http.Client{Timeout: timeout}, tp)}
}

// Categories reads the category tree.
func (c *Client) Categories(ctx context.Context) ([]search.Category, error) {
	var body struct {
		Categories []search.Category `json:"categories"`
	}
	if err := c.get(ctx, "/v1/categories", &body); err != nil {
		return nil, err
	}
	return body.Categories, nil
}

// Page reads up to limit products with ids above after.
func (c *Client) Page(ctx context.Context, after string, limit int) ([]search.Product, string, error) {
	var body struct {
		Items []search.Product `json:"items"`
		Next  string           `json:"next"`
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	if err := c.get(ctx, "/internal/v1/products?"+q.Encode(), &body); err != nil {
		return nil, "", err
	}
	return body.Items, body.Next, nil
}

// Summary reads the catalog's product count and version sum.
func (c *Client) Summary(ctx context.Context) (search.Summary, error) {
	var s search.Summary
	err := c.get(ctx, "/internal/v1/products/summary", &s)
	return s, err
}

func (c *Client) get(ctx context.Context, path string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("catalog: GET %s: %w", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("catalog: GET %s: %s: %s", path, res.Status, b)
	}
	if err := json.NewDecoder(res.Body).Decode(dst); err != nil {
		return fmt.Errorf("catalog: GET %s: decode: %w", path, err)
	}
	return nil
}

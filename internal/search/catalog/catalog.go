// Package catalog reads the products service for the search service: the
// category tree (its public endpoint), and the whole catalog and its
// summary (its internal endpoints), to build or check the index. It implements search.Source.
package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/tracing"
	"github.com/marketplace-go/marketplace/internal/search"
)

// Client calls one products service base URL.
type Client struct {
	base string
	http *http.Client
	// stream reads the export, which lasts as long as the catalog is
	// large: only the wait for its headers is bounded.
	stream *http.Client
}

var _ search.Source = (*Client)(nil)

// New returns a client of the products service at base (such as
// http://localhost:8082). Each call is bounded by timeout; the export's
// wait for the first byte is. Calls are client spans when tp is not nil.
func New(base string, timeout time.Duration, tp trace.TracerProvider) *Client {
	stream := http.DefaultTransport.(*http.Transport).Clone()
	stream.ResponseHeaderTimeout = timeout
	return &Client{base: base, http: tracing.Client(&http.Client{Timeout: timeout}, tp),
		stream: tracing.Client(&http.Client{Transport: stream}, tp)}
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

// Export reads the whole catalog in one streamed response and calls each
// with up to batch products at a time. The response is one JSON document,
// so one cut short is an error, never a shorter catalog.
func (c *Client) Export(ctx context.Context, batch int, each func([]search.Product) error) error {
	const path = "/internal/v1/products"
	res, err := c.send(ctx, c.stream, path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	if err := expect(dec, json.Delim('{'), "items", json.Delim('[')); err != nil {
		return fmt.Errorf("catalog: GET %s: %w", path, err)
	}
	out := make([]search.Product, 0, batch)
	for dec.More() {
		var p search.Product
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("catalog: GET %s: decode: %w", path, err)
		}
		if out = append(out, p); len(out) == batch {
			if err := each(out); err != nil {
				return err
			}
			out = make([]search.Product, 0, batch)
		}
	}
	if err := expect(dec, json.Delim(']'), json.Delim('}')); err != nil {
		return fmt.Errorf("catalog: GET %s: %w", path, err)
	}
	if len(out) > 0 {
		return each(out)
	}
	return nil
}

// expect reads the next tokens of dec and checks they are want.
func expect(dec *json.Decoder, want ...json.Token) error {
	for _, w := range want {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read %v: %w", w, err)
		}
		if tok != w {
			return fmt.Errorf("read %v, want %v", tok, w)
		}
	}
	return nil
}

// Summary reads the catalog's product count and version sum.
func (c *Client) Summary(ctx context.Context) (search.Summary, error) {
	var s search.Summary
	err := c.get(ctx, "/internal/v1/products/summary", &s)
	return s, err
}

func (c *Client) get(ctx context.Context, path string, dst any) error {
	res, err := c.send(ctx, c.http, path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(dst); err != nil {
		return fmt.Errorf("catalog: GET %s: decode: %w", path, err)
	}
	return nil
}

// send GETs path with hc and returns a 200 response; any other status is
// an error.
func (c *Client) send(ctx context.Context, hc *http.Client, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("catalog: GET %s: %w", path, err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		res.Body.Close()
		return nil, fmt.Errorf("catalog: GET %s: %s: %s", path, res.Status, b)
	}
	return res, nil
}

// Package shops reads the names of sellers' shops from the users service
// for the search service (its internal read of changed shops). It
// implements search.Shops.
package shops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/page"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
	"github.com/marketplace-go/marketplace/internal/search"
)

// Client calls one users service base URL.
type Client struct {
	base string
	http *http.Client
}

var _ search.Shops = (*Client)(nil)

// New returns a client of the users service at base (such as
// http://localhost:8081). Each page read is bounded by timeout; calls are
// client spans when tp is not nil.
func New(base string, timeout time.Duration, tp trace.TracerProvider) *Client {
	return &Client{base: base, http: tracing.Client(&http.Client{Timeout: timeout}, tp)}
}

// ShopsChanged reads the shops changed at or after since, page by page,
// and calls each with every page.
func (c *Client) ShopsChanged(ctx context.Context, since time.Time, each func([]search.Shop) error) error {
	cursor := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(page.MaxLimit)}}
		if !since.IsZero() {
			q.Set("since", since.UTC().Format(time.RFC3339Nano))
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p page.Page[search.Shop]
		if err := c.get(ctx, "/internal/v1/shops?"+q.Encode(), &p); err != nil {
			return err
		}
		if len(p.Items) > 0 {
			if err := each(p.Items); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		cursor = p.Next
	}
}

func (c *Client) get(ctx context.Context, path string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("shops: %w", err)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("shops: GET %s: %w", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("shops: GET %s: %s: %s", path, res.Status, b)
	}
	if err := json.NewDecoder(res.Body).Decode(dst); err != nil {
		return fmt.Errorf("shops: GET %s: decode: %w", path, err)
	}
	return nil
}

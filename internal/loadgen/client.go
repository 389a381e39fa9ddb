package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiClient makes the preparation's calls to the public API. Unlike the
// measured load, it waits and retries when the platform says so (429 from
// the gateway's rate limits, 503 busy), since preparation must finish on a
// deployment with its limits on.
type apiClient struct {
	base     string
	http     *http.Client
	maxWaits int           // retries after 429/503 before giving up
	pause    time.Duration // the wait when Retry-After gives none
}

// apiError is an answer other than the one a preparation step expects.
type apiError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// do sends body as JSON (when not nil) and decodes a 2xx answer into out
// (when not nil). header is pairs of names and values.
func (c *apiClient) do(ctx context.Context, token, method, path string, body, out any, header ...string) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		res, data, err := c.send(ctx, token, method, path, payload, header)
		if err != nil {
			return err
		}
		if res.StatusCode/100 == 2 {
			if out == nil || len(data) == 0 {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s %s: decode: %w", method, path, err)
			}
			return nil
		}
		retry := res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable
		if !retry || attempt >= c.maxWaits {
			return &apiError{Method: method, Path: path, Status: res.StatusCode, Body: string(data)}
		}
		if err := sleep(ctx, retryAfter(res.Header.Get("Retry-After"), c.pause)); err != nil {
			return err
		}
	}
}

func (c *apiClient) send(ctx context.Context, token, method, path string, payload []byte, header []string) (*http.Response, []byte, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	return res, data, nil
}

// retryAfter reads a Retry-After in seconds, with a default and a cap, so
// that a missing or odd header neither spins nor stalls the run.
func retryAfter(v string, dflt time.Duration) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	switch {
	case err != nil || s <= 0:
		return dflt
	case s > 60:
		return time.Minute
	default:
		return time.Duration(s) * time.Second
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

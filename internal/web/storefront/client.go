package storefront

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// client calls the public API through the gateway, as any client does:
// the pages hold no data of their own.
type client struct {
	base string // the gateway's base URL, without a trailing slash
	http *http.Client
}

// apiError is an answer of the API other than 2xx, read from its problem
// body, or a failure to reach the API at all (Status 0).
type apiError struct {
	Status     int
	Code       string
	Detail     string
	Errors     map[string]string
	RetryAfter string
	cause      error
}

func (e *apiError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("the API is unreachable: %v", e.cause)
	}
	return fmt.Sprintf("the API answered %d %s: %s", e.Status, e.Code, e.Detail)
}

func (e *apiError) Unwrap() error { return e.cause }

// call is one API request. token is the access token, or "". hdr are
// extra header name/value pairs.
type call struct {
	method, path, token string
	body                any
	hdr                 []string
	// forwardedFor is the browser's chain of addresses, for the API's
	// per-client limits (log-in throttling, rate limits).
	forwardedFor string
}

// do sends c and decodes a 2xx answer into out (when not nil). Any other
// answer is an *apiError.
func (cl *client) do(ctx context.Context, c call, out any) (http.Header, error) {
	var body io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return nil, fmt.Errorf("storefront: encode %s %s: %w", c.method, c.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, cl.base+c.path, body)
	if err != nil {
		return nil, fmt.Errorf("storefront: %s %s: %w", c.method, c.path, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", c.forwardedFor)
	}
	for i := 0; i+1 < len(c.hdr); i += 2 {
		req.Header.Set(c.hdr[i], c.hdr[i+1])
	}
	res, err := cl.http.Do(req)
	if err != nil {
		return nil, &apiError{cause: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return nil, &apiError{cause: err}
	}
	if res.StatusCode >= 300 {
		return res.Header, problemOf(res, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("storefront: decode %s %s: %w", c.method, c.path, err)
		}
	}
	return res.Header, nil
}

// do makes c on behalf of the browser that sent r: the API learns the
// browser's address, not the pages' own, so that one person's failed
// log-ins or burst of requests do not count against everyone's. The
// gateway believes it when TRUSTED_PROXIES includes the pages' address.
func (h *Handler) do(r *http.Request, c call, out any) (http.Header, error) {
	c.forwardedFor = forwardedFor(r)
	return h.api.do(r.Context(), c, out)
}

// forwardedFor is r's X-Forwarded-For chain with r's peer (the gateway,
// or the browser itself) appended.
func forwardedFor(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	hops := append(r.Header.Values("X-Forwarded-For"), host)
	return strings.Join(hops, ", ")
}

func problemOf(res *http.Response, raw []byte) *apiError {
	var p struct {
		Code   string            `json:"code"`
		Detail string            `json:"detail"`
		Title  string            `json:"title"`
		Errors map[string]string `json:"errors"`
	}
	e := &apiError{Status: res.StatusCode, RetryAfter: res.Header.Get("Retry-After")}
	if strings.Contains(res.Header.Get("Content-Type"), "json") && json.Unmarshal(raw, &p) == nil {
		e.Code, e.Detail, e.Errors = p.Code, p.Detail, p.Errors
		if e.Detail == "" {
			e.Detail = p.Title
		}
	}
	return e
}

// isAPI says whether err is an API answer with the given status and, if
// code is not empty, code.
func isAPI(err error, status int, code string) bool {
	var e *apiError
	return errors.As(err, &e) && e.Status == status && (code == "" || e.Code == code)
}

func newClient(base string, timeout time.Duration, rt http.RoundTripper) *client {
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: timeout, Transport: rt,
		// The API's redirects are answers to show, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Package httpxtest is a small HTTP client for service tests: it sends
// JSON with a bearer token and checks statuses and problem codes, so that
// each test reads as the requests it makes.
package httpxtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Caller is someone calling an API: a user id and a token, or neither for
// anonymous calls.
type Caller struct {
	ID    string
	Token string
}

// Anonymous calls without a token.
var Anonymous = Caller{}

// Client sends requests to one service.
type Client struct {
	BaseURL string
}

// Response is what a request got back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request and fails the test if it could not be sent. body is
// nil, a string (sent as is) or a value (sent as JSON); header holds name,
// value pairs.
func (c Client) Do(t testing.TB, who Caller, method, path string, body any, header ...string) Response {
	t.Helper()
	res, err := c.Request(who, method, path, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

// Request is Do without a test, for goroutines.
func (c Client) Request(who Caller, method, path string, body any, header ...string) (Response, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.BaseURL+path, r)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who.Token != "" {
		req.Header.Set("Authorization", "Bearer "+who.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}, err
}

// Want fails the test unless the response has the given status.
func (r Response) Want(t testing.TB, status int) Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	return r
}

// WantProblem fails the test unless the response is a problem+json with
// the given status and code.
func (r Response) WantProblem(t testing.TB, status int, code string) {
	t.Helper()
	r.Want(t, status)
	var p struct {
		Code string `json:"code"`
	}
	r.Decode(t, &p)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" || p.Code != code {
		t.Fatalf("got %s %q, want problem code %q; body %s", ct, p.Code, code, r.Body)
	}
}

// Decode reads the body as JSON into v.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem returns the problem code of a problem+json body, or "".
func (r Response) Problem() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.Code
}

// Race calls f from n goroutines released at once and returns the results
// in order; an error from any of them fails the test. f must not call
// t.Fatal: it runs outside the test's goroutine.
func Race[T any](tb testing.TB, n int, f func(i int) (T, error)) []T {
	tb.Helper()
	out := make([]T, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i], errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("call %d: %v", i, err)
		}
	}
	return out
}

// Statuses counts responses by status.
func Statuses(rs []Response) map[int]int {
	counts := map[int]int{}
	for _, r := range rs {
		counts[r.Status]++
	}
	return counts
}

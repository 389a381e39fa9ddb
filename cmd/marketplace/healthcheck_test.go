package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheckSucceedsOnlyWhenTheURLAnswers2xx(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unready.Close()
	tlsOK := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer tlsOK.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	tests := []struct {
		name    string
		args    []string
		healthy bool
	}{
		{"a URL that answers 200 is healthy", []string{"--url=" + ok.URL + "/readyz"}, true},
		{"a URL that answers 503 is not", []string{"--url=" + unready.URL + "/readyz"}, false},
		{"a listener that is gone is not", []string{"--url=" + gone.URL + "/readyz"}, false},
		{"an https listener with an untrusted certificate is not", []string{"--url=" + tlsOK.URL}, false},
		{"an https listener checked with --insecure is", []string{"--url=" + tlsOK.URL, "--insecure"}, true},
		{"a URL that does not parse is not", []string{"--url=:/nope"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"healthcheck"}, tt.args...), lookup(nil), io.Discard, nil)
			if (err == nil) != tt.healthy {
				t.Errorf("healthcheck %v: %v, want healthy %v", tt.args, err, tt.healthy)
			}
		})
	}
}

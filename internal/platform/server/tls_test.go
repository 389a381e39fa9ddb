package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
)

// startTLS runs a public module (a gateway) and a service module with t's
// TLS settings and returns their addresses.
func startTLS(t *testing.T, settings server.TLS) (gateway, service string) {
	t.Helper()
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), time.Second)
	if err := srv.SetTLS(settings); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, m := range []server.Module{
		{Name: "gateway", Addr: "127.0.0.1:0", Public: true, Routes: func(*httpx.Router) {}},
		{Name: "users", Addr: "127.0.0.1:0", Routes: func(*httpx.Router) {}},
	} {
		a, err := srv.Add(m)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return addrs[0], addrs[1]
}

func httpsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

func TestTheGatewayServesHTTPSWithHSTSAndRefusesPlainHTTP(t *testing.T) {
	certFile, keyFile, roots := servertest.SelfSigned(t)
	gateway, service := startTLS(t, server.TLS{CertFile: certFile, KeyFile: keyFile, HSTSMaxAge: 24 * time.Hour})

	res, err := httpsClient(roots).Get("https://" + gateway + "/healthz")
	if err != nil {
		t.Fatalf("GET over HTTPS trusting the certificate: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/healthz over HTTPS = %d", res.StatusCode)
	}
	if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=86400; includeSubDomains" {
		t.Errorf("Strict-Transport-Security = %q", got)
	}

	t.Run("a client that does not trust the certificate is refused", func(t *testing.T) {
		if _, err := httpsClient(x509.NewCertPool()).Get("https://" + gateway + "/healthz"); err == nil {
			t.Error("the handshake succeeded without trusting the certificate")
		}
	})
	t.Run("plain HTTP to the TLS port is not served", func(t *testing.T) {
		res, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + gateway + "/healthz")
		if err != nil {
			return // refused outright: not served
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
			t.Errorf("plain HTTP got %d %q, want 400 \"client sent an HTTP request to an HTTPS server\"", res.StatusCode, body)
		}
	})
	t.Run("the other listeners stay plain HTTP, without HSTS", func(t *testing.T) {
		res, err := http.Get("http://" + service + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("plain service: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
		}
	})
}

func TestEveryListenerServesHTTPSWhenAsked(t *testing.T) {
	certFile, keyFile, roots := servertest.SelfSigned(t)
	_, service := startTLS(t, server.TLS{CertFile: certFile, KeyFile: keyFile, Every: true})
	res, err := httpsClient(roots).Get("https://" + service + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d", res.StatusCode)
	}
	if got := res.Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS %q sent with HSTS_MAX_AGE 0", got)
	}
}

func TestABadKeyPairStopsTheServerAtStart(t *testing.T) {
	certFile, _, _ := servertest.SelfSigned(t)
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), time.Second)
	err := srv.SetTLS(server.TLS{CertFile: certFile, KeyFile: certFile})
	if err == nil || !strings.Contains(err.Error(), "TLS_CERT_FILE") {
		t.Errorf("SetTLS with a certificate for a key: %v, want an error naming the variables", err)
	}
}

func TestTLSSettingsComeInPairs(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		bad  string // the variable the error names, "" for none
	}{
		{"no certificate is plain HTTP", nil, ""},
		{"a certificate and its key serve TLS", map[string]string{"TLS_CERT_FILE": "c.pem", "TLS_KEY_FILE": "k.pem"}, ""},
		{"a certificate without a key is refused", map[string]string{"TLS_CERT_FILE": "c.pem"}, "TLS_KEY_FILE"},
		{"a key without a certificate is refused", map[string]string{"TLS_KEY_FILE": "k.pem"}, "TLS_CERT_FILE"},
		{"every listener without a certificate is refused", map[string]string{"TLS_EVERY_LISTENER": "true"}, "TLS_EVERY_LISTENER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := config.FromLookup(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			server.LoadTLS(e)
			err := e.Err()
			if (err != nil) != (tt.bad != "") || err != nil && !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("error %v, want one naming %q", err, tt.bad)
			}
		})
	}
}

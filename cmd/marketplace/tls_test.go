package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
)

// TestThePlatformServesItsGatewayOverTLS runs the whole platform in one
// process with a self-signed certificate made in the test: clients that
// trust it reach the API over HTTPS with HSTS, and plain HTTP to the
// gateway's port is not served.
func TestThePlatformServesItsGatewayOverTLS(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	certFile, keyFile, roots := servertest.SelfSigned(t)
	addrs, _ := startServe(t, testEnv(t, map[string]string{"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile}))
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	base := "https://" + addrs["gateway"]
	waitReady(t, client, base, "the gateway over HTTPS")
	for _, path := range []string{"/readyz", "/v1/categories"} {
		res, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s over HTTPS: %v", path, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s over HTTPS = %d", path, res.StatusCode)
		}
		if !strings.HasPrefix(res.Header.Get("Strict-Transport-Security"), "max-age=31536000") {
			t.Errorf("GET %s: Strict-Transport-Security %q", path, res.Header.Get("Strict-Transport-Security"))
		}
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + addrs["gateway"] + "/v1/categories")
	if err == nil {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
			t.Errorf("plain HTTP to the TLS port got %d %q, want it refused", res.StatusCode, body)
		}
	}
}

// waitReady waits until base's /readyz answers 200 through client; what
// names the server in the failure.
func waitReady(t *testing.T, client *http.Client, base, what string) {
	t.Helper()
	eventually.NoError(t, what+" answers /readyz with 200", func() error {
		res, err := client.Get(base + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz = %d", res.StatusCode)
		}
		return nil
	})
}

package cache_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marketplace-go/marketplace/internal/platform/cache"
	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/tlstest"
)

// redisClient is a client as the products service and the gateway make
// one from their URL.
func redisClient(t *testing.T, url string) (*redis.Client, error) {
	t.Helper()
	opts, err := cache.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opts.MaxRetries = -1 // a refusal is reported, not retried
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

func TestRedisOverTLSVerifiesTheServerAndPresentsAClientCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two redis-server processes of its own; left out by -short")
	}
	ca, other := tlstest.NewCA(t, "datastore CA"), tlstest.NewCA(t, "someone else's CA")
	// The certificate names localhost only: 127.0.0.1 is a name it does
	// not carry, for the same server.
	server := ca.Server(t, "localhost")
	client, stranger := ca.Client(t, "products"), other.Client(t, "products")
	serverOnly := cachetest.StartTLS(t, cachetest.TLSServer{CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.File})
	mutual := cachetest.StartTLS(t, cachetest.TLSServer{CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.File, RequireClientCert: true})
	url := func(host, port string, params ...string) string {
		return fmt.Sprintf("rediss://%s/0?%s", net.JoinHostPort(host, port), strings.Join(params, "&"))
	}
	trust := func(p tlstest.Pair) []string {
		return []string{"tls_ca_file=" + ca.File, "tls_cert_file=" + p.CertFile, "tls_key_file=" + p.KeyFile}
	}

	accepted := []struct {
		name string
		url  string
	}{
		{"a rediss URL trusting the server's CA serves the cache over TLS", url("localhost", serverOnly, "tls_ca_file="+ca.File)},
		{"a client certificate from the URL lets the client in where one is required", url("localhost", mutual, trust(client)...)},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			rdb, err := redisClient(t, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			// The cache itself hides Redis errors (it serves without
			// Redis), so the value must come back from Redis on the
			// second call, not from the loader.
			c := cache.New(rdb, "tlstest:", nil, slog.New(slog.DiscardHandler))
			// A TLS handshake on a busy machine can take longer than the
			// production timeout, which would count as Redis being down.
			cache.SetTimeout(c, 5*time.Second)
			loads := 0
			load := func(context.Context) (any, error) { loads++; return "lamp", nil }
			var got string
			for range 2 {
				if err := c.GetOrLoad(ctx, "p1", time.Minute, &got, load); err != nil {
					t.Fatalf("GetOrLoad: %v", err)
				}
			}
			if got != "lamp" || loads != 1 {
				t.Errorf("got %q after %d loads, want lamp after 1 (the second from Redis)", got, loads)
			}
			if err := rdb.Ping(ctx).Err(); err != nil {
				t.Errorf("PING: %v", err)
			}
		})
	}

	refused := []struct {
		name string
		url  string
		want []string // one of them in the error
	}{
		{"a server whose certificate another CA signed is refused", url("localhost", serverOnly, "tls_ca_file="+other.File), []string{"certificate signed by unknown authority"}},
		{"a server without a CA file is checked against the system's CAs, which do not know it", url("localhost", serverOnly), []string{"certificate signed by unknown authority"}},
		{"a server reached by a name its certificate does not carry is refused", url("127.0.0.1", serverOnly, "tls_ca_file="+ca.File), []string{"doesn't contain any IP SANs"}},
		// In TLS 1.3 the client's handshake ends before the server has
		// checked the client's certificate, so the client learns of the
		// refusal on its first command: from the server's alert, or, when
		// the server has already closed the connection, from a reset.
		{"a client without a certificate is refused where one is required", url("localhost", mutual, "tls_ca_file="+ca.File), refusedByServer("certificate required")},
		// Redis names no acceptable CAs, so Go's client sends the
		// certificate it has and the server rejects it.
		{"a client certificate from another CA is refused", url("localhost", mutual, trust(stranger)...), refusedByServer("unknown certificate authority")},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			rdb, err := redisClient(t, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			err = rdb.Ping(ctx).Err()
			if err == nil || !slices.ContainsFunc(tc.want, func(w string) bool { return strings.Contains(err.Error(), w) }) {
				t.Errorf("PING: %v\nwant an error saying one of %q", err, tc.want)
			}
		})
	}
}

func TestParseURLRejectsTLSSettingsThatCannotWork(t *testing.T) {
	ca := tlstest.NewCA(t, "datastore CA")
	pair := ca.Client(t, "products")
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"TLS files on a plain redis URL are an error, not silently unused", "redis://localhost:6379/0?tls_ca_file=" + ca.File, "need the rediss:// scheme"},
		{"a client certificate without its key is an error", "rediss://localhost:6380/0?tls_cert_file=" + pair.CertFile, "go together"},
		{"a CA file that does not exist is an error", "rediss://localhost:6380/0?tls_ca_file=/nonexistent/ca.crt", "no such file"},
		{"a CA file without a certificate is an error", "rediss://localhost:6380/0?tls_ca_file=" + notPEM, "no PEM certificate"},
		{"a key that is not the certificate's is an error", "rediss://localhost:6380/0?tls_cert_file=" + pair.CertFile + "&tls_key_file=" + ca.File, "tls_cert_file/tls_key_file"},
		{"an option neither go-redis nor we know is still an error", "rediss://localhost:6380/0?tls_ca=" + ca.File, "unexpected option"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cache.ParseURL(tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseURL: %v\nwant an error saying %q", err, tc.want)
			}
		})
	}
}

func TestParseURLReadsPlainURLsAsGoRedisDoes(t *testing.T) {
	for _, u := range []string{"redis://localhost:6379/0", "redis://:secret@cache:6379/3?dial_timeout=2s", "rediss://cache:6380/1"} {
		want, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cache.ParseURL(u)
		if err != nil {
			t.Fatalf("ParseURL(%s): %v", u, err)
		}
		if got.Addr != want.Addr || got.DB != want.DB || got.Password != want.Password ||
			got.DialTimeout != want.DialTimeout || (got.TLSConfig == nil) != (want.TLSConfig == nil) {
			t.Errorf("ParseURL(%s) = %+v, want %+v", u, got, want)
		}
	}
}

// refusedByServer lists the errors a client sees when the server refuses
// its certificate after a TLS 1.3 handshake: the server's alert, or the
// reset of a connection the server closed before the client wrote to it.
func refusedByServer(alert string) []string {
	return []string{alert, "connection reset by peer", "broken pipe"}
}

package pg_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgclustertest"
	"github.com/marketplace-go/marketplace/internal/platform/tlstest"
)

// tlsURL is the URL of database db on the cluster at addr, reached as
// host, with the query params (sslmode and the files).
func tlsURL(t *testing.T, addr, host string, params url.Values) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	// Built as an operator writes POSTGRES_URL, then given a database
	// the way each service's own URL is derived from it.
	server := fmt.Sprintf("postgres://postgres@%s/postgres?%s", net.JoinHostPort(host, port), params.Encode())
	return pg.WithDatabase(server, "shop")
}

// sslState is what the server says of this connection's TLS.
func sslState(t *testing.T, ctx context.Context, url string) (ssl bool, clientDN string) {
	t.Helper()
	pool, err := pg.Open(ctx, url)
	if err != nil {
		t.Fatalf("pg.Open: %v", err)
	}
	defer pool.Close()
	err = pool.QueryRow(ctx, `SELECT ssl, coalesce(client_dn, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl, &clientDN)
	if err != nil {
		t.Fatalf("read pg_stat_ssl: %v", err)
	}
	return ssl, clientDN
}

func TestPostgreSQLOverTLSVerifiesTheServerAndPresentsAClientCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers of its own; left out by -short")
	}
	ca, other := tlstest.NewCA(t, "datastore CA"), tlstest.NewCA(t, "someone else's CA")
	// The certificate names localhost only, so reaching the same server as
	// 127.0.0.1 is reaching it by a name the certificate does not carry.
	server := ca.Server(t, "localhost")
	client, stranger := ca.Client(t, "postgres"), other.Client(t, "postgres")
	serverOnly := pgclustertest.Start(t, pgclustertest.WithTLS(pgclustertest.TLS{CertFile: server.CertFile, KeyFile: server.KeyFile}))
	mutual := pgclustertest.Start(t, pgclustertest.WithTLS(pgclustertest.TLS{
		CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.File, ClientCert: true,
	}))
	verify := func(root string) url.Values {
		return url.Values{"sslmode": {"verify-full"}, "sslrootcert": {root}, "connect_timeout": {"10"}}
	}
	withCert := func(v url.Values, p tlstest.Pair) url.Values {
		v.Set("sslcert", p.CertFile)
		v.Set("sslkey", p.KeyFile)
		return v
	}

	t.Run("a URL trusting the server's CA connects over TLS and creates the service's database", func(t *testing.T) {
		ctx := ctxFor(t)
		ssl, _ := sslState(t, ctx, tlsURL(t, serverOnly.Addr(), "localhost", verify(ca.File)))
		if !ssl {
			t.Error("pg_stat_ssl.ssl = false on a verify-full connection")
		}
	})
	t.Run("a client certificate from the URL is the one the server verified", func(t *testing.T) {
		ctx := ctxFor(t)
		ssl, dn := sslState(t, ctx, tlsURL(t, mutual.Addr(), "localhost", withCert(verify(ca.File), client)))
		if !ssl || dn != "/CN=postgres" {
			t.Errorf("pg_stat_ssl: ssl %v, client_dn %q; want true, /CN=postgres", ssl, dn)
		}
	})

	refused := []struct {
		name    string
		cluster *pgclustertest.Cluster
		host    string
		params  url.Values
		want    string // in the error
	}{
		{"a server whose certificate another CA signed is refused", serverOnly, "localhost", verify(other.File), "certificate signed by unknown authority"},
		{"a server reached by a name its certificate does not carry is refused", serverOnly, "127.0.0.1", verify(ca.File), "doesn't contain any IP SANs"},
		{"a URL without TLS is refused by a server that takes TLS only", serverOnly, "localhost", url.Values{"sslmode": {"disable"}}, "no encryption"},
		{"a client without a certificate is refused where one is required", mutual, "localhost", verify(ca.File), "connection requires a valid client certificate"},
		{"a client certificate from another CA is refused", mutual, "localhost", withCert(verify(ca.File), stranger), "connection requires a valid client certificate"},
		{"a missing CA file is an error, not a connection without verification", serverOnly, "localhost", verify("/nonexistent/ca.crt"), "unable to read CA file"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := pg.Open(ctxFor(t), tlsURL(t, tc.cluster.Addr(), tc.host, tc.params))
			if err == nil {
				pool.Close()
				t.Fatal("pg.Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("pg.Open: %v\nwant an error saying %q", err, tc.want)
			}
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

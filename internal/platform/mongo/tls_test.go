package mongo_test

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/platform/mongo"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgclustertest"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/platform/tlstest"
)

// startFerretDBTLS runs a FerretDB of the test's own that listens on TLS
// only, with server's certificate, requiring client certificates of
// caFile (FerretDB asks for them whenever it has a CA file), and returns
// its port. It stops when the test ends. No MongoDB server is installed
// here: FerretDB's TLS listener is the MongoDB-protocol server with TLS.
func startFerretDBTLS(t *testing.T, server tlstest.Pair, caFile string) string {
	t.Helper()
	pgURL, pool := pgtest.New(t, nil)
	pool.Close() // FerretDB opens its own
	// Not run beside the package's parallel tests: ferretdb.New writes a
	// package-level variable of FerretDB's, which mongo.Open guards with a
	// lock of its own this test cannot take.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TLS: "127.0.0.1:0", TLSCertFile: server.CertFile, TLSKeyFile: server.KeyFile, TLSCAFile: caFile},
		Logger:        slog.New(slog.DiscardHandler),
		Handler:       "postgresql",
		PostgreSQLURL: pgURL,
	})
	if err != nil {
		t.Fatalf("start FerretDB with TLS: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	u, err := url.Parse(f.MongoDBURI())
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// checks records why each of the driver's checks of the server failed:
// the error mongo.Open returns carries only the last check's, which the
// deadline may have cut short on a busy machine.
type checks struct {
	mu     sync.Mutex
	failed []string
}

// option makes a refused connection fail within seconds instead of the ten
// of a real start, and records the checks.
func (c *checks) option(co *options.ClientOptions) {
	co.SetServerSelectionTimeout(2 * time.Second)
	co.SetServerMonitor(&event.ServerMonitor{ServerHeartbeatFailed: func(e *event.ServerHeartbeatFailedEvent) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.failed = append(c.failed, e.Failure.Error())
	}})
}

func (c *checks) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.failed, "\n")
}

func TestMongoDBOverTLSVerifiesTheServerAndPresentsAClientCertificate(t *testing.T) {
	ca, other := tlstest.NewCA(t, "datastore CA"), tlstest.NewCA(t, "someone else's CA")
	// The certificate names localhost only: 127.0.0.1 is a name it does
	// not carry, for the same server.
	server := ca.Server(t, "localhost")
	client, stranger := ca.Client(t, "products"), other.Client(t, "products")
	port := startFerretDBTLS(t, server, ca.File)
	uri := func(host string, params url.Values) string {
		return "mongodb://" + net.JoinHostPort(host, port) + "/?" + params.Encode()
	}
	params := func(caFile string, p *tlstest.Pair) url.Values {
		v := url.Values{"tls": {"true"}, "tlsCAFile": {caFile}}
		if p != nil {
			v.Set("tlsCertificateKeyFile", p.BundleFile)
		}
		return v
	}
	discard := slog.New(slog.DiscardHandler)

	t.Run("a URI with the server's CA and a client certificate stores and finds a document over TLS", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		db, err := mongo.Open(ctx, mongo.Config{URI: uri("localhost", params(ca.File, &client)), Database: "shop"}, discard)
		if err != nil {
			t.Fatalf("mongo.Open: %v", err)
		}
		defer db.Close(ctx)
		if _, err := db.Database.Collection("products").InsertOne(ctx, bson.D{{Key: "_id", Value: "p1"}, {Key: "title", Value: "lamp"}}); err != nil {
			t.Fatalf("insert: %v", err)
		}
		var got struct{ Title string }
		if err := db.Database.Collection("products").FindOne(ctx, bson.D{{Key: "_id", Value: "p1"}}).Decode(&got); err != nil || got.Title != "lamp" {
			t.Errorf("find: %+v, %v; want lamp", got, err)
		}
	})

	refused := []struct {
		name string
		uri  string
		want string // in the error
	}{
		{"a server whose certificate another CA signed is refused", uri("localhost", params(other.File, &client)), "certificate signed by unknown authority"},
		{"a server reached by a name its certificate does not carry is refused", uri("127.0.0.1", params(ca.File, &client)), "doesn't contain any IP SANs"},
		{"a client without a certificate is refused where one is required", uri("localhost", params(ca.File, nil)), "certificate required"},
		// Go's client sends no certificate the server's list of CAs does
		// not name, so the server sees none.
		{"a client certificate from another CA is refused", uri("localhost", params(ca.File, &stranger)), "certificate required"},
		{"a URI without TLS gets no answer from a TLS listener", "mongodb://" + net.JoinHostPort("localhost", port) + "/", "server selection"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits out its server selection
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var c checks
			db, err := mongo.Open(ctx, mongo.Config{URI: tc.uri, Database: "shop"}, discard, c.option)
			if err == nil {
				_ = db.Close(ctx)
				t.Fatal("mongo.Open connected")
			}
			if !strings.Contains(err.Error()+"\n"+c.String(), tc.want) {
				t.Errorf("mongo.Open: %v\nfailed checks:\n%s\nwant an error saying %q", err, c.String(), tc.want)
			}
		})
	}
}

func TestEmbeddedFerretDBKeepsItsDataOverTLSToPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server of its own; left out by -short")
	}
	ca := tlstest.NewCA(t, "datastore CA")
	server, client := ca.Server(t, "localhost"), ca.Client(t, "postgres")
	cluster := pgclustertest.Start(t, pgclustertest.WithTLS(pgclustertest.TLS{
		CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.File, ClientCert: true,
	}))
	_, port, _ := net.SplitHostPort(cluster.Addr())
	q := url.Values{"sslmode": {"verify-full"}, "sslrootcert": {ca.File}, "sslcert": {client.CertFile}, "sslkey": {client.KeyFile}}
	// FERRETDB_POSTGRES_URL as the products service derives it from
	// POSTGRES_URL; the cluster takes TLS connections with a client
	// certificate only, so FerretDB's own pool must use them too.
	pgURL := pg.WithDatabase("postgres://postgres@"+net.JoinHostPort("localhost", port)+"/postgres?"+q.Encode(), "catalog")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	db, err := mongo.Open(ctx, mongo.Config{Database: "shop", EmbeddedPostgresURL: pgURL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("mongo.Open: %v", err)
	}
	defer db.Close(ctx)
	if _, err := db.Database.Collection("products").InsertOne(ctx, bson.D{{Key: "_id", Value: "p1"}, {Key: "title", Value: "lamp"}}); err != nil {
		t.Fatalf("insert through FerretDB: %v", err)
	}
	// Read back from PostgreSQL itself: the document is there, written
	// over TLS (the cluster takes nothing else).
	pool, err := pg.Open(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'catalog' AND s.ssl AND s.client_dn = '/CN=postgres'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 2 { // this pool's connection and at least one of FerretDB's
		t.Errorf("%d TLS connections with the client certificate to the catalog database, want this one and FerretDB's", n)
	}
}

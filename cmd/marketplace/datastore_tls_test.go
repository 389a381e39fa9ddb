package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/marketplace-go/marketplace/internal/platform/cache"
	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgclustertest"
	"github.com/marketplace-go/marketplace/internal/platform/tlstest"
)

// TestThePlatformTalksTLSToEveryDatastore runs the whole platform in one
// process against a PostgreSQL cluster, a redis-server and a RabbitMQ node
// of the test's own, each taking TLS only and requiring a client
// certificate, configured by nothing but the documented URLs: the users,
// orders and catalog databases, the products cache and the gateway's rate
// limits, and the event bus must all be reached that way.
func TestThePlatformTalksTLSToEveryDatastore(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	ca := tlstest.NewCA(t, "datastore CA")
	server, client := ca.Server(t, "localhost"), ca.Client(t, "postgres")
	cluster := pgclustertest.Start(t, pgclustertest.WithTLS(pgclustertest.TLS{
		CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.File, ClientCert: true,
	}))
	redisPort := cachetest.StartTLS(t, cachetest.TLSServer{
		CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.File, RequireClientCert: true,
	})
	amqpPort := eventstest.StartTLSBroker(t, eventstest.TLSBroker{
		CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.File, RequireClientCert: true,
	})

	_, pgPort, _ := net.SplitHostPort(cluster.Addr())
	pgQuery := url.Values{"sslmode": {"verify-full"}, "sslrootcert": {ca.File}, "sslcert": {client.CertFile}, "sslkey": {client.KeyFile}}.Encode()
	pgURL := func(db string) string {
		return "postgres://postgres@" + net.JoinHostPort("localhost", pgPort) + "/" + db + "?" + pgQuery
	}
	redisURL := "rediss://" + net.JoinHostPort("localhost", redisPort) + "/0?" +
		url.Values{"tls_ca_file": {ca.File}, "tls_cert_file": {client.CertFile}, "tls_key_file": {client.KeyFile}}.Encode()
	amqpURL := "amqps://guest:guest@" + net.JoinHostPort("localhost", amqpPort) + "/?" +
		url.Values{"cacertfile": {ca.File}, "certfile": {client.CertFile}, "keyfile": {client.KeyFile}}.Encode()
	getenv := testEnv(t, map[string]string{
		"POSTGRES_URL":          pgURL("postgres"),
		"USERS_DATABASE_URL":    pgURL("users"),
		"ORDERS_DATABASE_URL":   pgURL("orders"),
		"FERRETDB_POSTGRES_URL": pgURL("catalog"),
		"REDIS_URL":             redisURL,
		"RABBITMQ_URL":          amqpURL,
		// The gateway's own Redis client, with limits the journey's
		// sign-ins from one address stay under. A limit's key lives as
		// long as its requests take to be forgiven, period/rate each (6 min):
		// at a slow rate with a large burst the keys outlive the journey
		// (at 100000/1m, 0.6 ms a request, they could expire before the
		// test looked for them on a slow machine).
		"GATEWAY_RATE_LIMITS":    "on",
		"GATEWAY_RATE_ANONYMOUS": "10/1h burst 100000",
		"GATEWAY_RATE_USER":      "10/1h burst 100000",
		"GATEWAY_RATE_LOGIN":     "10/1h burst 100000",
		"GATEWAY_RATE_CHECKOUT":  "10/1h burst 100000",
	})
	cachePrefix, _ := getenv("PRODUCTS_CACHE_PREFIX")
	if err := run(context.Background(), []string{"seed", "--products=4", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	base := "http://" + addrs["gateway"]
	waitReady(t, &http.Client{Timeout: 30 * time.Second}, base, "the platform on TLS datastores")
	// A seller's and two buyers' day: accounts, the catalog and its cache,
	// product events to search and orders, orders and payments.
	journey(t, base, nil)
	if t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	t.Run("each service's database is reached over TLS with the client certificate", func(t *testing.T) {
		pool, err := pg.Open(ctx, pgURL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		rows, err := pool.Query(ctx, `SELECT DISTINCT a.datname FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
			WHERE s.ssl AND s.client_dn = '/CN=postgres' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var dbs []string
		for rows.Next() {
			var db string
			if err := rows.Scan(&db); err != nil {
				t.Fatal(err)
			}
			dbs = append(dbs, db)
		}
		for _, want := range []string{"catalog", "orders", "users"} {
			if !slices.Contains(dbs, want) {
				t.Errorf("databases with TLS connections: %v, want %s among them", dbs, want)
			}
		}
	})
	t.Run("the products cache and the gateway's rate limits are kept in the TLS Redis", func(t *testing.T) {
		opts, err := cache.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		for _, pattern := range []string{
			"rate:gateway:rl:*", // redis_rate's prefix, then the gateway's
			cachePrefix + "*",
		} {
			keys, _, err := rdb.Scan(ctx, 0, pattern, 1000).Result()
			if err != nil || len(keys) == 0 {
				t.Errorf("keys %s in the TLS Redis: %v, %v; want some", pattern, keys, err)
			}
		}
	})
	t.Run("the orders service consumes product events from the TLS broker", func(t *testing.T) {
		conn, err := amqp.Dial(amqpURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		eventually.True(t, "a consumer on orders.products", func() bool {
			ch, err := conn.Channel()
			if err != nil {
				t.Fatalf("channel: %v", err)
			}
			defer ch.Close()
			q, err := ch.QueueDeclarePassive("orders.products", true, false, false, false, nil)
			return err == nil && q.Consumers > 0
		})
	})
}

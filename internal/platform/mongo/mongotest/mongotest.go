// Package mongotest gives each test its own throwaway MongoDB database,
// dropped when the test ends.
//
// The server is MONGODB_URI when it is set. Otherwise it is one embedded
// FerretDB per test binary, started by the first test that asks for it on a
// fresh PostgreSQL database of the test server (TEST_POSTGRES_URL) and left
// running until the process exits, so tests do not each pay its start-up.
// A process cannot drop its own database as it exits, so each start first
// drops the databases of earlier test binaries whose processes are gone.
package mongotest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/marketplace-go/marketplace/internal/platform/mongo"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
)

// pgPrefix names the PostgreSQL databases of embedded test servers.
const pgPrefix = "mongotest_"

// shared is the process-wide connection every test database hangs off.
var shared struct {
	once sync.Once
	db   *mongo.DB
	uri  string
	err  error
}

// server connects to the test server on first use.
func server(tb testing.TB) (*mongo.DB, string) {
	tb.Helper()
	shared.once.Do(func() {
		cfg := mongo.Config{URI: os.Getenv("MONGODB_URI"), Database: "mongotest"}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if cfg.URI == "" {
			dropAbandoned(ctx)
			cfg.EmbeddedPostgresURL = pg.WithDatabase(pgtest.ServerURL(), fmt.Sprintf("%s%d_%s", pgPrefix, os.Getpid(), strings.ReplaceAll(uuid.NewString(), "-", "")[:12]))
		}
		shared.db, shared.err = mongo.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if shared.err == nil {
			shared.uri = cmp.Or(cfg.URI, shared.db.EmbeddedURI())
		}
	})
	if shared.err != nil {
		tb.Fatalf("mongotest: start test server: %v", shared.err)
	}
	return shared.db, shared.uri
}

// URI is the connection string of the test server, for tests that start a
// whole service with MONGODB_URI set to it.
func URI(tb testing.TB) string {
	tb.Helper()
	_, uri := server(tb)
	return uri
}

// Server is the test server's connection, for what the platform's DB does
// beside the driver (Tally, IndexEqualities).
func Server(tb testing.TB) *mongo.DB {
	tb.Helper()
	db, _ := server(tb)
	return db
}

// New returns a fresh, uniquely named database on the test server; it is
// dropped when the test ends.
func New(tb testing.TB) *mongodrv.Database {
	tb.Helper()
	db, _ := server(tb)
	return db.Client.Database(Name(tb))
}

// Name returns a database name no other test uses and drops that database
// on the test server when the test ends, for tests that start a whole
// service on URI and let it create its own database.
func Name(tb testing.TB) string {
	tb.Helper()
	db, _ := server(tb)
	name := "test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Client.Database(name).Drop(ctx); err != nil {
			tb.Errorf("mongotest: drop database %s: %v", name, err)
		}
	})
	return name
}

// dropAbandoned drops the embedded servers' databases that earlier test
// binaries left: those whose process, named in the database's name, is
// gone. Whether a database is in use cannot tell: a running binary's
// embedded server may hold no connection to its database for a moment,
// and dropping it then loses every test database on it.
func dropAbandoned(ctx context.Context) {
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		return // the start that follows reports the server
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", pgPrefix)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		if running(name) {
			continue
		}
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	}
}

// running reports whether the test binary that made the database name is
// still running, by /proc: tests run on the PostgreSQL server's host. A
// name without a process number is from before names had one, and is
// dropped unless in use.
func running(name string) bool {
	pid, _, ok := strings.Cut(strings.TrimPrefix(name, pgPrefix), "_")
	if !ok {
		return false
	}
	if _, err := strconv.Atoi(pid); err != nil {
		return false
	}
	_, err := os.Stat("/proc/" + pid)
	return err == nil
}

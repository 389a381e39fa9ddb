// Package pgtest gives each test its own throwaway PostgreSQL database,
// migrated and dropped when the test ends.
package pgtest

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/pg"
)

// ServerURL is the server tests use: TEST_POSTGRES_URL, or the local default.
func ServerURL() string {
	if u := os.Getenv("TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@localhost:5432/postgres?sslmode=disable"
}

// New creates a uniquely named database, applies migrations from fsys (nil
// for none) and returns its URL and a pool; both are removed at cleanup.
func New(tb testing.TB, migrations fs.FS) (string, *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	name := "test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
	u, err := url.Parse(ServerURL())
	if err != nil {
		tb.Fatalf("TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	pool, err := pg.Open(ctx, u.String())
	if err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() { pool.Close(); drop(tb, name) })
	if migrations != nil {
		if err := pg.Migrate(ctx, pool, migrations, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
			tb.Fatalf("migrate test database: %v", err)
		}
	}
	return u.String(), pool
}

func drop(tb testing.TB, name string) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		tb.Errorf("drop test database: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		tb.Errorf("drop test database: %v", err)
	}
}

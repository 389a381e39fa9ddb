package pg_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
)

// migrations is a small goose migration set: a table, then a column and a
// unique constraint on it.
var migrations = fstest.MapFS{
	"00001_create_items.sql": {Data: []byte(`-- +goose Up
CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);

-- +goose Down
DROP TABLE items;
`)},
	"00002_add_sku.sql": {Data: []byte(`-- +goose Up
ALTER TABLE items ADD COLUMN sku text;
ALTER TABLE items ADD CONSTRAINT items_sku_key UNIQUE (sku);

-- +goose Down
ALTER TABLE items DROP COLUMN sku;
`)},
}

// randomName returns a database or role name that no other test uses.
func randomName(prefix string) string {
	return prefix + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
}

// urlFor returns the test server's URL for database db as user (empty for
// the default user).
func urlFor(t *testing.T, user, db string) string {
	t.Helper()
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatalf("server url: %v", err)
	}
	if user != "" {
		u.User = url.User(user)
	}
	u.Path = "/" + db
	return u.String()
}

// admin runs sql on the maintenance database as the test superuser.
func admin(t *testing.T, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatalf("connect as admin: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// databaseExists reports whether the server has a database called name.
func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatalf("connect as admin: %v", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatalf("look up database %s: %v", name, err)
	}
	return exists
}

// dropDatabaseAtCleanup removes database name when the test ends.
func dropDatabaseAtCleanup(t *testing.T, name string) {
	t.Helper()
	t.Cleanup(func() { admin(t, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)") })
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestOpenCreatesAMissingDatabase(t *testing.T) {
	t.Parallel()
	name := randomName("test_open_")
	dropDatabaseAtCleanup(t, name)
	if databaseExists(t, name) {
		t.Fatalf("database %s exists before the test", name)
	}

	pool, err := pg.Open(t.Context(), urlFor(t, "", name))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(pool.Close)

	var current string
	if err := pool.QueryRow(t.Context(), "SELECT current_database()").Scan(&current); err != nil {
		t.Fatalf("query: %v", err)
	}
	if current != name {
		t.Errorf("connected to %q, want %q", current, name)
	}
	if !databaseExists(t, name) {
		t.Errorf("database %s was not created", name)
	}
}

func TestOpenUsesAnExistingDatabase(t *testing.T) {
	t.Parallel()
	dbURL, seed := pgtest.New(t, nil)
	if _, err := seed.Exec(t.Context(), "CREATE TABLE marker (n int); INSERT INTO marker VALUES (7)"); err != nil {
		t.Fatalf("seed: %v", err)
	}

	pool, err := pg.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("Open an existing database: %v", err)
	}
	t.Cleanup(pool.Close)
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT n FROM marker").Scan(&n); err != nil || n != 7 {
		t.Errorf("read back the existing data = %d, %v; want 7", n, err)
	}
}

func TestOpenTwiceAtOnceCreatesTheDatabaseOnce(t *testing.T) {
	t.Parallel()
	name := randomName("test_race_")
	dropDatabaseAtCleanup(t, name)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			pool, err := pg.Open(t.Context(), urlFor(t, "", name))
			if err == nil {
				pool.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
}

func TestOpenWithoutCreateDBSaysWhatToCreate(t *testing.T) {
	t.Parallel()
	role := randomName("test_nocreate_")
	db := randomName("test_missing_")
	admin(t, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN")
	t.Cleanup(func() { admin(t, "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize()) })
	dropDatabaseAtCleanup(t, db) // only in case the test fails by creating it

	pool, err := pg.Open(t.Context(), urlFor(t, role, db))
	if err == nil {
		pool.Close()
		t.Fatal("Open as a role without CREATEDB = nil, want an error")
	}
	msg := err.Error()
	for _, want := range []string{
		fmt.Sprintf("database %q does not exist", db),
		fmt.Sprintf("role %q may not create it", role),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, role),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if databaseExists(t, db) {
		t.Errorf("database %s was created by a role without CREATEDB", db)
	}
}

func TestOpenFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		want string
	}{
		{name: "a malformed URL", url: "postgres://%zz", want: "parse database url"},
		{name: "an unreachable server", url: "postgres://postgres@127.0.0.1:1/app?sslmode=disable&connect_timeout=2", want: `connect to database "app" at 127.0.0.1:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool, err := pg.Open(t.Context(), tt.url)
			if err == nil {
				pool.Close()
				t.Fatal("Open = nil, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// appliedVersions returns the goose versions recorded as applied.
func appliedVersions(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	rows, err := pool.Query(t.Context(), "SELECT version_id FROM goose_db_version WHERE is_applied AND version_id > 0 ORDER BY id")
	if err != nil {
		t.Fatalf("read goose versions: %v", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatalf("read goose versions: %v", err)
	}
	return versions
}

func TestMigrateAppliesMigrationsOnce(t *testing.T) {
	t.Parallel()
	_, pool := pgtest.New(t, nil)
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))

	if err := pg.Migrate(t.Context(), pool, migrations, log); err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if n := strings.Count(logs.String(), "migration applied"); n != 2 {
		t.Errorf("first run logged %d applied migrations, want 2:\n%s", n, logs.String())
	}
	if _, err := pool.Exec(t.Context(), "INSERT INTO items (name, sku) VALUES ('lamp', 'L-1')"); err != nil {
		t.Fatalf("the migrated schema does not take a row: %v", err)
	}

	logs.Reset()
	if err := pg.Migrate(t.Context(), pool, migrations, log); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if strings.Contains(logs.String(), "migration applied") {
		t.Errorf("second run applied migrations again:\n%s", logs.String())
	}
	if diff := cmp.Diff([]int64{1, 2}, appliedVersions(t, pool)); diff != "" {
		t.Errorf("applied versions mismatch (-want +got):\n%s", diff)
	}
}

func TestMigrateAppliesOnlyNewMigrations(t *testing.T) {
	t.Parallel()
	_, pool := pgtest.New(t, fstest.MapFS{"00001_create_items.sql": migrations["00001_create_items.sql"]})
	var logs strings.Builder
	if err := pg.Migrate(t.Context(), pool, migrations, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if n := strings.Count(logs.String(), "migration applied"); n != 1 || !strings.Contains(logs.String(), "00002_add_sku.sql") {
		t.Errorf("want only 00002 applied, logs:\n%s", logs.String())
	}
}

func TestMigrateConcurrentlyOnAFreshDatabase(t *testing.T) {
	t.Parallel()
	dbURL, _ := pgtest.New(t, nil)
	const instances = 4
	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i := range instances {
		// Each instance has its own pool, as separate processes would.
		pool, err := pg.Open(t.Context(), dbURL)
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(pool.Close)
		wg.Go(func() { errs[i] = pg.Migrate(t.Context(), pool, migrations, discard()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}

	pool, err := pg.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(pool.Close)
	if diff := cmp.Diff([]int64{1, 2}, appliedVersions(t, pool)); diff != "" {
		t.Errorf("applied versions mismatch (-want +got):\n%s", diff)
	}
}

func TestMigrateReportsAFailingMigration(t *testing.T) {
	t.Parallel()
	_, pool := pgtest.New(t, nil)
	bad := fstest.MapFS{"00001_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLE broken (;\n")}}
	err := pg.Migrate(t.Context(), pool, bad, discard())
	if err == nil || !strings.Contains(err.Error(), "apply migrations") {
		t.Errorf("Migrate = %v, want an apply migrations error", err)
	}
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()
	_, pool := pgtest.New(t, migrations)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, "INSERT INTO items (name, sku) VALUES ('lamp', 'L-1')"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	_, dup := pool.Exec(ctx, "INSERT INTO items (name, sku) VALUES ('other lamp', 'L-1')")
	_, notNull := pool.Exec(ctx, "INSERT INTO items (name) VALUES (NULL)")
	if dup == nil || notNull == nil {
		t.Fatalf("setup: duplicate = %v, not null = %v; want both to fail", dup, notNull)
	}

	tests := []struct {
		name       string
		err        error
		constraint string
		want       bool
	}{
		{name: "a duplicate on any constraint", err: dup, want: true},
		{name: "a duplicate on the named constraint", err: dup, constraint: "items_sku_key", want: true},
		{name: "a duplicate wrapped with context", err: fmt.Errorf("create item: %w", dup), constraint: "items_sku_key", want: true},
		{name: "a duplicate on another constraint", err: dup, constraint: "items_pkey", want: false},
		{name: "a not-null violation", err: notNull, want: false},
		{name: "an error that is not from PostgreSQL", err: errors.New("23505"), want: false},
		{name: "no error", err: nil, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := pg.IsUniqueViolation(tt.err, tt.constraint); got != tt.want {
				t.Errorf("IsUniqueViolation(%v, %q) = %v, want %v", tt.err, tt.constraint, got, tt.want)
			}
		})
	}
}

func TestOpenSizesThePoolFromTheURLOrElseTheDefault(t *testing.T) {
	t.Parallel()
	dbURL, _ := pgtest.New(t, nil)
	tests := []struct {
		name     string
		maxConns string // pool_max_conns in the URL; none when empty
		want     int32
	}{
		{"a URL without pool_max_conns gets the default", "", pg.DefaultMaxConns},
		{"a URL with pool_max_conns keeps its own", "3", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			if tc.maxConns != "" {
				q := u.Query()
				q.Set("pool_max_conns", tc.maxConns)
				u.RawQuery = q.Encode()
			}
			pool, err := pg.Open(t.Context(), u.String())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(pool.Close)
			if got := pool.Config().MaxConns; got != tc.want {
				t.Errorf("MaxConns = %d, want %d", got, tc.want)
			}
		})
	}
}

// Package pg opens PostgreSQL pools, creates a service's database when it is
// missing, and applies the service's embedded migrations.
package pg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// PostgreSQL error codes we act on.
const (
	codeInvalidCatalog    = "3D000"
	codeInsufficientPriv  = "42501"
	codeDuplicateDatabase = "42P04"
	codeUniqueViolation   = "23505"
	maintenanceDB         = "postgres"

	// DefaultMaxConns is a pool's size when its URL sets no
	// pool_max_conns. pgx's own default, one connection per CPU (at least
	// four), suits CPU-bound queries; ours mostly wait for their commit's
	// WAL flush, and only transactions that wait together share one flush
	// (group commit). With four, checkouts queued for a connection while
	// PostgreSQL idled between flushes (ADR 39).
	DefaultMaxConns = 8
)

// IsUniqueViolation reports whether err is a unique constraint violation,
// optionally on the named constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation &&
		(constraint == "" || pgErr.ConstraintName == constraint)
}

// WithTracer makes a span for each query, batch and transaction of a
// traced request (never one outside a trace: health pings and relay
// polls start none). A nil tp adds nothing.
func WithTracer(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// spans returns the pgx tracer making spans with tp, or nil.
func spans(tp trace.TracerProvider) pgx.QueryTracer {
	if tp == nil {
		return nil
	}
	return otelpgx.NewTracer(
		otelpgx.WithTracerProvider(tracing.ChildrenOnly(tp)),
		otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()),
		// Span names are the statement's first word (the default); the
		// SQL text goes in an attribute, never the parameters: those may
		// be personal data.
		otelpgx.WithDisableAcquireTracer(),
	)
}

// Open connects a pool to url and checks that the server answers. When the
// database does not exist it is created if the role may create databases;
// otherwise the error says exactly what an operator must create.
func Open(ctx context.Context, url string, opts ...Option) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if err := ensureDatabase(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// pgx takes one tracer: measurements and spans share it.
	var tracers []pgx.QueryTracer
	if m := observability.NewDatastoreMetrics(o.reg, "postgresql", o.name); m != nil {
		tracers = append(tracers, tracer{m})
	}
	if t := spans(o.tp); t != nil {
		tracers = append(tracers, t)
	}
	if len(tracers) > 0 {
		cfg.ConnConfig.Tracer = multitracer.New(tracers...)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", cfg.ConnConfig.Database, err)
	}
	if o.reg != nil {
		// A second pool of the same name in one process (a test) keeps
		// the first one's series.
		_ = o.reg.Register(newPoolCollector(pool, o.name))
	}
	return pool, nil
}

// EnsureDatabase creates the database url names when it does not exist, as
// Open does, for clients that open their own pools (the embedded FerretDB).
func EnsureDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	return ensureDatabase(ctx, cfg)
}

// DatabaseName is the database url names, for logs; "" if url is not valid.
func DatabaseName(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return ""
	}
	return cfg.Database
}

func ensureDatabase(ctx context.Context, cfg *pgx.ConnConfig) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != codeInvalidCatalog {
		return fmt.Errorf("connect to database %q at %s:%d: %w", cfg.Database, cfg.Host, cfg.Port, err)
	}
	return createDatabase(ctx, cfg)
}

func createDatabase(ctx context.Context, cfg *pgx.ConnConfig) error {
	admin := cfg.Copy()
	admin.Database = maintenanceDB
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("database %q does not exist and the maintenance database is unreachable: %w", cfg.Database, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	var pgErr *pgconn.PgError
	switch {
	case err == nil, errors.As(err, &pgErr) && pgErr.Code == codeDuplicateDatabase:
		return nil
	case IsUniqueViolation(err, "pg_database_datname_index"):
		// Another instance created it at the same moment.
		return nil
	case errors.As(err, &pgErr) && pgErr.Code == codeInsufficientPriv:
		return fmt.Errorf("database %q does not exist and role %q may not create it: run CREATE DATABASE %s OWNER %s as a superuser",
			cfg.Database, cfg.User, cfg.Database, cfg.User)
	default:
		return fmt.Errorf("create database %q: %w", cfg.Database, err)
	}
}

// Migrate applies every pending migration in fsys (goose SQL files at its
// root). A PostgreSQL advisory lock lets several instances start at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, log *slog.Logger) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "migration applied", "database", pool.Config().ConnConfig.Database, "migration", r.Source.Path)
	}
	return nil
}

// WithDatabase returns the PostgreSQL URL u pointing at database name, so
// that one server URL gives each service its own database.
func WithDatabase(u, name string) string {
	base, query, _ := strings.Cut(u, "?")
	if i := strings.LastIndex(base, "/"); i > len("postgres://") {
		base = base[:i]
	}
	if query != "" {
		return base + "/" + name + "?" + query
	}
	return base + "/" + name
}

// LazyCommit, returned by a statement that is its own transaction (in its
// RETURNING or select list), has that transaction commit without waiting
// for the WAL to reach the disk: synchronous_commit off for it alone, at
// no extra round trip (ADR 47). A server crash within the WAL writer's
// delay may lose such a write, so it is only for writes whose loss is
// safe; each use says why. Any synchronous commit on the server, such as
// the next order's, flushes it too.
const LazyCommit = `set_config('synchronous_commit', 'off', true)`

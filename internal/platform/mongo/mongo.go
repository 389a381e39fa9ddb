// Package mongo connects services to MongoDB through the official driver,
// starting an embedded FerretDB when no server is configured, so a local run
// needs nothing installed. The embedded FerretDB keeps its data in a
// database of the PostgreSQL server the platform needs anyway: on its
// PostgreSQL backend a find by _id takes about 1.4 ms and a conditional
// update 2.8 ms, against 6.8 ms and 46 ms on its SQLite backend.
//
// Code on top of this package must keep to what both MongoDB and FerretDB
// v1.24 do. What FerretDB v1 lacks, as tried against it
// (TestAggregationSupport and TestFerretDBDifferences pin these):
//
//   - no $text queries or text indexes: match title words with a
//     case-insensitive $regex;
//   - no multi-document transactions: one use case changes one document
//     atomically, so state that must change together (a product and its
//     pending events) lives in one document;
//   - aggregation stages: only $match, $group, $sort, $skip, $limit,
//     $project, $set/$addFields, $unset, $unwind (string form), $count and
//     $collStats. Not $facet, $bucket, $bucketAuto, $sortByCount, $lookup,
//     $graphLookup, $replaceRoot, $sample, $unionWith. $group accumulators:
//     only $sum and $count. Expressions: only $sum and $type (no $cond,
//     $switch, arithmetic, $toLower, $ifNull, $size), so no $expr in $match;
//     and a bare field path in $project/$set yields the literal string
//     "$field" instead of the field's value;
//   - update: no arrayFilters, no positional "$", no pipeline updates;
//     $push ignores $slice; $pull removes only elements equal to the whole
//     given value (a partial document or an operator condition silently
//     removes nothing); $pullAll works;
//   - indexes: createIndexes naming two or more indexes that all exist
//     already crashes the connection (hence EnsureIndexes); no TTL, partial,
//     wildcard, text or collation options, nor collation on queries; a
//     unique index ignores documents missing the field (as if sparse);
//   - the PostgreSQL backend hands PostgreSQL only equality conditions on
//     fields (top-level or dotted, {f: v} or {f: {$eq: v}}) with a string,
//     number, boolean or date value; $in, ranges, $or, $all and sorts are
//     applied in Go to every document the pushed-down conditions let
//     through. So a hot query must narrow by equality, and indexes matter
//     for MongoDB but hardly for FerretDB.
//
// Facet counts therefore need one $match+$group(+$sort) per facet, or one
// $unwind+$group over an array of "name=value" strings stored with each
// document; price buckets need one count per bucket or a $group on price
// folded into buckets in Go.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/pg"
)

// pingTimeout bounds the start-up and readiness checks.
const pingTimeout = 10 * time.Second

// embeddedMaxCommands is the most commands a client sends an embedded
// FerretDB at once: well under half its pool of 50 PostgreSQL connections.
const embeddedMaxCommands = 16

// startMu serializes ferretdb.New, which writes a package-level variable of
// FerretDB's, for processes (tests) that start several embedded servers.
var startMu sync.Mutex

// Config says which server to use.
type Config struct {
	// URI of a MongoDB server (MONGODB_URI); empty starts an embedded FerretDB.
	URI string
	// Database is the service's database name, such as "products".
	Database string
	// EmbeddedPostgresURL is the PostgreSQL database the embedded FerretDB
	// keeps its data in when URI is empty; it is created if missing. Each
	// MongoDB database is a schema there.
	EmbeddedPostgresURL string
	// Tracer makes a span of each command sent inside a trace; nil makes
	// none.
	Tracer trace.TracerProvider
}

// DB is an open connection to the service's database.
type DB struct {
	Client   *mongodrv.Client
	Database *mongodrv.Database

	embedded *embedded
}

// embedded is a running in-process FerretDB.
type embedded struct {
	uri   string
	pgURL string // its PostgreSQL database
	stop  context.CancelFunc
	done  chan struct{}
}

// Open connects to cfg.URI, or when it is empty starts an embedded FerretDB
// and connects to that, then checks that the server answers.
func Open(ctx context.Context, cfg Config, log *slog.Logger, opts ...Option) (*DB, error) {
	if cfg.Database == "" {
		return nil, errors.New("mongo: database name is empty")
	}
	db := &DB{}
	uri := cfg.URI
	if uri == "" {
		e, err := startEmbedded(ctx, cfg.EmbeddedPostgresURL, log)
		if err != nil {
			return nil, err
		}
		db.embedded, uri = e, e.uri
		log.InfoContext(ctx, "MONGODB_URI is unset: using embedded FerretDB on PostgreSQL", "database", pg.DatabaseName(cfg.EmbeddedPostgresURL), "uri", e.uri)
	}
	co := options.Client().ApplyURI(uri).SetServerSelectionTimeout(pingTimeout)
	if db.embedded != nil {
		// Each connection carries one command at a time, so this bounds
		// the embedded FerretDB's work: an update of it takes two of its
		// PostgreSQL connections at once (backendURL), and more updates in
		// flight than half its pool would deadlock it.
		co.SetMaxPoolSize(embeddedMaxCommands)
	}
	for _, opt := range opts {
		opt(co)
	}
	if m := newCommandMonitor(cfg.Tracer); m != nil {
		// The driver takes one command monitor: spans join the metrics'.
		co.SetMonitor(joinMonitors(co.Monitor, m))
	}
	client, err := mongodrv.Connect(co)
	if err != nil {
		_ = db.stopEmbedded(ctx)
		return nil, fmt.Errorf("mongo: connect: %w", err)
	}
	db.Client, db.Database = client, client.Database(cfg.Database)
	if err := db.Ping(ctx); err != nil {
		_ = db.Close(ctx)
		return nil, err
	}
	return db, nil
}

// startEmbedded runs FerretDB on its PostgreSQL backend, in the database
// at pgURL (created if missing), on a free loopback port. Of FerretDB's own
// logs only errors (such as a panic in a handler) reach log: it logs every
// failed command, a duplicate key included, at warning level with the whole
// message.
func startEmbedded(ctx context.Context, pgURL string, log *slog.Logger) (*embedded, error) {
	if pgURL == "" {
		return nil, errors.New("mongo: no MONGODB_URI and no PostgreSQL database for the embedded FerretDB")
	}
	if err := pg.EnsureDatabase(ctx, pgURL); err != nil {
		return nil, fmt.Errorf("mongo: embedded FerretDB: %w", err)
	}
	backend, err := backendURL(pgURL)
	if err != nil {
		return nil, err
	}
	startMu.Lock()
	defer startMu.Unlock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:        slog.New(minLevel{log.Handler().WithAttrs([]slog.Attr{slog.String("component", "ferretdb")}), slog.LevelError}),
		Handler:       "postgresql",
		PostgreSQLURL: backend,
	})
	if err != nil {
		return nil, fmt.Errorf("mongo: start embedded FerretDB: %w", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	e := &embedded{uri: f.MongoDBURI(), pgURL: pgURL, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		_ = f.Run(runCtx) // returns only after runCtx is cancelled
	}()
	return e, nil
}

// backendURL is the URL FerretDB connects to PostgreSQL with: pgURL, with
// two settings unless pgURL sets them itself.
//
// Custom plans: PostgreSQL plans each of FerretDB's statements for its own
// parameters. FerretDB prepares its statements with the field name as a
// parameter (`_jsonb->$1 @> $2`), and after five runs PostgreSQL may switch
// to a generic plan, in which `_jsonb->$1` matches no index expression: every
// find by _id became a sequential scan, 50 ms instead of 0.3 ms on 2,000
// products. Planning such a statement costs a few microseconds.
//
// Idle connections closed after a minute: FerretDB v1.24 means to set
// that itself but does so only when the URL already names the setting, so
// without it every connection a burst opened stays open for good. Its pool
// keeps FerretDB's own size (50): an update holds one connection for the
// query that finds the documents while it takes a second to write each,
// so a pool smaller than twice the updates in flight deadlocks (a pool of
// 8 did, under 16 writers and the relay).
func backendURL(pgURL string) (string, error) {
	u, err := url.Parse(pgURL)
	if err != nil {
		return "", fmt.Errorf("mongo: embedded FerretDB: PostgreSQL URL: %w", err)
	}
	q := u.Query()
	if !q.Has("plan_cache_mode") {
		q.Set("plan_cache_mode", "force_custom_plan")
	}
	if !q.Has("pool_max_conn_idle_time") {
		q.Set("pool_max_conn_idle_time", "1m")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Embedded reports whether the server is an in-process FerretDB.
func (db *DB) Embedded() bool { return db.embedded != nil }

// EmbeddedURI is the connection string of the in-process FerretDB, so that
// other clients (a test starting a whole service) can share it; it is empty
// when the server is external.
func (db *DB) EmbeddedURI() string {
	if db.embedded == nil {
		return ""
	}
	return db.embedded.uri
}

// Ping checks that the server answers within a few seconds; /readyz uses it.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := db.Client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("mongo: ping: %w", err)
	}
	return nil
}

// Close disconnects and, for an embedded server, stops it and waits until
// its listener and files are closed (or ctx ends).
func (db *DB) Close(ctx context.Context) error {
	var err error
	if db.Client != nil {
		if e := db.Client.Disconnect(ctx); e != nil && !errors.Is(e, mongodrv.ErrClientDisconnected) {
			err = fmt.Errorf("mongo: disconnect: %w", e)
		}
	}
	return errors.Join(err, db.stopEmbedded(ctx))
}

func (db *DB) stopEmbedded(ctx context.Context) error {
	if db.embedded == nil {
		return nil
	}
	db.embedded.stop()
	select {
	case <-db.embedded.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mongo: stop embedded FerretDB: %w", ctx.Err())
	}
}

// EnsureIndexes creates the indexes that do not exist yet; an index that
// exists with the same keys and options is left alone, so services call it
// at every start. It creates them one at a time because FerretDB 1.24 drops
// the connection (a server panic) when one createIndexes command names two
// or more indexes that all exist already.
func EnsureIndexes(ctx context.Context, c *mongodrv.Collection, models ...mongodrv.IndexModel) error {
	for _, m := range models {
		if _, err := c.Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("mongo: create index %v on %s: %w", m.Keys, c.Name(), err)
		}
	}
	return nil
}

// IndexEqualities lets the embedded FerretDB find documents by equality on
// fields without reading the whole collection; on a MongoDB server it does
// nothing (the collection's own indexes serve).
//
// FerretDB stores each document as one jsonb value and hands PostgreSQL an
// equality as containment, _jsonb->'field' @> value, which its own indexes
// (btree, on _jsonb->'field') cannot serve: every find by _id was a
// sequential scan, detoasting each row (18 ms with 2,000 products, against
// 0.25 ms with this index). So this adds, beside FerretDB's tables, a GIN
// index on each field's jsonb value, which serves containment. FerretDB
// does not know these indexes; PostgreSQL keeps them current.
//
// They keep no pending list (fastupdate off). FerretDB rewrites a whole
// document on every update, so each write adds an entry to every one of
// these indexes, and with a pending list every find through the index
// reads the whole list, up to 4 MB, until a vacuum merges it: after a bulk
// load, each of the relay's removals found its product through a list of
// the thousands of entries the previous removals had added.
func (db *DB) IndexEqualities(ctx context.Context, collection string, fields ...string) error {
	if db.embedded == nil {
		return nil
	}
	conn, err := pgx.Connect(ctx, db.embedded.pgURL)
	if err != nil {
		return fmt.Errorf("mongo: index equalities: %w", err)
	}
	defer conn.Close(ctx)
	schema := db.Database.Name()
	table, err := tableOf(ctx, conn, schema, collection)
	if err != nil {
		return fmt.Errorf("mongo: index equalities: %w", err)
	}
	for _, f := range fields {
		if !plainField.MatchString(f) {
			return fmt.Errorf("mongo: index equalities: field %q is not a plain (dotted) name", f)
		}
		// The expression must be FerretDB's own: -> for a top-level
		// field, #> with a path for a dotted one.
		expr := fmt.Sprintf("(_jsonb -> '%s')", f)
		if strings.Contains(f, ".") {
			expr = fmt.Sprintf("(_jsonb #> '{%s}')", strings.ReplaceAll(f, ".", ","))
		}
		name := table + "_" + strings.ReplaceAll(f, ".", "_") + "_eq"
		// The ALTER turns the pending list off on an index an earlier
		// version created with one.
		sql := fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s USING gin (%s) WITH (fastupdate = off); ALTER INDEX %s SET (fastupdate = off)",
			pgx.Identifier{name}.Sanitize(), pgx.Identifier{schema, table}.Sanitize(), expr, pgx.Identifier{schema, name}.Sanitize())
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("mongo: index %s.%s on %s: %w", schema, collection, f, err)
		}
	}
	return nil
}

// tableOf returns the PostgreSQL table in which the embedded FerretDB
// keeps the collection of database schema.
func tableOf(ctx context.Context, conn *pgx.Conn, schema, collection string) (string, error) {
	var table string
	err := conn.QueryRow(ctx, "SELECT _jsonb->>'table' FROM "+pgx.Identifier{schema, "_ferretdb_database_metadata"}.Sanitize()+
		" WHERE _jsonb->>'_id' = $1", collection).Scan(&table)
	if err != nil {
		return "", fmt.Errorf("the table of %s.%s: %w", schema, collection, err)
	}
	return table, nil
}

// Tally counts the documents of c and adds up their integer field (a
// top-level one; documents without it add nothing).
//
// On a MongoDB server that is a count and a $group (FerretDB v1, which an
// external server may be, counts {$sum: 1} as zero, hence two reads). On
// the embedded FerretDB it is one SQL statement on the collection's table:
// FerretDB v1 answers a $group by reading every document into the process
// and decoding it, which at 100,000 products took over 30 s of CPU and a
// gigabyte of memory, where PostgreSQL sums the field in about 0.1 s.
func (db *DB) Tally(ctx context.Context, c *mongodrv.Collection, field string) (count, sum int64, err error) {
	if db.embedded == nil {
		return tallyOnServer(ctx, c, field)
	}
	conn, err := pgx.Connect(ctx, db.embedded.pgURL)
	if err != nil {
		return 0, 0, fmt.Errorf("mongo: tally %s: %w", c.Name(), err)
	}
	defer conn.Close(ctx)
	schema := c.Database().Name()
	table, err := tableOf(ctx, conn, schema, c.Name())
	if errors.Is(err, pgx.ErrNoRows) || isUndefinedTable(err) {
		return 0, 0, nil // no such collection or database yet: nothing in it
	}
	if err != nil {
		return 0, 0, fmt.Errorf("mongo: tally: %w", err)
	}
	err = conn.QueryRow(ctx, "SELECT count(*), coalesce(sum((_jsonb->>$1)::bigint), 0) FROM "+pgx.Identifier{schema, table}.Sanitize(),
		field).Scan(&count, &sum)
	if err != nil {
		return 0, 0, fmt.Errorf("mongo: tally %s.%s: %w", schema, c.Name(), err)
	}
	return count, sum, nil
}

// tallyOnServer is Tally as a MongoDB server answers it.
func tallyOnServer(ctx context.Context, c *mongodrv.Collection, field string) (count, sum int64, err error) {
	count, err = c.CountDocuments(ctx, bson.M{})
	if err != nil {
		return 0, 0, fmt.Errorf("mongo: count %s: %w", c.Name(), err)
	}
	cur, err := c.Aggregate(ctx, mongodrv.Pipeline{
		{{Key: "$group", Value: bson.M{"_id": nil, "sum": bson.M{"$sum": "$" + field}}}},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("mongo: sum %s.%s: %w", c.Name(), field, err)
	}
	defer cur.Close(ctx)
	var row struct {
		Sum int64 `bson:"sum"`
	}
	if cur.Next(ctx) {
		if err := cur.Decode(&row); err != nil {
			return 0, 0, fmt.Errorf("mongo: sum %s.%s: %w", c.Name(), field, err)
		}
	}
	if err := cur.Err(); err != nil {
		return 0, 0, fmt.Errorf("mongo: sum %s.%s: %w", c.Name(), field, err)
	}
	return count, row.Sum, nil
}

// isUndefinedTable reports whether err is PostgreSQL's undefined_table,
// as a schema FerretDB has not made yet gives.
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// plainField is a field name IndexEqualities puts in SQL.
var plainField = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$`)

// IsDuplicateKey reports whether err is a unique index violation (code
// 11000), also when it is one of the errors of a bulk write.
func IsDuplicateKey(err error) bool {
	return err != nil && mongodrv.IsDuplicateKeyError(err)
}

// minLevel is a slog handler that drops records below a level, used to keep
// FerretDB's chatty info and debug logs out of ours.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

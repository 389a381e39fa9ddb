package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/mongo"
	"github.com/marketplace-go/marketplace/internal/platform/mongo/mongotest"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
)

// embeddedConfig is an embedded server's configuration on a throwaway
// PostgreSQL database, dropped at cleanup.
func embeddedConfig(t *testing.T) mongo.Config {
	t.Helper()
	u, pool := pgtest.New(t, nil)
	pool.Close() // FerretDB opens its own
	return mongo.Config{Database: "shop", EmbeddedPostgresURL: u}
}

// openEmbedded starts an embedded server on a throwaway database, logging
// at debug level into the returned buffer, and closes it at cleanup.
func openEmbedded(t *testing.T) (*mongo.DB, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := mongo.Open(context.Background(), embeddedConfig(t), log)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db, logs
}

type item struct {
	ID    string   `bson:"_id"`
	Title string   `bson:"title"`
	Stock int      `bson:"stock"`
	Tags  []string `bson:"tags,omitempty"`
	V     int      `bson:"v"`
}

func TestOpenEmbeddedLogsOneLineAndServesCRUD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, logs := openEmbedded(t)

	if !db.Embedded() || db.Database.Name() != "shop" {
		t.Fatalf("Embedded() = %v, database %q; want true, shop", db.Embedded(), db.Database.Name())
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	c := db.Database.Collection("items")
	if _, err := c.InsertOne(ctx, item{ID: "a", Title: "Lamp", Stock: 1}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	update := bson.D{{Key: "$inc", Value: bson.D{{Key: "stock", Value: 2}, {Key: "v", Value: 1}}},
		{Key: "$set", Value: bson.D{{Key: "title", Value: "Desk lamp"}}},
		{Key: "$push", Value: bson.D{{Key: "tags", Value: "light"}}}}
	res, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "v", Value: 0}}, update)
	if err != nil || res.ModifiedCount != 1 {
		t.Fatalf("UpdateOne = %+v, %v; want one modified", res, err)
	}
	// The same version check now matches nothing: optimistic concurrency.
	if res, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "v", Value: 0}}, update); err != nil || res.MatchedCount != 0 {
		t.Fatalf("stale UpdateOne = %+v, %v; want no match", res, err)
	}
	var got item
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil {
		t.Fatalf("FindOne: %v", err)
	}
	if diff := cmp.Diff(item{ID: "a", Title: "Desk lamp", Stock: 3, Tags: []string{"light"}, V: 1}, got); diff != "" {
		t.Errorf("document after update (-want +got):\n%s", diff)
	}

	lines := logs.Lines()
	if len(lines) != 1 || !strings.Contains(lines[0], "embedded FerretDB") || !strings.Contains(lines[0], "level=INFO") {
		t.Errorf("logs = %q; want exactly one info line about the embedded FerretDB", lines)
	}
}

func TestOpenUsesURIWhenSet(t *testing.T) {
	t.Parallel()
	logs := &logtest.Buffer{}
	db, err := mongo.Open(context.Background(), mongo.Config{URI: mongotest.URI(t), Database: mongotest.Name(t)}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if db.Embedded() || db.EmbeddedURI() != "" {
		t.Errorf("Embedded() = true with a URI set")
	}
	if err := db.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := logs.Lines(); len(got) != 0 {
		t.Errorf("logs = %q, want none", got)
	}
	// Closing a client leaves the shared server running for other tests.
	if err := mongotest.New(t).Client().Ping(context.Background(), nil); err != nil {
		t.Errorf("shared server after Close: %v", err)
	}
}

func TestOpenFailsWhenServerDoesNotAnswer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = mongo.Open(ctx, mongo.Config{URI: "mongodb://" + addr + "/", Database: "x"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "ping") {
		t.Errorf("Open = %v, want a ping error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v; want it bounded by the context", d)
	}
}

func TestOpenRejectsIncompleteConfig(t *testing.T) {
	for name, cfg := range map[string]mongo.Config{
		"no database":                           {URI: "mongodb://127.0.0.1:1/"},
		"no URI and no PostgreSQL database":     {Database: "x"},
		"a PostgreSQL server that is not there": {Database: "x", EmbeddedPostgresURL: "postgres://127.0.0.1:1/x?connect_timeout=1"},
	} {
		if _, err := mongo.Open(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s: Open succeeded, want an error", name)
		}
	}
}

func TestCloseStopsTheEmbeddedServer(t *testing.T) {
	t.Parallel()
	logs := &logtest.Buffer{}
	db, err := mongo.Open(context.Background(), embeddedConfig(t), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	u, err := url.Parse(db.EmbeddedURI())
	if err != nil || u.Host == "" {
		t.Fatalf("EmbeddedURI() = %q, %v", db.EmbeddedURI(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Close", u.Host)
	}
}

func TestIndexesAreIdempotentAndDuplicatesAreDetected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := mongotest.New(t).Collection("products")
	models := []mongodrv.IndexModel{
		{Keys: bson.D{{Key: "sku", Value: 1}}, Options: options.Index().SetUnique(true).SetName("sku_unique")},
		{Keys: bson.D{{Key: "category", Value: 1}, {Key: "price", Value: -1}, {Key: "_id", Value: -1}}},
		{Keys: bson.D{{Key: "attrs.colour", Value: 1}}},
	}
	for range 2 { // as at every service start
		if err := mongo.EnsureIndexes(ctx, c, models...); err != nil {
			t.Fatalf("EnsureIndexes: %v", err)
		}
	}
	specs, err := c.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatalf("ListSpecifications: %v", err)
	}
	if len(specs) != len(models)+1 { // and _id
		t.Errorf("got %d indexes, want %d", len(specs), len(models)+1)
	}

	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "sku", Value: "A-1"}}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	_, errSKU := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "sku", Value: "A-1"}})
	_, errID := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "sku", Value: "B-1"}})
	_, errBulk := c.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 3}}, bson.D{{Key: "_id", Value: 1}}})
	for name, err := range map[string]error{"unique index": errSKU, "_id": errID, "bulk insert": errBulk} {
		if !mongo.IsDuplicateKey(err) {
			t.Errorf("%s: IsDuplicateKey(%v) = false, want true", name, err)
		}
	}
	for _, err := range []error{nil, errors.New("E11000 lookalike"), mongodrv.ErrNoDocuments} {
		if mongo.IsDuplicateKey(err) {
			t.Errorf("IsDuplicateKey(%v) = true, want false", err)
		}
	}
}

func TestMongotestDatabasesAreIsolatedAndDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var first string
	t.Run("writer", func(t *testing.T) {
		db := mongotest.New(t)
		first = db.Name()
		if _, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "mine"}}); err != nil {
			t.Fatalf("InsertOne: %v", err)
		}
	})
	t.Run("reader", func(t *testing.T) {
		db := mongotest.New(t)
		if db.Name() == first {
			t.Fatalf("both tests got database %q", first)
		}
		n, err := db.Collection("c").CountDocuments(ctx, bson.D{})
		if err != nil || n != 0 {
			t.Errorf("CountDocuments = %d, %v; want 0 (another test's data)", n, err)
		}
		names, err := db.Client().ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			t.Fatalf("ListDatabaseNames: %v", err)
		}
		if slices.Contains(names, first) {
			t.Errorf("database %s of a finished test was not dropped", first)
		}
	})
}

// TestFindsByAnIndexedEqualityUseTheIndexUnderGenericPlans guards against
// PostgreSQL's generic plans. FerretDB prepares `_jsonb->$1 @> $2` with the
// field name as a parameter; a generic plan of it can use no index, and
// PostgreSQL picks one after five runs when the custom plan looks no
// cheaper (a freshly loaded table without statistics). The database's
// default is set to always plan generically here, so that the test does not
// depend on the planner's estimates.
func TestFindsByAnIndexedEqualityUseTheIndexUnderGenericPlans(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits up to 10 s for PostgreSQL's index statistics")
	}
	ctx := context.Background()
	cfg := embeddedConfig(t)
	conn, err := pgx.Connect(ctx, cfg.EmbeddedPostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	dbName := pgx.Identifier{conn.Config().Database}.Sanitize()
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+dbName+" SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	db, err := mongo.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close(ctx) })
	c := db.Database.Collection("items")
	docs := make([]any, 2000) // enough that a scan costs more than the index
	for i := range docs {
		docs[i] = item{ID: fmt.Sprintf("item-%04d", i), Title: strings.Repeat("lamp ", 200)}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatalf("InsertMany: %v", err)
	}
	if err := db.IndexEqualities(ctx, "items", "_id"); err != nil {
		t.Fatalf("IndexEqualities: %v", err)
	}
	const finds = 20
	for i := range finds {
		var got item
		if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("item-%04d", i)}}).Decode(&got); err != nil {
			t.Fatalf("FindOne: %v", err)
		}
	}
	// Backends report their statistics within ten seconds of going idle.
	eventually.NoError(t, fmt.Sprintf("the _id equality index scanned for each of %d finds by _id", finds), func() error {
		var scans int64
		err := conn.QueryRow(ctx, `SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE indexrelname LIKE '%\_id\_eq'`).Scan(&scans)
		if err != nil {
			t.Fatal(err)
		}
		if scans < finds {
			return fmt.Errorf("%d scans", scans)
		}
		return nil
	})
}

func TestEqualityIndexesKeepNoPendingListEvenWhenMadeBefore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := embeddedConfig(t)
	conn, err := pgx.Connect(ctx, cfg.EmbeddedPostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	db, err := mongo.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close(ctx) })
	if _, err := db.Database.Collection("items").InsertOne(ctx, item{ID: "item-1", Title: "lamp"}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	options := func() []string {
		t.Helper()
		var opts []string
		err := conn.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE relname LIKE '%\_id\_eq'`).Scan(&opts)
		if err != nil {
			t.Fatal(err)
		}
		return opts
	}
	// Each document write adds an entry to the index; with a pending list
	// every find through it would read all those added since the last
	// vacuum.
	if err := db.IndexEqualities(ctx, "items", "_id"); err != nil {
		t.Fatalf("IndexEqualities: %v", err)
	}
	if got := options(); !slices.Contains(got, "fastupdate=off") {
		t.Errorf("a new equality index's options: %v, want fastupdate=off", got)
	}
	// One an earlier version made with a pending list loses it.
	if _, err := conn.Exec(ctx, `DO $$ DECLARE i regclass; BEGIN
		SELECT c.oid INTO i FROM pg_class c WHERE c.relname LIKE '%\_id\_eq';
		EXECUTE format('ALTER INDEX %s SET (fastupdate = on)', i); END $$`); err != nil {
		t.Fatal(err)
	}
	if err := db.IndexEqualities(ctx, "items", "_id"); err != nil {
		t.Fatalf("IndexEqualities again: %v", err)
	}
	if got := options(); !slices.Contains(got, "fastupdate=off") {
		t.Errorf("an older equality index's options after IndexEqualities: %v, want fastupdate=off", got)
	}
}

func TestTallyCountsAndSumsAsTheDriversAggregationDoes(t *testing.T) {
	t.Parallel()
	db := mongotest.New(t)
	server := mongotest.Server(t)
	tests := []struct {
		name      string
		docs      []any
		wantCount int64
		wantSum   int64
	}{
		{"a collection that does not exist yet", nil, 0, 0},
		{"one document", []any{item{ID: "a", V: 7}}, 1, 7},
		{"many, one without the field", []any{item{ID: "a", V: 1}, item{ID: "b", V: 2}, bson.M{"_id": "c"}, item{ID: "d", V: 1 << 40}}, 4, 3 + 1<<40},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := db.Collection(fmt.Sprintf("tally%d", i))
			if len(tt.docs) > 0 {
				if _, err := c.InsertMany(t.Context(), tt.docs); err != nil {
					t.Fatal(err)
				}
			}
			n, sum, err := server.Tally(t.Context(), c, "v")
			if err != nil {
				t.Fatalf("Tally: %v", err)
			}
			if n != tt.wantCount || sum != tt.wantSum {
				t.Errorf("Tally = %d documents, sum %d; want %d, %d", n, sum, tt.wantCount, tt.wantSum)
			}
			n, sum, err = mongo.TallyOnServer(t.Context(), c, "v")
			if err != nil {
				t.Fatalf("the driver's tally: %v", err)
			}
			if n != tt.wantCount || sum != tt.wantSum {
				t.Errorf("the driver's tally = %d documents, sum %d; want %d, %d", n, sum, tt.wantCount, tt.wantSum)
			}
		})
	}
}

package mongo_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/mongo"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgclustertest"
)

// TestEveryErrorOfTheEmbeddedServerWhilePostgreSQLRestartsIsAnswered503
// restarts the PostgreSQL server under an embedded FerretDB (fast, then as
// a crash) while readers and writers keep calling it, and answers each
// error as the HTTP layer does. FerretDB passes PostgreSQL's failures on as
// text only; every one of them must be a 503 a client may retry, never a
// 500 (the fault suite found "connection refused" answered 500).
func TestEveryErrorOfTheEmbeddedServerWhilePostgreSQLRestartsIsAnswered503(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a PostgreSQL server of its own")
	}
	cluster := pgclustertest.Start(t)
	db, err := mongo.Open(t.Context(), mongo.Config{Database: "shop", EmbeddedPostgresURL: cluster.URL("restart")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	items := db.Database.Collection("items")
	for i := range 20 {
		if _, err := items.InsertOne(t.Context(), item{ID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}

	answers := &statusTally{byStatus: map[int]int{}, other: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	const workers = 6
	for w := range workers {
		wg.Go(func() {
			// Each worker its own calls, so that no two insert one _id.
			for i := w; ctx.Err() == nil; i += workers {
				if err := callOnce(ctx, items, i); err != nil && ctx.Err() == nil {
					answers.add(err)
				}
			}
		})
	}
	for _, mode := range []string{"fast", "immediate"} {
		if err := cluster.Restart(t.Context(), mode); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()

	if answers.byStatus[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("no call failed while the server restarted twice: the test proves nothing (%v)", answers.byStatus)
	}
	for _, text := range slices.Sorted(maps.Keys(answers.other)) {
		t.Errorf("%d× answered %s", answers.other[text], text)
	}
}

// callOnce is the i-th call of a worker: each kind of call the catalog
// makes in turn (a read by _id, an update, a filtered listing, a facet's
// $match + $group, a count, an upsert, an insert, an update of many).
func callOnce(ctx context.Context, items *mongodrv.Collection, i int) error {
	id := fmt.Sprint(i % 20)
	switch i % 8 {
	case 0:
		return items.FindOne(ctx, bson.M{"_id": id}).Err()
	case 1:
		_, err := items.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$inc": bson.M{"v": 1}})
		return err
	case 2:
		cur, err := items.Find(ctx, bson.M{"v": bson.M{"$gt": 1}})
		return drain(ctx, cur, err)
	case 3:
		cur, err := items.Aggregate(ctx, mongodrv.Pipeline{
			{{Key: "$match", Value: bson.M{"v": bson.M{"$gte": 0}}}},
			{{Key: "$group", Value: bson.M{"_id": "$stock", "n": bson.M{"$sum": 1}}}},
		})
		return drain(ctx, cur, err)
	case 4:
		_, err := items.CountDocuments(ctx, bson.M{"_id": id})
		return err
	case 5:
		_, err := items.ReplaceOne(ctx, bson.M{"_id": id}, item{ID: id, V: i}, options.Replace().SetUpsert(true))
		return err
	case 6:
		_, err := items.InsertOne(ctx, item{ID: fmt.Sprintf("new-%d", i)})
		return err
	default:
		_, err := items.UpdateMany(ctx, bson.M{"v": bson.M{"$gt": 1_000_000}}, bson.M{"$set": bson.M{"stock": 1}})
		return err
	}
}

// drain reads every document of a cursor that a call returned with err.
func drain(ctx context.Context, cur *mongodrv.Cursor, err error) error {
	if err != nil {
		return err
	}
	var out []bson.M
	return cur.All(ctx, &out)
}

// statusTally counts the statuses httpx.Error answers errors with, and
// keeps the text of every error not answered 503.
type statusTally struct {
	mu       sync.Mutex
	byStatus map[int]int
	other    map[string]int
}

func (s *statusTally) add(err error) {
	rec := httptest.NewRecorder()
	httpx.Error(rec, httptest.NewRequest(http.MethodGet, "/v1/products/1", nil), slog.New(slog.DiscardHandler), err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byStatus[rec.Code]++
	if rec.Code != http.StatusServiceUnavailable {
		s.other[fmt.Sprintf("%d: %v", rec.Code, err)]++
	}
}

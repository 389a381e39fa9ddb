package mongo_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/platform/mongo"
	"github.com/marketplace-go/marketplace/internal/platform/mongo/mongotest"
)

// codeNotImplemented is the server error FerretDB returns for a feature it
// lacks.
const codeNotImplemented = 238

// d builds a bson.D from alternating keys and values, to keep the pipelines
// below readable.
func d(kv ...any) bson.D {
	doc := make(bson.D, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		doc = append(doc, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return doc
}

// catalog fills a collection with a few products shaped like the products
// service's: nested attributes and a "name=value" facet array.
func catalog(t *testing.T) (*mongodrv.Collection, bool) {
	t.Helper()
	db := mongotest.New(t)
	c := db.Collection("products")
	_, err := c.InsertMany(context.Background(), []any{
		d("_id", 1, "cat", "shirts", "price", 100, "title", "Red Shirt", "attrs", d("colour", "red", "size", "M"), "facets", bson.A{"colour=red", "size=M"}),
		d("_id", 2, "cat", "shirts", "price", 250, "title", "Blue shirt", "attrs", d("colour", "blue", "size", "M"), "facets", bson.A{"colour=blue", "size=M"}),
		d("_id", 3, "cat", "lamps", "price", 999, "title", "Lamp", "attrs", d("watts", 60), "facets", bson.A{"watts=60"}),
		d("_id", 4, "cat", "lamps", "price", 5000, "title", "lamp XL", "attrs", d("colour", "red", "watts", 100), "facets", bson.A{"colour=red", "watts=100"}),
	})
	if err != nil {
		t.Fatalf("InsertMany: %v", err)
	}
	var info bson.M
	if err := db.RunCommand(context.Background(), d("buildInfo", 1)).Decode(&info); err != nil {
		t.Fatalf("buildInfo: %v", err)
	}
	_, ferret := info["ferretdbVersion"]
	return c, ferret
}

type count struct {
	ID any `bson:"_id"`
	N  int `bson:"n"`
}

// TestAggregationSupport pins which aggregation features the products
// service may use: the portable ones give the same answer on MongoDB and
// FerretDB; the others are rejected by FerretDB 1.24 as not implemented.
func TestAggregationSupport(t *testing.T) {
	ctx := context.Background()
	c, ferret := catalog(t)
	byCount := d("$sort", d("n", -1, "_id", 1))
	portable := []struct {
		name     string
		pipeline mongodrv.Pipeline
		want     []count
	}{
		{"facet of one attribute: $match, $group $sum, $sort", mongodrv.Pipeline{
			d("$match", d("price", d("$lt", 1000))),
			d("$group", d("_id", "$attrs.size", "n", d("$sum", 1))), byCount,
		}, []count{{"M", 2}, {nil, 1}}},
		{"all facets at once: $unwind a name=value array", mongodrv.Pipeline{
			d("$unwind", "$facets"), d("$group", d("_id", "$facets", "n", d("$sum", 1))), byCount,
		}, []count{{"colour=red", 2}, {"size=M", 2}, {"colour=blue", 1}, {"watts=100", 1}, {"watts=60", 1}}},
		{"$count accumulator and $regex match", mongodrv.Pipeline{
			d("$match", d("title", d("$regex", "shirt", "$options", "i"))),
			d("$group", d("_id", "$cat", "n", d("$count", d()))),
		}, []count{{"shirts", 2}}},
		{"$count stage", mongodrv.Pipeline{d("$match", d("attrs.watts", d("$gte", 50))), d("$count", "n")}, []count{{nil, 2}}},
		{"$sum of a field", mongodrv.Pipeline{d("$group", d("_id", "$cat", "n", d("$sum", "$price"))), d("$sort", d("_id", 1))},
			[]count{{"lamps", 5999}, {"shirts", 350}}},
		{"$sort, $skip, $limit, $project", mongodrv.Pipeline{
			d("$sort", d("price", -1)), d("$skip", 1), d("$limit", 2), d("$project", d("n", d("$sum", bson.A{"$price", 0}))),
		}, []count{{int32(3), 999}, {int32(2), 250}}},
	}
	for _, tt := range portable {
		cur, err := c.Aggregate(ctx, tt.pipeline)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var got []count
		if err := cur.All(ctx, &got); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if !ferret {
		return
	}
	missing := map[string]mongodrv.Pipeline{
		"$facet":          {d("$facet", d("total", bson.A{d("$count", "n")}))},
		"$bucket":         {d("$bucket", d("groupBy", "$price", "boundaries", bson.A{0, 500, 10000}))},
		"$bucketAuto":     {d("$bucketAuto", d("groupBy", "$price", "buckets", 2))},
		"$sortByCount":    {d("$sortByCount", "$cat")},
		"$lookup":         {d("$lookup", d("from", "x", "localField", "cat", "foreignField", "_id", "as", "c"))},
		"$graphLookup":    {d("$graphLookup", d("from", "x", "startWith", "$cat", "connectFromField", "_id", "connectToField", "_id", "as", "g"))},
		"$replaceRoot":    {d("$replaceRoot", d("newRoot", "$attrs"))},
		"$sample":         {d("$sample", d("size", 1))},
		"$group $min":     {d("$group", d("_id", nil, "m", d("$min", "$price")))},
		"$group $max":     {d("$group", d("_id", nil, "m", d("$max", "$price")))},
		"$group $avg":     {d("$group", d("_id", nil, "m", d("$avg", "$price")))},
		"$group $push":    {d("$group", d("_id", nil, "m", d("$push", "$price")))},
		"$group $first":   {d("$group", d("_id", nil, "m", d("$first", "$price")))},
		"$cond":           {d("$project", d("m", d("$cond", bson.A{true, 1, 0})))},
		"$divide":         {d("$project", d("m", d("$divide", bson.A{"$price", 100})))},
		"$toLower":        {d("$project", d("m", d("$toLower", "$title")))},
		"$expr":           {d("$match", d("$expr", d("$gt", bson.A{"$price", 500})))},
		"$unwind options": {d("$unwind", d("path", "$facets", "preserveNullAndEmptyArrays", true))},
	}
	for name, p := range missing {
		_, err := c.Aggregate(ctx, p)
		if se, ok := err.(mongodrv.ServerError); !ok || !se.HasErrorCode(codeNotImplemented) {
			t.Errorf("%s: err = %v, want NotImplemented: FerretDB gained it, update the package comment", name, err)
		}
	}
}

// TestFerretDBDifferences pins FerretDB 1.24 behaviours that differ from
// MongoDB without an error, so that code avoiding them knows why; it runs
// only against FerretDB.
func TestFerretDBDifferences(t *testing.T) {
	ctx := context.Background()
	c, ferret := catalog(t)
	if !ferret {
		t.Skip("server is not FerretDB")
	}
	first := d("_id", 1)
	var got bson.M
	update := func(u any) {
		t.Helper()
		if _, err := c.UpdateOne(ctx, first, u); err != nil {
			t.Fatalf("UpdateOne(%v): %v", u, err)
		}
		got = bson.M{}
		if err := c.FindOne(ctx, first).Decode(&got); err != nil {
			t.Fatalf("FindOne: %v", err)
		}
	}
	update(d("$push", d("pending", d("$each", bson.A{d("id", "e1", "v", 1), d("id", "e2", "v", 2)}, "$slice", -1))))
	if n := len(got["pending"].(bson.A)); n != 2 {
		t.Errorf("$push with $slice kept %d elements; FerretDB used to ignore $slice", n)
	}
	update(d("$pull", d("pending", d("id", "e1"))))
	if n := len(got["pending"].(bson.A)); n != 2 {
		t.Errorf("$pull by a partial document removed something (%d left); FerretDB used to match whole elements only", n)
	}
	update(d("$pull", d("pending", d("id", "e1", "v", 1))))
	if n := len(got["pending"].(bson.A)); n != 1 {
		t.Errorf("$pull by the whole element left %d, want 1", n)
	}

	cur, err := c.Aggregate(ctx, mongodrv.Pipeline{d("$match", first), d("$project", d("p", "$price"))})
	var docs []bson.M
	if err == nil {
		err = cur.All(ctx, &docs)
	}
	if err != nil || len(docs) != 1 || docs[0]["p"] != "$price" {
		t.Errorf("$project of a bare field path = %v, %v; FerretDB used to return the literal \"$price\"", docs, err)
	}

	u := c.Database().Collection("unique")
	if err := mongo.EnsureIndexes(ctx, u, mongodrv.IndexModel{Keys: d("sku", 1), Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	_, err1 := u.InsertOne(ctx, d("_id", 1))
	_, err2 := u.InsertOne(ctx, d("_id", 2))
	if err1 != nil || err2 != nil {
		t.Errorf("two documents without the unique field: %v, %v; FerretDB used to accept both (MongoDB does not)", err1, err2)
	}

	// Several existing indexes in one createIndexes command.
	models := []mongodrv.IndexModel{{Keys: d("a", 1)}, {Keys: d("b", 1)}}
	if _, err := u.Indexes().CreateMany(ctx, models); err != nil {
		t.Fatalf("first CreateMany: %v", err)
	}
	if _, err := u.Indexes().CreateMany(ctx, models); err == nil {
		t.Errorf("second CreateMany succeeded; FerretDB used to drop the connection, EnsureIndexes may go back to CreateMany")
	}

	err = c.Database().Client().UseSession(ctx, func(sc context.Context) error {
		_, err := mongodrv.SessionFromContext(sc).WithTransaction(sc, func(ctx context.Context) (any, error) {
			return c.InsertOne(ctx, d("_id", 99))
		})
		return err
	})
	if err == nil {
		t.Errorf("a multi-document transaction succeeded; FerretDB v1 has none")
	}
}

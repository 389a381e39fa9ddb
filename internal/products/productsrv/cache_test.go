package productsrv_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/proxytest"
	"github.com/marketplace-go/marketplace/internal/products"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
)

// changeBehindTheService rewrites a product's title in the database
// without telling the cache, so that a read showing the old title proves
// it came from the cache.
func (e *testEnv) changeBehindTheService(t *testing.T, id, title string) {
	t.Helper()
	ctx := context.Background()
	p, err := e.Products.Store.Product(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	p.Title, p.Version = title, p.Version+1
	ev := products.PendingEvent{ID: uuid.NewString(), Type: contracts.ProductUpdated, Version: 1, Subject: id, Seq: p.Version,
		Time: time.Now().UTC(), Data: json.RawMessage(`{}`)}
	if err := e.Products.Store.ReplaceProduct(ctx, p, ev); err != nil {
		t.Fatal(err)
	}
	e.Products.Relay.Notify() // as the service's own writes do
}

// The cache tests are not parallel: the cache gives up on a Redis call
// after 100ms, and CPU starved by other tests' FerretDB work would make
// reads bypass the cache and writes miss invalidations at random.

// settle waits until every instance's relay has removed the events it
// published. Two instances over one embedded FerretDB are outside what
// it supports (its conditional updates are not atomic across stores, so
// a relay's removal could undo another instance's write); the tests that
// run two instances keep one writer at a time to stay inside it.
func settle(t *testing.T, e *testEnv) {
	t.Helper()
	waitNonePending(t, e.Products.Store)
}

// TestTwoInstancesSeeEachOthersWrites checks that a write on one instance
// invalidates what another has cached: product details and the category
// tree.
func TestTwoInstancesSeeEachOthersWrites(t *testing.T) {
	cfg, issuer := testConfig(t)
	// Each relay publishes only when its own instance writes, never on a
	// poll: a poll of one could otherwise remove the event the other is
	// removing, and FerretDB's removal could undo the write (see settle).
	cfg.RelayInterval = time.Hour
	a, b := startEnv(t, cfg, issuer), startEnv(t, cfg, issuer)
	a.mustCategory(t, "shared", "", "colour")
	seller := a.seller(t)
	p := a.mustCreate(t, seller, productOf("shared", map[string]any{"title": "Shared lamp", "attributes": map[string]any{"colour": "red"}}))
	settle(t, a)

	// Warm b's view, twice: the second reads are cache hits.
	hits := b.cacheCount(t, "hits")
	for range 2 {
		b.mustGet(t, anonymous, p.ID)
		b.facetsOf(t, "shared")
	}
	if got := b.cacheCount(t, "hits"); got < hits+2 {
		t.Errorf("cache hits went from %v to %v over two repeated reads, want at least 2 more", hits, got)
	}
	b.changeBehindTheService(t, p.ID, "Changed behind the cache")
	settle(t, b)
	if got := b.mustGet(t, anonymous, p.ID); got.Title != "Shared lamp" {
		t.Fatalf("detail %q, want the cached %q: the read did not come from the cache", got.Title, "Shared lamp")
	}

	t.Run("an update on a is the next read on b", func(t *testing.T) {
		a.mustPatch(t, seller, p.ID, 2, map[string]any{"title": "Updated lamp", "price": price(2999, "EUR"), "attributes": map[string]any{"colour": "blue"}})
		settle(t, a)
		got := b.mustGet(t, anonymous, p.ID)
		if got.Title != "Updated lamp" || got.Version != 3 || got.Price.Amount != 2999 {
			t.Errorf("b reads %+v, want a's update at version 3", got)
		}
	})
	t.Run("a product archived on a is gone on b", func(t *testing.T) {
		a.mustArchive(t, seller, p.ID, 3)
		settle(t, a)
		b.do(t, anonymous, "GET", "/v1/products/"+p.ID, nil).wantProblem(t, http.StatusNotFound, "product_not_found")
		if got := b.mustGet(t, seller, p.ID); got.Status != "archived" {
			t.Errorf("its seller reads status %q on b", got.Status)
		}
	})
	t.Run("a category changed on a is seen on b", func(t *testing.T) {
		a.do(t, a.admin(t), "PUT", "/v1/categories/shared", map[string]any{"name": "Shared", "facets": []string{"colour", "watts"}}).
			want(t, http.StatusOK)
		if got := b.facetsOf(t, "shared"); !slices.Equal(got, []string{"colour", "watts"}) {
			t.Errorf("b's category has facets %v after a added watts", got)
		}
	})
}

// TestReadsAndWritesSurviveARedisOutage runs alone, as do the others here
// that count cache hits: a Redis call that takes over the cache's 100 ms
// (a machine busy with parallel tests) bypasses the cache for a second.
func TestReadsAndWritesSurviveARedisOutage(t *testing.T) {
	redis := proxytest.NewProxy(t, cachetest.Addr())
	e := newEnv(t, func(c *productsrv.Config) { c.RedisURL = "redis://" + redis.Addr() + "/0" })
	e.mustCategory(t, "outage", "", "colour")
	seller := e.seller(t)
	p := e.mustCreate(t, seller, productOf("outage", map[string]any{"title": "Before", "attributes": map[string]any{"colour": "red"}}))
	gone := e.mustCreate(t, seller, productOf("outage", map[string]any{"title": "Doomed"}))
	for range 2 { // cached before the outage
		e.mustGet(t, anonymous, p.ID)
		e.mustGet(t, anonymous, gone.ID)
		e.facetsOf(t, "outage")
	}
	if e.cacheCount(t, "hits") == 0 {
		t.Fatal("no cache hits before the outage")
	}

	// check reads everything written so far, as it must be.
	var added []string
	check := func(t *testing.T, wantTitle string, wantVersion int64) {
		t.Helper()
		if got := e.mustGet(t, anonymous, p.ID); got.Title != wantTitle || got.Version != wantVersion {
			t.Errorf("detail %q at version %d, want %q at %d", got.Title, got.Version, wantTitle, wantVersion)
		}
		e.do(t, anonymous, "GET", "/v1/products/"+gone.ID, nil).wantProblem(t, http.StatusNotFound, "product_not_found")
		for _, id := range added {
			e.mustGet(t, anonymous, id)
		}
	}

	redis.Stop()
	t.Run("while redis is down every read and write succeeds", func(t *testing.T) {
		if got := e.mustGet(t, anonymous, p.ID); got.Title != "Before" {
			t.Errorf("detail %q", got.Title)
		}
		e.mustPatch(t, seller, p.ID, 1, map[string]any{"title": "During"})
		e.mustArchive(t, seller, gone.ID, 1)
		q := e.mustCreate(t, seller, productOf("outage", map[string]any{"title": "Added during"}))
		added = append(added, q.ID)
		e.mustGet(t, anonymous, q.ID)
		e.do(t, e.admin(t), "PUT", "/v1/categories/outage", map[string]any{"name": "Outage", "facets": []string{"colour", "size"}}).
			want(t, http.StatusOK)
		check(t, "During", 2)
		if got := e.facetsOf(t, "outage"); !slices.Contains(got, "size") {
			t.Errorf("the category has facets %v after size was added", got)
		}
		if e.cacheCount(t, "errors") == 0 {
			t.Error("no cache errors counted: was redis down at all?")
		}
	})
	redis.Start(t)
	t.Run("after redis is back reads show every write made without it", func(t *testing.T) {
		check(t, "During", 2)
		if got := e.facetsOf(t, "outage"); !slices.Contains(got, "size") {
			t.Errorf("the category lost the size facet added during the outage: %v", got)
		}
	})
	t.Run("after redis is back caching resumes", func(t *testing.T) {
		hits := e.cacheCount(t, "hits")
		eventually.True(t, "a cache hit once redis is back", func() bool {
			check(t, "During", 2)
			return e.cacheCount(t, "hits") > hits
		})
		e.mustPatch(t, seller, p.ID, 2, map[string]any{"title": "After"})
		check(t, "After", 3)
	})
}

func TestWithACacheTTLOfZeroEveryReadComesFromTheStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *productsrv.Config) { c.CacheTTL = 0 })
	e.mustCategory(t, "uncached", "")
	seller := e.seller(t)
	p := e.mustCreate(t, seller, productOf("uncached", map[string]any{"title": "Plain lamp"}))
	e.mustGet(t, seller, p.ID) // would fill the cache, if there were one
	e.changeBehindTheService(t, p.ID, "Changed behind the cache")
	if got := e.mustGet(t, seller, p.ID); got.Title != "Changed behind the cache" {
		t.Errorf("title %q after a change the cache was not told of, want the store's", got.Title)
	}
}

func TestAnInstanceThatCachesNothingReadsNoEntryAnotherStored(t *testing.T) {
	t.Parallel()
	cfg, issuer := testConfig(t)
	// One writer at a time (see settle): a poll of the other instance's
	// relay could otherwise write back the product as it was before the
	// change below, and the read would see the old title from the store.
	cfg.RelayInterval = time.Hour
	cached := startEnv(t, cfg, issuer)
	cfg.CacheTTL = 0
	uncached := startEnv(t, cfg, issuer)
	cached.mustCategory(t, "shared-cache", "")
	seller := cached.seller(t)
	p := cached.mustCreate(t, seller, productOf("shared-cache", map[string]any{"title": "Brass lamp"}))
	settle(t, cached)
	cached.mustGet(t, seller, p.ID) // stores the entry both instances' keys name
	cached.changeBehindTheService(t, p.ID, "Changed behind the cache")
	if got := uncached.mustGet(t, seller, p.ID); got.Title != "Changed behind the cache" {
		t.Errorf("title %q from the instance that caches nothing, want the store's", got.Title)
	}
}

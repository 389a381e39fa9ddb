package productsrv_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/products"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
)

// BenchmarkRelayAfterBulkSeed measures the catalog's event relay after a
// bulk load, the case `marketplace seed` makes: benchCatalogSize products
// are created while the broker is unreachable, so every creation event
// waits in its document; then an instance that reaches the broker starts,
// and its relay publishes them all. Meanwhile a seller edits products one
// after another (through the service, as the PATCH handler does), and the
// edits' latency is reported beside the relay's rate: a backlog must not
// make writes slow.
//
// Reported: events/s (the backlog over the time from the instance's start
// to the last confirm) and patch-p50-ms, patch-p99-ms.
func BenchmarkRelayAfterBulkSeed(b *testing.B) {
	for range b.N {
		offline := newBenchEnv(b, func(c *productsrv.Config) { c.Events.URL = eventstest.DeadURL(b) })
		ids := offline.seed(b, benchCatalogSize)
		owners := make([]auth.Claims, len(ids))
		for i, id := range ids {
			p, err := offline.products.Store.Product(context.Background(), id)
			if err != nil {
				b.Fatal(err)
			}
			owners[i] = auth.Claims{UserID: p.SellerID, Roles: []string{auth.RoleSeller}}
		}
		offline.stop() // its events stay in their documents

		start := time.Now()
		live := newBenchEnv(b, func(c *productsrv.Config) { c.Mongo = offline.cfg.Mongo })
		stop := make(chan struct{})
		var (
			latencies []time.Duration
			patches   atomic.Int64 // each leaves one more event to publish
			wg        sync.WaitGroup
		)
		wg.Go(func() { latencies = patchUntil(b, live.products.Service, ids, owners, &patches, stop) })
		for live.counter("events_published_total") < float64(int64(len(ids))+patches.Load()) {
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("%v events published after 5 minutes, want %d", live.counter("events_published_total"), len(ids))
			}
			time.Sleep(10 * time.Millisecond)
		}
		elapsed := time.Since(start)
		close(stop) // the patches made since are not waited for
		wg.Wait()
		b.ReportMetric(float64(len(ids))/elapsed.Seconds(), "events/s")
		b.ReportMetric(ms(percentile(latencies, 0.50)), "patch-p50-ms")
		b.ReportMetric(ms(percentile(latencies, 0.99)), "patch-p99-ms")
		b.Logf("%d events in %v; %d patches meanwhile", len(ids), elapsed.Round(time.Millisecond), len(latencies))
	}
}

// patchUntil edits products in turn until stop closes and returns each
// edit's latency.
func patchUntil(b *testing.B, svc *products.Service, ids []string, owners []auth.Claims, n *atomic.Int64, stop <-chan struct{}) []time.Duration {
	var out []time.Duration
	for i := 0; ; i++ {
		select {
		case <-stop:
			return out
		default:
		}
		k := (i * 7919) % len(ids) // spread over the catalog
		p, err := svc.Get(context.Background(), &owners[k], ids[k])
		if err != nil {
			b.Error(err)
			return out
		}
		title := p.Title + "!"
		t0 := time.Now()
		if _, err := svc.Update(context.Background(), owners[k], ids[k], p.Version, products.Patch{Title: &title}); err != nil {
			b.Error(err)
			return out
		}
		out = append(out, time.Since(t0))
		n.Add(1)
	}
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

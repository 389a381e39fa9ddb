package productsrv_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/observability/cputime"
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
// to the last confirm) and patch-p50-ms, patch-p99-ms; and, since on a
// shared machine the rate measures the neighbours as much as the relay, the
// CPU time used over the same window per relayed event, by this process
// (the service and its embedded FerretDB: proc-cpu-us/event) and by the
// PostgreSQL backends of the catalog's database (pg-cpu-us/event).
func BenchmarkRelayAfterBulkSeed(b *testing.B) {
	for range b.N {
		offline := newBenchEnv(b, func(c *productsrv.Config) { c.Events.URL = eventstest.DeadURL(b) })
		ids := offline.seed(b, relayBacklog(b))
		owners := make([]auth.Claims, len(ids))
		for i, id := range ids {
			p, err := offline.products.Store.Product(context.Background(), id)
			if err != nil {
				b.Fatal(err)
			}
			owners[i] = auth.Claims{UserID: p.SellerID, Roles: []string{auth.RoleSeller}}
		}
		offline.stop() // its events stay in their documents

		start, cpu0 := time.Now(), cputime.Process()
		live := newBenchEnv(b, func(c *productsrv.Config) { c.Mongo = offline.cfg.Mongo })
		stop := make(chan struct{})
		var (
			latencies []time.Duration
			patches   atomic.Int64 // each leaves one more event to publish
			wg        sync.WaitGroup
		)
		wg.Go(func() { latencies = patchUntil(b, live.products.Service, ids, owners, &patches, stop) })
		for live.counter("events_published_total") < float64(int64(len(ids))+patches.Load()) {
			if limit := max(5*time.Minute, time.Duration(len(ids))*50*time.Millisecond); time.Since(start) > limit {
				b.Fatalf("%v events published after %v, want %d", live.counter("events_published_total"), limit, len(ids))
			}
			time.Sleep(10 * time.Millisecond)
		}
		elapsed, cpu := time.Since(start), cputime.Process()-cpu0
		// Every backend of the catalog's database was opened since start.
		pgCPU := catalogBackendsCPU(b, offline.cfg.Mongo.EmbeddedPostgresURL)
		close(stop) // the patches made since are not waited for
		wg.Wait()
		b.ReportMetric(float64(len(ids))/elapsed.Seconds(), "events/s")
		b.ReportMetric(ms(percentile(latencies, 0.50)), "patch-p50-ms")
		b.ReportMetric(ms(percentile(latencies, 0.99)), "patch-p99-ms")
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(ids)), "proc-cpu-us/event")
		b.ReportMetric(float64(pgCPU.Microseconds())/float64(len(ids)), "pg-cpu-us/event")
		b.Logf("%d events in %v; %d patches meanwhile", len(ids), elapsed.Round(time.Millisecond), len(latencies))
	}
}

// relayBacklog is how many products the relay benchmark seeds:
// BENCH_RELAY_PRODUCTS, or benchCatalogSize. A larger backlog shows costs
// that grow faster than it does (a relay that read the whole backlog for
// each batch was quadratic, and 2,000 products hid most of it).
func relayBacklog(b *testing.B) int {
	b.Helper()
	v := os.Getenv("BENCH_RELAY_PRODUCTS")
	if v == "" {
		return benchCatalogSize
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("BENCH_RELAY_PRODUCTS=%q: want a positive number of products", v)
	}
	return n
}

// catalogBackendsCPU is the CPU time used by the PostgreSQL backends that
// serve the database of url (the embedded FerretDB's connections), this
// query's own excepted.
func catalogBackendsCPU(b *testing.B, url string) time.Duration {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	ints := make([]int, len(pids))
	for i, pid := range pids {
		ints[i] = int(pid)
	}
	return cputime.Processes(ints...)
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

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/search/searchsrv"
)

// BenchmarkSearchIndexLag measures how long a write through the products
// service takes to become searchable while writes arrive at a steady rate
// (SEARCH_LAG_RATE per second, 100 by default, for SEARCH_LAG_SECONDS, 10
// by default): half new products, half price changes of earlier ones,
// from 16 sellers, to a search service with SEARCH_CONSUMERS consumers (8,
// its default, unless set). A write's lag runs from its answer (lag-*:
// the index's lag proper) or from sending it (sent-*: the write's own time
// too) to the search index holding its version (the index records a
// version once its batch is searchable), polled every 2 ms. It reports
// the p50, p99 and maximum, and the rate achieved. The whole path is
// real: products service, outbox relay, RabbitMQ, the search service's
// consumers and writer.
//
//	go test ./cmd/marketplace -run '^$' -bench SearchIndexLag -benchtime 1x
func BenchmarkSearchIndexLag(b *testing.B) {
	rate, seconds := envInt(b, "SEARCH_LAG_RATE", 100), envInt(b, "SEARCH_LAG_SECONDS", 10)
	consumers := envInt(b, "SEARCH_CONSUMERS", 8) // the service's default
	c := newCatalogPair(b, func(cfg *searchsrv.Config) { cfg.Consumers = consumers })
	c.startSearch(b)
	const workers = 16 // enough that slow writes do not hold the rate back
	type pending struct {
		id             string
		version        int64
		sent, answered time.Time
	}
	var (
		mu      sync.Mutex
		waiting []pending
		lags    []time.Duration // from sending the write
		after   []time.Duration // from its answer: the index's own lag
	)
	ticks := make(chan struct{}, rate*seconds)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 100))
			seller := c.seller(b, w)
			var own []wrote
			for range ticks {
				sent := time.Now()
				create := len(own) == 0 || r.IntN(2) == 0
				i := len(own)
				var p wrote
				var err error
				if create {
					p, _, err = c.randomWrite(r, seller, nil)
				} else {
					i = r.IntN(len(own))
					res, rerr := c.products.Request(seller, "PATCH", "/v1/products/"+own[i].id(),
						map[string]any{"price": map[string]any{"amount": 1000 + r.IntN(9000), "currency": "EUR"}},
						"If-Match", fmt.Sprintf(`"%d"`, own[i].version()))
					p, _, err = decodeWrote(res, rerr, i)
				}
				if err != nil {
					b.Errorf("write: %v", err)
					return
				}
				if create {
					own = append(own, p)
				} else {
					own[i] = p
				}
				mu.Lock()
				waiting = append(waiting, pending{p.id(), p.version(), sent, time.Now()})
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			now := time.Now()
			mu.Lock()
			waiting = slices.DeleteFunc(waiting, func(p pending) bool {
				v, ok := c.svc.Index.Version(p.id)
				if ok && v >= p.version {
					lags, after = append(lags, now.Sub(p.sent)), append(after, now.Sub(p.answered))
				}
				return ok && v >= p.version
			})
			mu.Unlock()
		}
	}()
	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for range rate * seconds {
		<-tick.C
		ticks <- struct{}{}
	}
	tick.Stop()
	close(ticks)
	wg.Wait()
	elapsed := time.Since(start)
	eventually.True(b, "every write is searchable", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(waiting) == 0
	}, eventually.Within(time.Minute))
	close(done)
	<-polled
	b.StopTimer()
	slices.Sort(lags)
	slices.Sort(after)
	at := func(d []time.Duration, p float64) float64 {
		return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(at(lags, 0.5), "sent-p50-ms")
	b.ReportMetric(at(lags, 0.99), "sent-p99-ms")
	b.ReportMetric(at(after, 0.5), "lag-p50-ms")
	b.ReportMetric(at(after, 0.99), "lag-p99-ms")
	b.ReportMetric(at(after, 1), "lag-max-ms")
	b.ReportMetric(float64(len(lags))/elapsed.Seconds(), "writes/s")
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s: want a positive integer, got %q", name, s)
	}
	return n
}

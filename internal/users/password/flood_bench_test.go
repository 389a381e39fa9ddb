package password

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkReadsBesideAHashFlood measures what a flood of hashes does to
// the latency of requests that pass through a reverse proxy to a second
// handler in the same process over loopback, as a catalog read passes from
// the gateway to the products module: an open-loop load of such requests,
// alone, then while a pool with one worker hashes without a pause (what a
// login flood made of it before workers rested between hashes, ADR 58), in
// this process or in a child process. It is the hypothesis of ADR 35
// without PostgreSQL and the other modules; it
// ignores b.N (run it with -benchtime=1x) and reports the latencies'
// percentiles.
func BenchmarkReadsBesideAHashFlood(b *testing.B) {
	const (
		rate     = 400 // requests/s
		duration = 10 * time.Second
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":"p1","name":"kettle","price":1299,"tags":[%q,%q]}`, "kitchen", "steel")
	}))
	defer backend.Close()
	target, _ := url.Parse(backend.URL)
	gateway := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer gateway.Close()

	for _, mode := range []string{"quiet", "in-process flood", "child-process flood"} {
		b.Run(mode, func(b *testing.B) {
			var pool *Pool
			switch mode {
			case "in-process flood":
				pool = NewPool(OWASP, Limits{Workers: 1, Queue: 64})
			case "child-process flood":
				var err error
				if pool, err = NewProcessPool(OWASP, Limits{Workers: 1, Queue: 64}); err != nil {
					b.Fatal(err)
				}
			}
			ctx, stop := context.WithCancel(context.Background())
			var flood sync.WaitGroup
			hashes := 0
			var mu sync.Mutex
			if pool != nil {
				for range 32 { // the flood's clients, each retrying at once
					flood.Go(func() {
						for ctx.Err() == nil {
							if _, err := pool.Hash(ctx, "plum-kettle-orbit-42"); err == nil {
								mu.Lock()
								hashes++
								mu.Unlock()
							} else {
								time.Sleep(5 * time.Millisecond) // refused: come back, as a client would
							}
						}
					})
				}
			}
			lat := openLoop(b, gateway.URL, rate, duration)
			stop()
			flood.Wait()
			if pool != nil {
				pool.Close()
			}
			slices.Sort(lat)
			q := func(p float64) float64 {
				return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(0.999), "p99.9-ms")
			b.ReportMetric(float64(hashes)/duration.Seconds(), "hashes/s")
		})
	}
}

// openLoop sends GETs to url at rate for d, each at its scheduled time
// whether or not the earlier ones were answered, and returns their
// latencies measured from that time.
func openLoop(b *testing.B, url string, rate int, d time.Duration) []time.Duration {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
	var (
		mu  sync.Mutex
		lat []time.Duration
		wg  sync.WaitGroup
	)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range int(d / interval) {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Go(func() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			took := time.Since(due)
			mu.Lock()
			lat = append(lat, took)
			mu.Unlock()
		})
	}
	wg.Wait()
	return lat
}

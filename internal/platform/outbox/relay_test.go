package outbox_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/outbox"
)

func TestRelayDeliversCommittedEventsInOrderAndEmptiesTheOutbox(t *testing.T) {
	t.Parallel()
	cfg := newBroker(t)
	pub := mustPublisher(t, cfg)
	tests := []struct {
		name string
		// txs lists each committed transaction's events by subject; each
		// subject's sequence counts up across them.
		txs        [][]string
		batch      int
		wantCounts []int // what each Flush returns, the last one finding nothing
	}{
		{name: "one event", txs: [][]string{{"a"}}, wantCounts: []int{1, 0}},
		{name: "an aggregate's events added in one transaction", txs: [][]string{{"a", "a", "a", "a"}}, wantCounts: []int{4, 0}},
		{
			name:       "events of several aggregates over several transactions",
			txs:        [][]string{{"a", "b"}, {"a"}, {"c", "b", "a"}, {"c"}},
			wantCounts: []int{7, 0},
		},
		{
			name:       "more events than one batch",
			txs:        [][]string{slicesOf("a", 12), slicesOf("b", 5), slicesOf("a", 8)},
			batch:      10,
			wantCounts: []int{10, 10, 5, 0},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newDB(t)
			rcv := startConsumerOn(t, cfg, fmt.Sprintf("case-%d", i))
			var want []events.Event
			seq := map[string]int64{}
			for _, subjects := range tt.txs {
				var evs []events.Event
				for _, s := range subjects {
					seq[s]++
					evs = append(evs, newEvent(t, fmt.Sprintf("%d-%s", i, s), seq[s]))
				}
				addInTx(t, pool, true, evs...)
				want = append(want, evs...)
			}
			relay := outbox.NewRelayWithOptions(pool, pub, testLogger(t), time.Hour, outbox.Options{Batch: tt.batch})

			if diff := cmp.Diff(tt.wantCounts, flushAll(t, relay)); diff != "" {
				t.Errorf("events per Flush (-want +got):\n%s", diff)
			}
			fence(t, pub, rcv)
			checkOrder(t, withoutFences(rcv.events()), want)
			if n := pendingCount(t, pool); n != 0 {
				t.Errorf("%d events left in the outbox, want 0", n)
			}
		})
	}
}

// slicesOf returns n copies of s.
func slicesOf(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestRelayNeverPublishesEventsOfARolledBackTransaction(t *testing.T) {
	t.Parallel()
	cfg := newBroker(t)
	pub := mustPublisher(t, cfg)
	rcv := startConsumer(t, cfg)
	pool := newDB(t)

	rolledBack := []events.Event{newEvent(t, "a", 1), newEvent(t, "b", 1)}
	addInTx(t, pool, false, rolledBack...)
	committed := newEvent(t, "a", 2)
	addInTx(t, pool, true, committed)

	relay := outbox.NewRelay(pool, pub, testLogger(t), time.Hour)
	if diff := cmp.Diff([]int{1, 0}, flushAll(t, relay)); diff != "" {
		t.Errorf("events per Flush (-want +got):\n%s", diff)
	}
	fence(t, pub, rcv)
	checkOrder(t, withoutFences(rcv.events()), []events.Event{committed})
}

func TestFlushKeepsEventsWhileTheBrokerIsUnreachableAndALivePublisherDeliversThem(t *testing.T) {
	t.Parallel()
	cfg := newBroker(t)
	rcv := startConsumer(t, cfg)
	pool := newDB(t)

	// A publisher that connected once, then lost its broker: the loopback
	// port it uses is closed.
	deadCfg, gone := viaProxy(t, cfg)
	dead := mustPublisher(t, deadCfg)
	gone.Stop()

	var want []events.Event
	for seq := range int64(5) {
		e := newEvent(t, fmt.Sprintf("s%d", seq%2), seq+1)
		addInTx(t, pool, true, e)
		want = append(want, e)
	}

	stuck := outbox.NewRelayWithOptions(pool, dead, testLogger(t), time.Hour, outbox.Options{FlushTimeout: time.Second})
	start := time.Now()
	n, err := stuck.Flush(testContext(t))
	if err == nil {
		t.Fatalf("Flush through a dead broker = %d, nil; want an error", n)
	}
	t.Logf("Flush failed after %v as expected: %v", time.Since(start).Round(time.Millisecond), err)
	if n != 0 {
		t.Errorf("Flush through a dead broker published %d, want 0", n)
	}
	if got := pendingCount(t, pool); got != len(want) {
		t.Errorf("%d events left in the outbox after the failed flush, want %d", got, len(want))
	}

	live := outbox.NewRelay(pool, mustPublisher(t, cfg), testLogger(t), time.Hour)
	if diff := cmp.Diff([]int{len(want), 0}, flushAll(t, live)); diff != "" {
		t.Errorf("events per Flush with a live broker (-want +got):\n%s", diff)
	}
	rcv.waitFor(t, want)
	checkOrder(t, rcv.events(), want)
	if got := pendingCount(t, pool); got != 0 {
		t.Errorf("%d events left in the outbox, want 0", got)
	}
}

func TestTwoRelaysRunningTogetherDeliverEveryEventExactlyOnceInOrder(t *testing.T) {
	t.Parallel()
	const producers, perProducer = 10, 50
	cfg := newBroker(t)
	pub := mustPublisher(t, cfg)
	rcv := startConsumer(t, cfg)
	pool := newDB(t)

	// Both relays publish through one publisher that notes which relay is
	// publishing, to catch the two ever publishing at once.
	mon := &overlapMonitor{}
	ctx, cancel := context.WithCancel(testContext(t))
	var running sync.WaitGroup
	var relays []*outbox.Relay
	for i := range 2 {
		// A long interval: new events reach the relays only through
		// Notify, and through retrying while the other holds the lock.
		r := outbox.NewRelayWithOptions(pool, mon.publisher(i, pub), testLogger(t), time.Hour, outbox.Options{Batch: 20})
		relays = append(relays, r)
		running.Go(func() { r.Run(ctx) })
	}
	stopRelays := sync.OnceFunc(func() { cancel(); running.Wait() })
	t.Cleanup(stopRelays)

	// Each producer commits its events one transaction at a time, so its
	// events' commit order is known, and tells one of the relays.
	wantBy := make([][]events.Event, producers)
	var producing sync.WaitGroup
	for p := range producers {
		producing.Go(func() {
			for seq := range int64(perProducer) {
				e, err := events.New("thing.changed", "outbox-test", fmt.Sprintf("producer-%d", p), seq+1, 1, nil)
				if err != nil {
					t.Errorf("events.New: %v", err)
					return
				}
				if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return outbox.Add(ctx, tx, e) }); err != nil {
					t.Errorf("producer %d: add: %v", p, err)
					return
				}
				wantBy[p] = append(wantBy[p], e)
				relays[int(seq)%2].Notify()
			}
		})
	}
	producing.Wait()
	var want []events.Event
	for _, evs := range wantBy {
		want = append(want, evs...)
	}
	if len(want) != producers*perProducer {
		t.Fatalf("committed %d events, want %d", len(want), producers*perProducer)
	}

	// Events can be delivered before their confirm reaches the relay, so
	// the relays are stopped only once they have deleted everything:
	// stopping one mid-flush leaves its unconfirmed events to be
	// published again.
	rcv.waitFor(t, want)
	eventually.True(t, "outbox empty", func() bool { return pendingCount(t, pool) == 0 })
	stopRelays()
	fence(t, pub, rcv)
	checkOrder(t, withoutFences(rcv.events()), want)
	if mon.overlapped.Load() {
		t.Error("both relays were publishing at the same time")
	}
	t.Logf("publishes per relay: %v", mon.counts())
}

// overlapMonitor wraps the publishers of several relays and notes whether
// two of them ever had publishes in flight at the same time.
type overlapMonitor struct {
	mu         sync.Mutex
	active     map[int]int // in-flight publishes by relay
	total      map[int]int
	overlapped atomic.Bool
}

func (m *overlapMonitor) publisher(relay int, inner outbox.Publisher) outbox.Publisher {
	return publishFunc(func(ctx context.Context, e events.Event) error {
		m.mu.Lock()
		if m.active == nil {
			m.active, m.total = map[int]int{}, map[int]int{}
		}
		for other, n := range m.active {
			if other != relay && n > 0 {
				m.overlapped.Store(true)
			}
		}
		m.active[relay]++
		m.total[relay]++
		m.mu.Unlock()
		defer func() { m.mu.Lock(); m.active[relay]--; m.mu.Unlock() }()
		return inner.Publish(ctx, e)
	})
}

func (m *overlapMonitor) counts() map[int]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.total)
}

// publishFunc adapts a function to outbox.Publisher.
type publishFunc func(ctx context.Context, e events.Event) error

func (f publishFunc) Publish(ctx context.Context, e events.Event) error { return f(ctx, e) }

func TestFlushLeavesTheOutboxToTheRelayThatHoldsTheLock(t *testing.T) {
	t.Parallel()
	cfg := newBroker(t)
	pub := mustPublisher(t, cfg)
	rcv := startConsumer(t, cfg)
	pool := newDB(t)
	e := newEvent(t, "a", 1)
	addInTx(t, pool, true, e)

	// The first relay's publish waits until released, holding the lock.
	entered, release := make(chan struct{}), make(chan struct{})
	slow := publishFunc(func(ctx context.Context, e events.Event) error {
		close(entered)
		<-release
		return pub.Publish(ctx, e)
	})
	first := outbox.NewRelay(pool, slow, testLogger(t), time.Hour)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() { n, err := first.Flush(testContext(t)); done <- result{n, err} }()
	<-entered

	second := outbox.NewRelay(pool, pub, testLogger(t), time.Hour)
	if n, err := second.Flush(testContext(t)); n != 0 || err != nil {
		t.Errorf("Flush while another relay flushes = %d, %v; want 0, nil", n, err)
	}
	close(release)
	if r := <-done; r.n != 1 || r.err != nil {
		t.Errorf("Flush of the lock holder = %d, %v; want 1, nil", r.n, r.err)
	}
	fence(t, pub, rcv)
	checkOrder(t, withoutFences(rcv.events()), []events.Event{e})
}

func TestRunRelaysWhatItIsNotifiedOfAndRecoversAfterAFailingPublisher(t *testing.T) {
	t.Parallel()
	cfg := newBroker(t)
	pub := mustPublisher(t, cfg)
	rcv := startConsumer(t, cfg)
	pool := newDB(t)

	var failures atomic.Int32
	failures.Store(2)
	flaky := publishFunc(func(ctx context.Context, e events.Event) error {
		if failures.Add(-1) >= 0 {
			return fmt.Errorf("broker says no")
		}
		return pub.Publish(ctx, e)
	})
	// A short interval keeps the back-off, which starts at an eighth of
	// it, short.
	relay := outbox.NewRelay(pool, flaky, testLogger(t), time.Second)
	runRelay(t, relay)

	want := []events.Event{newEvent(t, "a", 1), newEvent(t, "a", 2)}
	addInTx(t, pool, true, want...)
	relay.Notify()
	rcv.waitFor(t, want)
	checkOrder(t, rcv.events(), want)
	eventually.True(t, "outbox empty", func() bool { return pendingCount(t, pool) == 0 })
}

func TestANotifiedRelayLingersSoThatLaterCommitsGoOutInItsFlush(t *testing.T) {
	t.Parallel()
	cfg := newBroker(t)
	pub := mustPublisher(t, cfg)
	rcv := startConsumer(t, cfg)
	pool := newDB(t)
	// The interval is far beyond the test: only a flush after the wake-up
	// publishes what is committed once the relay has started.
	relay := outbox.NewRelayWithOptions(pool, pub, testLogger(t), time.Hour, outbox.Options{Linger: 3 * time.Second})
	first := newEvent(t, "a", 1)
	addInTx(t, pool, true, first)
	runRelay(t, relay)
	rcv.waitFor(t, []events.Event{first}) // the flush a relay makes when it starts

	relay.Notify() // before the commits it stands for, which the linger lets in
	later := []events.Event{newEvent(t, "a", 2), newEvent(t, "b", 1)}
	for _, e := range later {
		addInTx(t, pool, true, e)
	}
	rcv.waitFor(t, later)
	eventually.True(t, "outbox empty", func() bool { return pendingCount(t, pool) == 0 })
}

func TestRelayCountsRelayedEventsAndFailedFlushes(t *testing.T) {
	t.Parallel()
	cfg := newBroker(t)
	pub := mustPublisher(t, cfg)
	pool := newDB(t)
	reg := prometheus.NewRegistry()
	opts := outbox.Options{Name: "orders", Registerer: reg}
	addInTx(t, pool, true, newEvent(t, "a", 1), newEvent(t, "b", 1), newEvent(t, "a", 2))

	failing := outbox.NewRelayWithOptions(pool, publishFunc(func(context.Context, events.Event) error {
		return fmt.Errorf("broker says no")
	}), testLogger(t), time.Hour, opts)
	if _, err := failing.Flush(testContext(t)); err == nil {
		t.Fatal("Flush with a failing publisher: want an error")
	}
	// A second relay on the same registry shares the series.
	flushAll(t, outbox.NewRelayWithOptions(pool, pub, testLogger(t), time.Hour, opts))

	want := map[string]float64{
		"outbox_events_relayed_total": 3,
		"outbox_relay_failures_total": 1,
		"outbox_relay_delay_seconds":  3, // observations
	}
	if diff := cmp.Diff(want, gather(t, reg, "outbox", "orders")); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// gather reads reg's counters, and its histograms' observation counts, for
// the series whose label is value.
func gather(t *testing.T, reg *prometheus.Registry, label, value string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	got := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != label || l.GetValue() != value {
					continue
				}
				switch {
				case m.GetCounter() != nil:
					got[f.GetName()] = m.GetCounter().GetValue()
				case m.GetHistogram() != nil:
					got[f.GetName()] = float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return got
}

func TestAddWithoutEventsWritesNothing(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	addInTx(t, pool, true)
	if n := pendingCount(t, pool); n != 0 {
		t.Errorf("%d rows in the outbox, want 0", n)
	}
}

func TestAddRejectsAnEventWithoutIDOrType(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	valid := newEvent(t, "a", 1)
	noID, noType := valid, valid
	noID.ID, noType.Type = "", ""
	for name, e := range map[string]events.Event{"without id": noID, "without type": noType} {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return outbox.Add(ctx, tx, valid, e) })
			if err == nil {
				t.Fatal("Add: want an error")
			}
			if n := pendingCount(t, pool); n != 0 {
				t.Errorf("%d rows in the outbox, want 0", n)
			}
		})
	}
}

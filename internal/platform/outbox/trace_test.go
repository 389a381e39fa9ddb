package outbox_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/outbox"
)

func TestTheRelayPublishesEachEventInTheTraceOfTheTransactionThatAddedIt(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	traced := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{7}, SpanID: trace.SpanID{9}, TraceFlags: trace.FlagsSampled})
	inTrace, untraced := newEvent(t, "a", 1), newEvent(t, "b", 1)
	for ctx, ev := range map[context.Context]events.Event{
		trace.ContextWithSpanContext(testContext(t), traced): inTrace,
		testContext(t): untraced,
	} {
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return outbox.Add(ctx, tx, ev) }); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	published := map[string]trace.SpanContext{}
	relay := outbox.NewRelay(pool, publishFunc(func(ctx context.Context, e events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		published[e.ID] = trace.SpanContextFromContext(ctx)
		return nil
	}), testLogger(t), 0)
	flushAll(t, relay)

	got := published[inTrace.ID]
	if got.TraceID() != traced.TraceID() || got.SpanID() != traced.SpanID() || !got.IsSampled() {
		t.Errorf("the traced event was published in %v, want the adding transaction's %v", got, traced)
	}
	if sc := published[untraced.ID]; sc.IsValid() {
		t.Errorf("the untraced event was published in trace %v, want none", sc)
	}
}

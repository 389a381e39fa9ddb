// Package outbox gives PostgreSQL services a transactional outbox and an
// inbox, so that a change and the events announcing it can never disagree.
//
// A producer writes its events with Add in the same transaction as the
// change they describe: both commit or neither does. A Relay then publishes
// the committed events through the broker and deletes each one once the
// broker has confirmed it. A consumer calls Seen in the transaction that
// applies an event, so that an event delivered twice is applied once.
//
// Delivery is at least once. An event whose confirm was lost, or whose
// delete did not commit after a confirmed publish, is published again, so
// consumers de-duplicate by events.Event.ID (Seen does that) or by
// Subject and Sequence.
//
// Order: only one relay instance publishes at a time, a batch is the
// oldest ids, and a batch is confirmed before the next starts, so no event
// overtakes one of an earlier batch. Within a batch the events of one
// aggregate (one Subject) are published one after the other in id order,
// while different aggregates' events are published concurrently and may
// overtake one another. The broker's retries reorder deliveries anyway, so
// consumers compare Sequence rather than trust arrival order.
// Ids come from an identity column and are taken at insert time, not at
// commit time: a transaction that took id 5 can commit after one that took
// id 6, and the relay may then publish 6 before 5. For one aggregate that
// cannot happen as long as the transaction locks the aggregate's row (by
// updating it) before it calls Add, which is what a service does anyway.
//
// A producer, in outline:
//
//	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
//		// ... change the order, locking its row ...
//		return outbox.Add(ctx, tx, ev)
//	})
//	if err == nil {
//		relay.Notify() // publish now rather than at the next poll
//	}
//
// and a consumer's handler:
//
//	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
//		if seen, err := outbox.Seen(ctx, tx, "orders.products", ev.ID); err != nil || seen {
//			return err
//		}
//		// ... apply ev ...
//	})
//
// The package owns no tables: each service creates them in its own
// migration by copying Schema, because a service's migrations are the only
// code that changes its database.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// Schema creates the outbox and inbox tables. A service pastes it into one
// of its goose migrations (after "-- +goose Up"), with a Down section that
// drops both tables; the package does not migrate anything itself.
//
// outbox holds events waiting to be published, in id order; it stays near
// empty while the relay keeps up. inbox remembers which events each
// consumer has applied; the index on received_at serves PruneInbox.
const Schema = `CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- the trace context (W3C traceparent, tracestate, baggage) of the
    -- transaction that stored the event: the relay publishes the event
    -- in that trace. NULL when the writer was not traced.
    trace_context jsonb
);

CREATE TABLE inbox (
    consumer     text NOT NULL,
    event_id     text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX inbox_received_at_idx ON inbox (received_at);
`

// Add stores evs in the outbox within tx, so that they are published if and
// only if tx commits. The events get consecutive ids in argument order and
// are inserted in one round trip however many there are. Adding no events
// does nothing. The trace ctx carries, if any, is stored with them, so
// that their publishing and consuming join the trace of the change.
//
// Call it after the statement that locks the changed aggregate's row, so
// that the events of one aggregate take ids in commit order.
func Add(ctx context.Context, tx pgx.Tx, evs ...events.Event) error {
	b := &pgx.Batch{}
	if err := Queue(ctx, b, evs...); err != nil || b.Len() == 0 {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("outbox: add %d events: %w", len(evs), err)
	}
	return nil
}

// Queue is Add for a caller that sends its transaction's writes as one
// batch: it appends the insert to b, to be sent within the transaction.
// ctx gives the trace context stored with the events; nothing is sent.
func Queue(ctx context.Context, b *pgx.Batch, evs ...events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	docs := make([][]byte, len(evs))
	for i, e := range evs {
		// Checked here, where the caller's stack shows who built the
		// event, rather than at publish time in the relay.
		if e.ID == "" || e.Type == "" {
			return fmt.Errorf("outbox: add event %d of %d: id and type are required", i+1, len(evs))
		}
		doc, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("outbox: encode event %s %s: %w", e.Type, e.ID, err)
		}
		docs[i] = doc
	}
	// WITH ORDINALITY and ORDER BY make the identity values follow the
	// order of evs.
	// A nil map is stored as NULL, not as JSON null.
	var trace []byte
	if c := tracing.Carrier(ctx); c != nil {
		var err error
		if trace, err = json.Marshal(c); err != nil {
			return fmt.Errorf("outbox: encode trace context: %w", err)
		}
	}
	b.Queue(`
		INSERT INTO outbox (event, trace_context)
		SELECT doc, $2::jsonb FROM unnest($1::jsonb[]) WITH ORDINALITY AS t(doc, n)
		ORDER BY n`, docs, trace)
	return nil
}

package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Seen records, within tx, that consumer has received the event eventID,
// and reports whether it had already been recorded: a handler that gets
// true skips the event, and one that gets false applies it in the same tx,
// so that the record and the event's effects commit (or roll back)
// together and a redelivered event is applied exactly once.
//
// consumer names the handler, usually its queue (such as
// "orders.products"), so that two handlers of one service each apply the
// event once. While another transaction has recorded the same event and not
// yet finished, Seen waits for it, then answers by its outcome.
func Seen(ctx context.Context, tx pgx.Tx, consumer, eventID string) (bool, error) {
	if consumer == "" || eventID == "" {
		return false, errors.New("outbox: seen: consumer and event id are required")
	}
	tag, err := tx.Exec(ctx,
		`INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		consumer, eventID)
	if err != nil {
		return false, fmt.Errorf("outbox: record event %s for %s: %w", eventID, consumer, err)
	}
	return tag.RowsAffected() == 0, nil
}

// pruneBatch bounds the rows one DELETE of PruneInbox removes, so that a
// large backlog is removed in short transactions instead of one that holds
// locks and bloats the WAL.
const pruneBatch = 10_000

// PruneInbox deletes the inbox entries recorded more than olderThan ago and
// returns how many it deleted; run it periodically from one instance (more
// do no harm).
//
// olderThan must exceed the longest time after which the broker may still
// deliver an event again: the consumer's retries (MaxAttempts times
// RetryDelay), a relay that republishes after an outage, and a message
// moved back from the dead-letter queue by hand. An entry pruned earlier
// lets a late duplicate be applied twice. Days, not minutes.
func PruneInbox(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("outbox: prune inbox: olderThan must be positive, got %v", olderThan)
	}
	var total int64
	for {
		tag, err := pool.Exec(ctx, `
			DELETE FROM inbox WHERE (consumer, event_id) IN (
				SELECT consumer, event_id FROM inbox
				WHERE received_at < now() - make_interval(secs => $1)
				LIMIT $2)`,
			olderThan.Seconds(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("outbox: prune inbox entries older than %v: %w", olderThan, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}

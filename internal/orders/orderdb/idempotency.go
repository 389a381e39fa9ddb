package orderdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
)

var _ orders.IdempotencyKeys = (*Store)(nil)

// lazyCommit, returned by a statement of the keys' bookkeeping, lets the
// statement's own transaction commit without waiting for the WAL to reach
// the disk (synchronous_commit off for that transaction alone, ADR 47): a
// checkout then waits for one flush, its order's, instead of three. A
// server crash within the WAL writer's delay may lose such a write, and
// that is safe for these writes only:
//   - a lost claim, renewal or release: nothing that depends on it can
//     outlive it, since the order or payment written under the key commits
//     synchronously, which flushes the WAL up to and including the claim;
//     a request that was still running fails with the server and its retry
//     claims the key again; a lost release or renewal ends with the lease;
//   - a lost answer of a key that names the order it created: a retry is
//     answered with that order, as when the holder died before storing it.
//     Every other answer (a refusal, a payment's) is flushed before the
//     client sees it, so a retry never runs a request that was answered.
const lazyCommit = pg.LazyCommit

// ClaimKey takes an idempotency key for holder, or reports what the key
// already holds. A key whose holder has not renewed its lease in time and
// created nothing may be taken over: the holder died.
func (s *Store) ClaimKey(ctx context.Context, userID, key, operation string, hash []byte, holder string, lease time.Duration) (orders.KeyClaim, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO idempotency_keys (user_id, key, operation, request_hash, holder, locked_until)
		VALUES ($1, $2, $3, $4, $5, clock_timestamp() + make_interval(secs => $6))
		ON CONFLICT (user_id, key) DO UPDATE SET locked_until = EXCLUDED.locked_until, holder = EXCLUDED.holder
		WHERE idempotency_keys.status IS NULL AND idempotency_keys.resource_id IS NULL
			AND idempotency_keys.locked_until < clock_timestamp()
			AND idempotency_keys.operation = EXCLUDED.operation AND idempotency_keys.request_hash = EXCLUDED.request_hash
		RETURNING `+lazyCommit, userID, key, operation, hash, holder, lease.Seconds()).Scan(nil)
	if err == nil {
		return orders.KeyClaim{Owned: true}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return orders.KeyClaim{}, fmt.Errorf("claim idempotency key: %w", err)
	}
	var c orders.KeyClaim
	var op string
	var stored []byte
	var status *int
	var resource *string
	err = s.pool.QueryRow(ctx, `SELECT operation, request_hash, status, response, resource_id FROM idempotency_keys
		WHERE user_id = $1 AND key = $2`, userID, key).Scan(&op, &stored, &status, &c.Body, &resource)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.ClaimKey(ctx, userID, key, operation, hash, holder, lease) // released meanwhile
	}
	if err != nil {
		return orders.KeyClaim{}, fmt.Errorf("read idempotency key: %w", err)
	}
	c.Mismatch = op != operation || !bytes.Equal(stored, hash)
	if status != nil {
		c.Status = *status
		if c.Body, err = openAnswer(s.pii, userID, key, c.Body); err != nil {
			return orders.KeyClaim{}, err
		}
	}
	if resource != nil {
		c.ResourceID = *resource
	}
	return c, nil
}

// RenewKey extends holder's lease on a key. It reports false when holder
// holds the key no longer: its lease ran out and another took it over, or
// the key is finished.
func (s *Store) RenewKey(ctx context.Context, userID, key, holder string, lease time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET locked_until = clock_timestamp() + make_interval(secs => $4)
		WHERE user_id = $1 AND key = $2 AND holder = $3 AND status IS NULL AND locked_until >= clock_timestamp()
		RETURNING `+lazyCommit,
		userID, key, holder, lease.Seconds())
	if err != nil {
		return false, fmt.Errorf("renew idempotency key: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CompleteKey stores the answer of holder's request under its key,
// sealed: an order's answer holds its shipping address. A holder that lost
// the key stores nothing, and neither does a refusal of a key that names
// an order: another request made it (a holder that stalled past its lease
// and committed after all), so the key's retries are answered with that
// order, not with the refusal.
func (s *Store) CompleteKey(ctx context.Context, userID, key, holder string, status int, body []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET status = $4, response = $5, locked_until = NULL
		WHERE user_id = $1 AND key = $2 AND holder = $3 AND (resource_id IS NULL OR $4 BETWEEN 200 AND 299)
		RETURNING set_config('synchronous_commit',
			CASE WHEN resource_id IS NULL THEN current_setting('synchronous_commit') ELSE 'off' END, true)`,
		userID, key, holder, status, sealAnswer(s.pii, userID, key, body))
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseKey forgets a key whose answer is not to be kept (a failure on
// our side, an outcome still pending), so that a retry runs again. A
// holder that lost the key releases nothing.
func (s *Store) ReleaseKey(ctx context.Context, userID, key, holder string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND holder = $3 AND resource_id IS NULL
		RETURNING `+lazyCommit, userID, key, holder)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// AnswerKey records a key nobody claimed, with its answer, unless the key
// exists. The answer is a refusal (an order's answer is recorded in the
// order's transaction), so it commits synchronously: a retry must never run
// a request whose answer the client has seen.
func (s *Store) AnswerKey(ctx context.Context, userID, key string, a orders.KeyAnswer) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, operation, request_hash, status, response)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, key) DO NOTHING`,
		userID, key, a.Operation, a.RequestHash, a.Status, sealAnswer(s.pii, userID, key, a.Body))
	if err != nil {
		return false, fmt.Errorf("record answered idempotency key: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PruneKeys deletes keys older than age.
func (s *Store) PruneKeys(ctx context.Context, age time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}

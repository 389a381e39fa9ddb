package orderdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace-go/marketplace/internal/orders"
)

var _ orders.IdempotencyKeys = (*Store)(nil)

// ClaimKey takes an idempotency key for a request, or reports what the
// key already holds. A key whose holder has not finished within its lease
// and created nothing may be taken over: the holder died.
func (s *Store) ClaimKey(ctx context.Context, userID, key, operation string, hash []byte, lease time.Duration) (orders.KeyClaim, error) {
	var owned bool
	err := s.pool.QueryRow(ctx, `INSERT INTO idempotency_keys (user_id, key, operation, request_hash, locked_until)
		VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
		ON CONFLICT (user_id, key) DO UPDATE SET locked_until = EXCLUDED.locked_until
		WHERE idempotency_keys.status IS NULL AND idempotency_keys.resource_id IS NULL
			AND idempotency_keys.locked_until < now()
			AND idempotency_keys.operation = EXCLUDED.operation AND idempotency_keys.request_hash = EXCLUDED.request_hash
		RETURNING true`, userID, key, operation, hash, lease.Seconds()).Scan(&owned)
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
		return s.ClaimKey(ctx, userID, key, operation, hash, lease) // released meanwhile
	}
	if err != nil {
		return orders.KeyClaim{}, fmt.Errorf("read idempotency key: %w", err)
	}
	c.Mismatch = op != operation || !bytes.Equal(stored, hash)
	if status != nil {
		c.Status = *status
	}
	if resource != nil {
		c.ResourceID = *resource
	}
	return c, nil
}

// CompleteKey stores a request's answer under its key.
func (s *Store) CompleteKey(ctx context.Context, userID, key string, status int, body []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET status = $3, response = $4, locked_until = NULL
		WHERE user_id = $1 AND key = $2`, userID, key, status, body)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseKey forgets a key whose answer is not to be kept (a failure on
// our side, an outcome still pending), so that a retry runs again.
func (s *Store) ReleaseKey(ctx context.Context, userID, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND resource_id IS NULL`, userID, key)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PruneKeys deletes keys older than age.
func (s *Store) PruneKeys(ctx context.Context, age time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}

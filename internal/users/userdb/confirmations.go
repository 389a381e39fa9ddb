package userdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/marketplace-go/marketplace/internal/users"
)

var _ users.ConfirmationStore = (*Store)(nil)

// ClaimConfirmation inserts the order's claim, or takes over one older than
// lease that was never sent; otherwise it reports whether the mail was sent.
// Concurrent claims of one order serialise on its primary key, so exactly
// one is granted.
func (s *Store) ClaimConfirmation(ctx context.Context, order, buyer uuid.UUID, lease time.Duration) (users.ClaimOutcome, uuid.UUID, error) {
	const claim = `INSERT INTO order_confirmations (order_id, buyer_id, claim) VALUES ($1, $2, $3)
		ON CONFLICT (order_id) DO UPDATE SET claim = excluded.claim, claimed_at = now()
		WHERE order_confirmations.sent_at IS NULL AND order_confirmations.claimed_at < now() - make_interval(secs => $4)
		RETURNING claim`
	const state = `SELECT sent_at IS NOT NULL FROM order_confirmations WHERE order_id = $1`
	id := uuid.New()
	var got uuid.UUID
	err := s.pool.QueryRow(ctx, claim, order, buyer, id, lease.Seconds()).Scan(&got)
	if err == nil {
		return users.ClaimGranted, got, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, uuid.Nil, fmt.Errorf("claim confirmation %s: %w", order, err)
	}
	var sent bool
	switch err := s.pool.QueryRow(ctx, state, order).Scan(&sent); {
	case errors.Is(err, pgx.ErrNoRows):
		return users.ClaimBusy, uuid.Nil, nil // released in between: the retry claims it
	case err != nil:
		return 0, uuid.Nil, fmt.Errorf("claim confirmation %s: %w", order, err)
	case sent:
		return users.ClaimSent, uuid.Nil, nil
	}
	return users.ClaimBusy, uuid.Nil, nil
}

// ConfirmationSent marks the order's confirmation sent.
func (s *Store) ConfirmationSent(ctx context.Context, order, claim uuid.UUID) error {
	_, err := s.pool.Exec(ctx, `UPDATE order_confirmations SET sent_at = now() WHERE order_id = $1 AND claim = $2`, order, claim)
	return wrap("confirmation sent", err)
}

// ReleaseConfirmation deletes the claim if it is still this one and unsent.
func (s *Store) ReleaseConfirmation(ctx context.Context, order, claim uuid.UUID) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM order_confirmations WHERE order_id = $1 AND claim = $2 AND sent_at IS NULL`, order, claim)
	return wrap("release confirmation", err)
}

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

// ClaimConfirmation reads the buyer and, if the buyer may be mailed,
// inserts the order's claim or takes over one older than lease that was
// never sent, in one statement; when no claim is granted it reports
// whether the mail was sent. Concurrent claims of one order serialise on
// its primary key, so exactly one is granted.
func (s *Store) ClaimConfirmation(ctx context.Context, order, buyer uuid.UUID, lease time.Duration) (users.Claim, error) {
	const claim = `WITH buyer AS (
			SELECT email, display_name, preferences FROM users WHERE id = $2 AND NOT disabled
		), claimed AS (
			INSERT INTO order_confirmations (order_id, buyer_id, claim) SELECT $1, $2, $3 FROM buyer
			ON CONFLICT (order_id) DO UPDATE SET claim = excluded.claim, claimed_at = now()
			WHERE order_confirmations.sent_at IS NULL AND order_confirmations.claimed_at < now() - make_interval(secs => $4)
			RETURNING claim
		)
		SELECT b.email, b.display_name, b.preferences, c.claim FROM buyer b LEFT JOIN claimed c ON true`
	const state = `SELECT sent_at IS NOT NULL FROM order_confirmations WHERE order_id = $1`
	var (
		c  users.Claim
		id *uuid.UUID
	)
	err := s.pool.QueryRow(ctx, claim, order, buyer, uuid.New(), lease.Seconds()).
		Scan(&c.Buyer.Email, &c.Buyer.DisplayName, &c.Buyer.Preferences, &id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return users.Claim{Outcome: users.ClaimSkipped}, nil
	case err != nil:
		return users.Claim{}, fmt.Errorf("claim confirmation %s: %w", order, err)
	case id != nil:
		c.Outcome, c.ID = users.ClaimGranted, *id
		return c, nil
	}
	var sent bool
	switch err := s.pool.QueryRow(ctx, state, order).Scan(&sent); {
	case errors.Is(err, pgx.ErrNoRows):
		return users.Claim{Outcome: users.ClaimBusy}, nil // released in between: the retry claims it
	case err != nil:
		return users.Claim{}, fmt.Errorf("claim confirmation %s: %w", order, err)
	case sent:
		return users.Claim{Outcome: users.ClaimSent}, nil
	}
	return users.Claim{Outcome: users.ClaimBusy}, nil
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

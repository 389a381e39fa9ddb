package userdb

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/users"
)

var _ users.ConfirmationStore = (*Store)(nil)

// lazyCommit ends the confirmations' bookkeeping (a claim, a sent mark):
// neither waits for the disk (ADR 56). A server crash within the WAL
// writer's delay may lose one, and that can only mail twice: a lost claim
// or sent mark matters only to a later delivery of the same event, and
// the event of a mail sent was acked. Losing one is as likely as the crash
// between the mail and its sent mark that ADR 40 already accepts.
const lazyCommit = pg.LazyCommit

// ClaimConfirmations reads the buyers and, for each order whose buyer may
// be mailed, inserts its claim or takes over one older than lease that was
// never sent, all in one statement. An order without a granted claim is
// told sent or busy from the state the statement started from; one that a
// concurrent claim inserted after that is busy, and its retry finds it
// sent. Concurrent claims of one order serialise on its primary key, so
// exactly one is granted; the rows are claimed in key order, so that two
// batches sharing orders cannot deadlock.
func (s *Store) ClaimConfirmations(ctx context.Context, orders []users.OrderOfBuyer, lease time.Duration) ([]users.Claim, error) {
	const claim = `WITH due AS (
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) WITH ORDINALITY AS d(order_id, buyer_id, claim, n)
		), prior AS (
			SELECT order_id, sent_at IS NOT NULL AS sent FROM order_confirmations WHERE order_id = ANY($1)
		), buyer AS (
			SELECT d.n, d.order_id, d.buyer_id, d.claim, u.email, u.display_name, u.preferences
			FROM due d JOIN users u ON u.id = d.buyer_id AND NOT u.disabled
		), claimed AS (
			INSERT INTO order_confirmations (order_id, buyer_id, claim)
			SELECT order_id, buyer_id, claim FROM buyer ORDER BY order_id
			ON CONFLICT (order_id) DO UPDATE SET claim = excluded.claim, claimed_at = now()
			WHERE order_confirmations.sent_at IS NULL AND order_confirmations.claimed_at < now() - make_interval(secs => $4)
			RETURNING order_id, claim
		)
		SELECT b.email, b.display_name, b.preferences, c.claim, coalesce(p.sent, false), ` + lazyCommit + `
		FROM due d LEFT JOIN buyer b ON b.n = d.n LEFT JOIN claimed c ON c.order_id = d.order_id LEFT JOIN prior p ON p.order_id = d.order_id
		ORDER BY d.n`
	ids, buyers, claimIDs := make([]uuid.UUID, len(orders)), make([]uuid.UUID, len(orders)), make([]uuid.UUID, len(orders))
	for i, o := range orders {
		ids[i], buyers[i], claimIDs[i] = o.Order, o.Buyer, uuid.New()
	}
	rows, err := s.pool.Query(ctx, claim, ids, buyers, claimIDs, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim confirmations: %w", err)
	}
	defer rows.Close()
	claims := make([]users.Claim, 0, len(orders))
	for rows.Next() {
		var (
			email, name *string
			c           = users.Claim{Order: ids[len(claims)]}
			id          *uuid.UUID
			sent        bool
		)
		if err := rows.Scan(&email, &name, &c.Buyer.Preferences, &id, &sent, nil); err != nil {
			return nil, fmt.Errorf("claim confirmations: %w", err)
		}
		switch {
		case email == nil:
			c.Outcome = users.ClaimSkipped
		case id != nil:
			c.Outcome, c.ID, c.Buyer.Email, c.Buyer.DisplayName = users.ClaimGranted, *id, *email, *name
		case sent:
			c.Outcome = users.ClaimSent
		default:
			c.Outcome = users.ClaimBusy
		}
		if c.Outcome != users.ClaimGranted {
			c.Buyer = users.Recipient{}
		}
		claims = append(claims, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim confirmations: %w", err)
	}
	if len(claims) != len(orders) {
		return nil, fmt.Errorf("claim confirmations: %d answers for %d orders", len(claims), len(orders))
	}
	return claims, nil
}

// ConfirmationsSent marks the confirmations of claims sent. The rows are
// locked in key order first, as a claim locks them, so that a mark and a
// claim sharing orders cannot deadlock.
func (s *Store) ConfirmationsSent(ctx context.Context, claims []users.Claim) error {
	ids, claimIDs := claimKeys(claims)
	_, err := s.pool.Exec(ctx, `WITH mine AS (`+heldClaims+`)
		UPDATE order_confirmations o SET sent_at = now() FROM mine WHERE o.order_id = mine.order_id
		RETURNING `+lazyCommit, ids, claimIDs)
	return wrap("confirmations sent", err)
}

// ReleaseConfirmations deletes each claim that is still its holder's and
// unsent, its rows locked in key order as ConfirmationsSent's are.
func (s *Store) ReleaseConfirmations(ctx context.Context, claims []users.Claim) error {
	ids, claimIDs := claimKeys(claims)
	_, err := s.pool.Exec(ctx, `WITH mine AS (`+heldClaims+`)
		DELETE FROM order_confirmations o USING mine WHERE o.order_id = mine.order_id AND o.sent_at IS NULL`, ids, claimIDs)
	return wrap("release confirmations", err)
}

// heldClaims selects, and locks in key order, the rows of the claims whose
// order ids and claim ids are $1 and $2.
const heldClaims = `SELECT o.order_id FROM order_confirmations o
	JOIN unnest($1::uuid[], $2::uuid[]) AS s(order_id, claim) ON o.order_id = s.order_id AND o.claim = s.claim
	ORDER BY o.order_id FOR UPDATE OF o`

// claimKeys are the order ids and claim ids of claims, as parallel arrays
// for unnest.
func claimKeys(claims []users.Claim) (orders, ids []uuid.UUID) {
	orders, ids = make([]uuid.UUID, len(claims)), make([]uuid.UUID, len(claims))
	for i, c := range claims {
		orders[i], ids[i] = c.Order, c.ID
	}
	return orders, ids
}

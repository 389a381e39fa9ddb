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

// CreateSession stores a new session with its first refresh token, in one
// statement (atomic, and one round trip on every login), provided the user
// still has passwordHash and is enabled; otherwise it stores nothing and
// returns users.ErrCredentialsChanged.
//
// The user's row is read FOR SHARE, which waits for a password change,
// reset or disabling that holds the row and then sees its outcome: a
// plain read could miss such a change whose revocation of sessions then
// missed this one, leaving a session opened with the old password alive.
func (s *Store) CreateSession(ctx context.Context, sess users.Session, tokenHash []byte, passwordHash string) error {
	tag, err := s.pool.Exec(ctx, `WITH u AS (
			SELECT id FROM users WHERE id = $2 AND password_hash = $5 AND NOT disabled FOR SHARE),
		s AS (
			INSERT INTO sessions (id, user_id, expires_at) SELECT $1, id, $3 FROM u RETURNING id)
		INSERT INTO refresh_tokens (token_hash, session_id) SELECT $4, id FROM s`,
		sess.ID, sess.UserID, sess.ExpiresAt, tokenHash, passwordHash)
	if err != nil {
		return wrap("insert session", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("insert session of %s: %w", sess.UserID, users.ErrCredentialsChanged)
	}
	return nil
}

// RotateRefresh spends a refresh token. The token and session rows are
// locked, so of many concurrent uses of one token exactly one sees it unspent;
// the others see a reuse and revoke the session, which is committed before
// users.ErrTokenReused is returned.
func (s *Store) RotateRefresh(ctx context.Context, oldHash, newHash []byte, now time.Time) (users.Session, error) {
	var (
		sess   users.Session
		reused bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			usedAt, revokedAt *time.Time
		)
		err := tx.QueryRow(ctx, `SELECT s.id, s.user_id, s.expires_at, s.revoked_at, t.used_at
			FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
			WHERE t.token_hash = $1 FOR UPDATE OF t, s`, oldHash).
			Scan(&sess.ID, &sess.UserID, &sess.ExpiresAt, &revokedAt, &usedAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return users.ErrTokenInvalid
		case err != nil:
			return wrap("load refresh token", err)
		case revokedAt != nil || !now.Before(sess.ExpiresAt):
			return users.ErrTokenInvalid
		case usedAt != nil:
			reused = true
			_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE id = $1`, sess.ID, now)
			return wrap("revoke reused session", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1`, oldHash, now); err != nil {
			return wrap("spend refresh token", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)`, newHash, sess.ID, now)
		return wrap("insert refresh token", err)
	})
	if err == nil && reused {
		err = users.ErrTokenReused
	}
	return sess, err
}

// RevokeSessionOf revokes the session a refresh token belongs to.
func (s *Store) RevokeSessionOf(ctx context.Context, tokenHash []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now()
		WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL`, tokenHash)
	return wrap("revoke session", err)
}

// RevokeSessions revokes every session of a user.
func (s *Store) RevokeSessions(ctx context.Context, userID uuid.UUID) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, userID)
	return wrap("revoke sessions", err)
}

// CreateReset stores a password reset token's hash.
func (s *Store) CreateReset(ctx context.Context, userID uuid.UUID, tokenHash []byte, expires time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`, tokenHash, userID, expires)
	return wrap("insert password reset", err)
}

// ResetOwner returns the email of a live reset token's active account.
func (s *Store) ResetOwner(ctx context.Context, tokenHash []byte, now time.Time) (string, error) {
	var email string
	err := s.pool.QueryRow(ctx, `SELECT u.email FROM password_resets r JOIN users u ON u.id = r.user_id
		WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND NOT u.disabled`, tokenHash, now).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", users.ErrTokenInvalid
	}
	return email, wrap("load reset token", err)
}

// ConsumeReset spends a live reset token (a single UPDATE, so only one of
// several concurrent uses wins), sets the password, spends the user's other
// reset tokens and revokes every session.
func (s *Store) ConsumeReset(ctx context.Context, tokenHash []byte, hash string, now time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var userID uuid.UUID
		err := tx.QueryRow(ctx, `UPDATE password_resets SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
			  AND user_id IN (SELECT id FROM users WHERE NOT disabled)
			RETURNING user_id`, tokenHash, now).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return users.ErrTokenInvalid
		}
		if err != nil {
			return wrap("spend reset token", err)
		}
		batch := &pgx.Batch{}
		batch.Queue(`UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1`, userID, hash, now)
		batch.Queue(`UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, userID, now)
		batch.Queue(`UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, now)
		return wrap("reset password", tx.SendBatch(ctx, batch).Close())
	})
}

// Counts returns the live counters of keys, in order, in one query.
func (s *Store) Counts(ctx context.Context, keys []string, now time.Time) ([]users.Counter, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, count, window_end FROM throttle_counters
		WHERE key = ANY($1) AND window_end > $2`, keys, now)
	if err != nil {
		return nil, wrap("load throttle counters", err)
	}
	defer rows.Close()
	found := map[string]users.Counter{}
	for rows.Next() {
		var (
			key string
			c   users.Counter
		)
		if err := rows.Scan(&key, &c.Count, &c.WindowEnd); err != nil {
			return nil, wrap("load throttle counters", err)
		}
		found[key] = c
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("load throttle counters", err)
	}
	out := make([]users.Counter, len(keys))
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, nil
}

// Increment counts one event, opening a new window when the last ended,
// and returns the key's count and window with it: counting first and then
// comparing is one atomic step, so concurrent events cannot all see room
// under a limit.
func (s *Store) Increment(ctx context.Context, key string, now time.Time, window time.Duration) (users.Counter, error) {
	var c users.Counter
	err := s.pool.QueryRow(ctx, `INSERT INTO throttle_counters AS f (key, count, window_end) VALUES ($1, 1, $3)
		ON CONFLICT (key) DO UPDATE SET
			count      = CASE WHEN f.window_end <= $2 THEN 1 ELSE f.count + 1 END,
			window_end = CASE WHEN f.window_end <= $2 THEN $3 ELSE f.window_end END
		RETURNING count, window_end`, key, now, now.Add(window)).Scan(&c.Count, &c.WindowEnd)
	return c, wrap("increment throttle counter", err)
}

// ClearCount forgets the events of key (failures, after a good login).
func (s *Store) ClearCount(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM throttle_counters WHERE key = $1`, key)
	return wrap("clear throttle counter", err)
}

// Sweep deletes rows that can no longer matter: ended throttling windows, and
// sessions and reset tokens that expired, were revoked or spent over a day
// before now. Several instances may sweep at once harmlessly.
func (s *Store) Sweep(ctx context.Context, now time.Time) error {
	grace := now.Add(-24 * time.Hour)
	batch := &pgx.Batch{}
	batch.Queue(`DELETE FROM throttle_counters WHERE window_end < $1`, now)
	batch.Queue(`DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1`, grace)
	batch.Queue(`DELETE FROM password_resets WHERE expires_at < $1`, grace)
	// Far beyond any redelivery of the order event (the consumer's retries
	// last a day at most; see ADR 40).
	batch.Queue(`DELETE FROM order_confirmations WHERE sent_at < $1`, now.Add(-30*24*time.Hour))
	return wrap("sweep", s.pool.SendBatch(ctx, batch).Close())
}

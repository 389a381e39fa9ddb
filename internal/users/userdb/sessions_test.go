package userdb_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/users"
)

// liveSessions counts the user's sessions that are not revoked, and the
// refresh tokens of all of them.
func (e env) liveSessions(t *testing.T, id uuid.UUID) (sessions, tokens int) {
	t.Helper()
	err := e.db.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL),
		(SELECT count(*) FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = $1)`, id).
		Scan(&sessions, &tokens)
	if err != nil {
		t.Fatalf("count sessions: %v", err)
	}
	return sessions, tokens
}

func TestASessionOpensOnlyWhileTheVerifiedHashIsStillTheUsersAndTheAccountEnabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name string
		// meanwhile changes the account between the login's read of its
		// hash and the session's insert.
		meanwhile func(ctx context.Context, u users.User) error
		want      error
	}{
		{"nothing changed: the session opens", func(context.Context, users.User) error { return nil }, nil},
		{"a password change replaced the hash", func(ctx context.Context, u users.User) error {
			return e.ChangePassword(ctx, u.ID, "$argon2id$changed", uuid.Nil)
		}, users.ErrCredentialsChanged},
		{"a reset replaced the hash", func(ctx context.Context, u users.User) error {
			reset := token()
			if err := e.CreateReset(ctx, u.ID, reset, time.Now().Add(time.Hour)); err != nil {
				return err
			}
			return e.ConsumeReset(ctx, reset, "$argon2id$reset", time.Now())
		}, users.ErrCredentialsChanged},
		{"the account was disabled", func(ctx context.Context, u users.User) error {
			_, err := e.SetDisabled(ctx, u.ID, true)
			return err
		}, users.ErrCredentialsChanged},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			u := e.mustUser(t, "verified"+strconv.Itoa(i)+"@example.com")
			if err := tt.meanwhile(ctx, u); err != nil {
				t.Fatal(err)
			}
			sess := users.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, ExpiresAt: at(time.Now().Add(time.Hour))}
			err := e.CreateSession(ctx, sess, token(), u.PasswordHash)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CreateSession with the hash read before = %v, want %v", err, tt.want)
			}
			wantRows := 0
			if tt.want == nil {
				wantRows = 1
			}
			if s, tok := e.liveSessions(t, u.ID); s != wantRows || tok != wantRows {
				t.Errorf("%d live sessions and %d refresh tokens, want %d of each", s, tok, wantRows)
			}
		})
	}
}

// A password change in flight holds the user's row; a session insert made
// meanwhile must wait for it and then open nothing. Without the wait, it
// would read the old hash from before the change's commit and open a
// session the change's revocation, already done, never saw.
func TestASessionInsertRacingAPasswordChangeInFlightWaitsAndOpensNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u := e.mustUser(t, "inflight@example.com")
	tx, err := e.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	// What ChangePassword does, but held open before its commit.
	if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = '$argon2id$changed' WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, u.ID); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		sess := users.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, ExpiresAt: at(time.Now().Add(time.Hour))}
		done <- e.CreateSession(context.Background(), sess, token(), u.PasswordHash)
	}()
	var early error
	returned := false
	eventually.True(t, "the session insert waits for the change's lock, or returns", func() bool {
		select {
		case early = <-done:
			returned = true
			return true
		default:
		}
		return e.waitsForALock(t, "INSERT INTO sessions")
	})
	if returned {
		t.Fatalf("the session insert did not wait for the change in flight: it returned %v", early)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := eventually.Receive(t, "the session insert to return", done); !errors.Is(err, users.ErrCredentialsChanged) {
		t.Errorf("CreateSession after the change committed = %v, want ErrCredentialsChanged", err)
	}
	if s, tok := e.liveSessions(t, u.ID); s != 0 || tok != 0 {
		t.Errorf("%d live sessions and %d refresh tokens survive the change, want none", s, tok)
	}
}

// waitsForALock reports whether a statement holding query is waiting for
// a lock. It asks on a connection of its own: a transaction sees the
// activity of others as it was when it first looked.
func (e env) waitsForALock(t *testing.T, query string) bool {
	t.Helper()
	var n int
	err := e.db.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, $1) > 0`, query).Scan(&n)
	if err != nil {
		t.Fatalf("look for a waiting statement: %v", err)
	}
	return n > 0
}

func TestARehashReplacesOnlyTheHashItWasMadeFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name    string
		current string // the hash when the rehash lands; the user starts with $argon2id$hash
		want    string
	}{
		{"the verified hash is still the user's: it is replaced", "$argon2id$hash", "$argon2id$rehashed"},
		{"a reset or change replaced it since: nothing changes", "$argon2id$reset", "$argon2id$reset"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			u := e.mustUser(t, "rehashed"+strconv.Itoa(i)+"@example.com")
			if tt.current != u.PasswordHash {
				if err := e.ChangePassword(ctx, u.ID, tt.current, uuid.Nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.SetPasswordHash(ctx, u.ID, u.PasswordHash, "$argon2id$rehashed"); err != nil {
				t.Fatalf("SetPasswordHash: %v", err)
			}
			if got := e.mustGet(t, u.ID).PasswordHash; got != tt.want {
				t.Errorf("stored hash %q, want %q", got, tt.want)
			}
		})
	}
}

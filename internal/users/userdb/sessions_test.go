package userdb_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/users"
)

// hash is the stored form of a made-up token.
func hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// mustSession stores a session of u that ends in a day, with token as its
// first refresh token.
func (e env) mustSession(t *testing.T, u users.User, token string) users.Session {
	t.Helper()
	s := users.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, ExpiresAt: at(time.Now().Add(24 * time.Hour))}
	if err := e.CreateSession(t.Context(), s, hash(token)); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return s
}

func TestARefreshTokenIsSpentOnceAndItsReuseRevokesTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now := t.Context(), time.Now()
	s := e.mustSession(t, e.mustUser(t, "rotating@example.com"), "first")

	got, err := e.RotateRefresh(ctx, hash("first"), hash("second"), now)
	if err != nil || got.ID != s.ID || got.UserID != s.UserID || !got.ExpiresAt.Equal(s.ExpiresAt) {
		t.Fatalf("RotateRefresh(first) = %+v, %v; want the session %+v", got, err, s)
	}
	tests := []struct {
		name       string
		old, new   string
		at         time.Time
		want       error
		wantRevoke bool // the session is revoked afterwards
	}{
		{"an unknown token is invalid", "unknown", "x1", now, users.ErrTokenInvalid, false},
		{"a token past its session's end is invalid", "second", "x2", s.ExpiresAt, users.ErrTokenInvalid, false},
		{"a spent token is a reuse", "first", "x3", now, users.ErrTokenReused, true},
		{"then even the live token of the revoked session is invalid", "second", "x4", now, users.ErrTokenInvalid, true},
	}
	for _, tt := range tests {
		if _, err := e.RotateRefresh(ctx, hash(tt.old), hash(tt.new), tt.at); !errors.Is(err, tt.want) {
			t.Errorf("%s: RotateRefresh = %v, want %v", tt.name, err, tt.want)
		}
		var revoked bool
		if err := e.db.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM sessions WHERE id = $1`, s.ID).Scan(&revoked); err != nil {
			t.Fatal(err)
		}
		if revoked != tt.wantRevoke {
			t.Errorf("%s: session revoked = %v, want %v", tt.name, revoked, tt.wantRevoke)
		}
	}
}

func TestOfConcurrentUsesOfOneRefreshTokenExactlyOneRotates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSession(t, e.mustUser(t, "racing@example.com"), "shared")
	const callers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results = map[error]int{}
	)
	for i := range callers {
		wg.Go(func() {
			_, err := e.RotateRefresh(t.Context(), hash("shared"), hash(fmt.Sprint("next-", i)), time.Now())
			mu.Lock()
			defer mu.Unlock()
			results[err]++
		})
	}
	wg.Wait()
	if results[nil] != 1 || results[users.ErrTokenReused]+results[users.ErrTokenInvalid] != callers-1 {
		t.Errorf("results %v: want one rotation and every other use refused", results)
	}
}

func TestAResetTokenIsSpentOnceAndSpendsTheOthersAndTheSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now := t.Context(), time.Now()
	u := e.mustUser(t, "resetting@example.com")
	e.mustSession(t, u, "live")
	for _, token := range []string{"mailed-1", "mailed-2"} {
		if err := e.CreateReset(ctx, u.ID, hash(token), now.Add(time.Hour)); err != nil {
			t.Fatalf("CreateReset: %v", err)
		}
	}
	if email, err := e.ResetOwner(ctx, hash("mailed-1"), now); err != nil || email != u.Email {
		t.Fatalf("ResetOwner = %q, %v; want %s", email, err, u.Email)
	}
	if err := e.ConsumeReset(ctx, hash("mailed-1"), "$argon2id$new", now); err != nil {
		t.Fatalf("ConsumeReset: %v", err)
	}
	if got := e.mustGet(t, u.ID); got.PasswordHash != "$argon2id$new" {
		t.Errorf("password hash %q after the reset", got.PasswordHash)
	}
	for _, token := range []string{"mailed-1", "mailed-2"} {
		if err := e.ConsumeReset(ctx, hash(token), "$argon2id$again", now); !errors.Is(err, users.ErrTokenInvalid) {
			t.Errorf("ConsumeReset(%s) after a reset = %v, want ErrTokenInvalid", token, err)
		}
	}
	if _, err := e.RotateRefresh(ctx, hash("live"), hash("after"), now); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("a session from before the reset refreshed: %v, want ErrTokenInvalid", err)
	}
}

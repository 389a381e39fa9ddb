package users_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/mail"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/users"
	"github.com/marketplace-go/marketplace/internal/users/password"
	"github.com/marketplace-go/marketplace/internal/users/tokens"
	"github.com/marketplace-go/marketplace/internal/users/userdb"
)

// fastArgon keeps the tests' hashes cheap.
var fastArgon = password.Params{MemoryKiB: 1024, Time: 1, Threads: 1}

const (
	oldPassword = "plum-kettle-orbit-42"
	newPassword = "copper-lantern-meadow-3"
)

// raceEnv is a service over the real store and hasher, whose hasher lets a
// test commit a change of the account at the moments a concurrent request
// could: after a login has read and verified the hash, or when it starts
// to rehash.
type raceEnv struct {
	svc    *users.Service
	store  *userdb.Store
	db     *pgxpool.Pool
	hasher *interleavingHasher
}

func newRaceEnv(t *testing.T) *raceEnv {
	t.Helper()
	_, pool := pgtest.New(t, userdb.Migrations())
	key := fieldcrypt.Key{ID: "k1", Secret: make([]byte, fieldcrypt.KeySize)}
	rand.Read(key.Secret)
	ring, err := fieldcrypt.NewKeyring([]fieldcrypt.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := tokens.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := tokens.NewIssuer(keys, tokens.Config{Issuer: "test-issuer", Audience: "test-audience", TTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	hashes := password.NewPool(fastArgon, password.Limits{Workers: 1, Queue: 16})
	t.Cleanup(hashes.Close)
	log := slog.New(slog.DiscardHandler)
	queue := mail.NewQueue(mail.NewLog(log), log, 16, 1)
	t.Cleanup(queue.Close)
	e := &raceEnv{store: userdb.New(pool, ring), db: pool, hasher: &interleavingHasher{Hasher: hashes}}
	e.svc, err = users.NewService(t.Context(), users.Deps{Store: e.store, Hasher: e.hasher, Tokens: issuer, Mailer: queue, Log: log},
		users.Policy{SessionTTL: time.Hour, ResetTTL: 30 * time.Minute, AccountMaxFailures: 5, AddressMaxFailures: 50,
			FailureWindow: 15 * time.Minute, ResetMaxMails: 3})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// interleavingHasher is the service's real hasher. A step armed with
// afterVerify runs once the next login has read and verified its hash, one
// armed with beforeHash as the next hash (a rehash) starts: where a
// request racing the login could commit.
type interleavingHasher struct {
	users.Hasher
	mu                      sync.Mutex
	afterVerify, beforeHash func(context.Context)
}

func (h *interleavingHasher) VerifyLoaded(ctx context.Context, pw string, load func(context.Context) (string, error)) (bool, bool, error) {
	ok, rehash, err := h.Hasher.VerifyLoaded(ctx, pw, load)
	h.take(&h.afterVerify)(ctx)
	return ok, rehash, err
}

func (h *interleavingHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.take(&h.beforeHash)(ctx)
	return h.Hasher.Hash(ctx, pw)
}

// take disarms the step in slot and returns it, or a step that does nothing.
func (h *interleavingHasher) take(slot *func(context.Context)) func(context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	step := *slot
	*slot = nil
	if step == nil {
		return func(context.Context) {}
	}
	return step
}

func (h *interleavingHasher) arm(slot *func(context.Context), step func(context.Context)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	*slot = step
}

// mustRegister creates an account with oldPassword.
func (e *raceEnv) mustRegister(t *testing.T, email string) users.User {
	t.Helper()
	u, err := e.svc.Register(t.Context(), users.Registration{Email: email, Password: oldPassword, DisplayName: "Racer"})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return u
}

// reset sets newPassword through a reset token, as a confirmed reset does.
func (e *raceEnv) reset(t *testing.T, ctx context.Context, u users.User) {
	t.Helper()
	sum := sha256.Sum256([]byte(rand.Text()))
	if err := e.store.CreateReset(ctx, u.ID, sum[:], time.Now().Add(time.Hour)); err != nil {
		t.Errorf("create reset: %v", err)
		return
	}
	if err := e.store.ConsumeReset(ctx, sum[:], fastArgon.Hash(newPassword), time.Now()); err != nil {
		t.Errorf("reset password: %v", err)
	}
}

// storedHash is the user's password hash as stored now.
func (e *raceEnv) storedHash(t *testing.T, id uuid.UUID) string {
	t.Helper()
	u, err := e.store.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("load user: %v", err)
	}
	return u.PasswordHash
}

// liveSessions counts the user's sessions that are not revoked.
func (e *raceEnv) liveSessions(t *testing.T, id uuid.UUID) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(t.Context(), `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, id).Scan(&n); err != nil {
		t.Fatalf("count sessions: %v", err)
	}
	return n
}

func TestALoginThatRacesAPasswordResetOrChangeOpensNoSession(t *testing.T) {
	t.Parallel()
	e := newRaceEnv(t)
	tests := []struct {
		name string
		// meanwhile commits while the login hashes the password it read.
		meanwhile func(t *testing.T, ctx context.Context, u users.User)
		// newPasswordWorks: the change set newPassword, which then logs in.
		newPasswordWorks bool
	}{
		{"a password reset", func(t *testing.T, ctx context.Context, u users.User) { e.reset(t, ctx, u) }, true},
		{"a password change", func(t *testing.T, ctx context.Context, u users.User) {
			if err := e.store.ChangePassword(ctx, u.ID, fastArgon.Hash(newPassword), uuid.Nil); err != nil {
				t.Errorf("change password: %v", err)
			}
		}, true},
		{"the account being disabled", func(t *testing.T, ctx context.Context, u users.User) {
			if _, err := e.store.SetDisabled(ctx, u.ID, true); err != nil {
				t.Errorf("disable: %v", err)
			}
		}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			email := "raced" + strconv.Itoa(i) + "@example.com"
			u := e.mustRegister(t, email)
			e.hasher.arm(&e.hasher.afterVerify, func(ctx context.Context) { tt.meanwhile(t, ctx, u) })

			_, err := e.svc.Login(ctx, email, oldPassword, "192.0.2.1")
			if !errs.Is(err, "invalid_credentials") {
				t.Fatalf("a login whose verified password was replaced = %v, want invalid_credentials", err)
			}
			if n := e.liveSessions(t, u.ID); n != 0 {
				t.Errorf("%d live sessions after the login, want none", n)
			}
			// The password was right when it was read: no failure counted.
			counts, err := e.store.Counts(ctx, []string{"account:" + email}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if counts[0].Count != 0 {
				t.Errorf("%d failed logins counted for the account, want none", counts[0].Count)
			}
			if tt.newPasswordWorks {
				if _, err := e.svc.Login(ctx, email, newPassword, "192.0.2.1"); err != nil {
					t.Errorf("a login with the new password: %v", err)
				}
			}
		})
	}
}

func TestARehashRacingAPasswordResetKeepsTheResetsPassword(t *testing.T) {
	t.Parallel()
	e := newRaceEnv(t)
	ctx := t.Context()
	u := e.mustRegister(t, "legacy@example.com")
	weak := password.Params{MemoryKiB: 512, Time: 1, Threads: 1}.Hash(oldPassword)
	if err := e.store.ChangePassword(ctx, u.ID, weak, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	// The login's session is open by the time the rehash starts; the reset
	// commits then, revoking it.
	e.hasher.arm(&e.hasher.beforeHash, func(ctx context.Context) { e.reset(t, ctx, u) })

	if _, err := e.svc.Login(ctx, "legacy@example.com", oldPassword, "192.0.2.1"); err != nil {
		t.Fatalf("login with the password of the moment: %v", err)
	}
	stored := e.storedHash(t, u.ID)
	if ok, _, _ := fastArgon.Verify(oldPassword, stored); ok {
		t.Error("the rehash brought back the password the reset replaced")
	}
	if ok, _, _ := fastArgon.Verify(newPassword, stored); !ok {
		t.Error("the reset's password no longer works")
	}
	if n := e.liveSessions(t, u.ID); n != 0 {
		t.Errorf("%d live sessions after the reset, want none", n)
	}
}

package userdb_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/users"
	"github.com/marketplace-go/marketplace/internal/users/userdb"
)

// env is a store over a fresh database, with the pool for looking at rows
// as they are stored.
type env struct {
	*userdb.Store
	db *pgxpool.Pool
	// buyer, when set, is the one confirmations are claimed for.
	buyer *users.User
}

func newEnv(t *testing.T) env {
	t.Helper()
	_, pool := pgtest.New(t, userdb.Migrations())
	key := fieldcrypt.Key{ID: "k1", Secret: make([]byte, fieldcrypt.KeySize)}
	rand.Read(key.Secret)
	ring, err := fieldcrypt.NewKeyring([]fieldcrypt.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	return env{Store: userdb.New(pool, ring), db: pool}
}

// at is a time as PostgreSQL keeps it.
func at(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (e env) mustUser(t *testing.T, email string) users.User {
	t.Helper()
	now := at(time.Now())
	u := users.User{ID: uuid.Must(uuid.NewV7()), Email: email, DisplayName: "Name of " + email, PasswordHash: "$argon2id$hash",
		Roles: []string{"buyer"}, Preferences: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now}
	if err := e.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func (e env) mustGet(t *testing.T, id uuid.UUID) users.User {
	t.Helper()
	u, err := e.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	return u
}

func TestAUserReadsBackByIDAndByEmailInAnyCase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u := e.mustUser(t, "ada@example.com")
	byID := e.mustGet(t, u.ID)
	if diff := cmp.Diff(u, byID); diff != "" {
		t.Errorf("UserByID (-want +got):\n%s", diff)
	}
	byEmail, err := e.UserByEmail(ctx, "ADA@Example.com")
	if err != nil || byEmail.ID != u.ID {
		t.Errorf("UserByEmail in upper case = %v, %v", byEmail.ID, err)
	}
	if _, err := e.UserByID(ctx, uuid.New()); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("UserByID of nobody: %v, want ErrNotFound", err)
	}
	if _, err := e.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("UserByEmail of nobody: %v, want ErrNotFound", err)
	}
	dup := u
	dup.ID, dup.Email = uuid.Must(uuid.NewV7()), "Ada@Example.COM"
	if err := e.CreateUser(ctx, dup); !errors.Is(err, users.ErrEmailTaken) {
		t.Errorf("CreateUser with the email in another case: %v, want ErrEmailTaken", err)
	}
}

func TestPhoneAndAddressAreSealedAtRestAndBoundToTheirRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u, other := e.mustUser(t, "grace@example.com"), e.mustUser(t, "alan@example.com")
	phone, name := "+44 20 7946 0958", "Grace H."
	addr := &users.Address{Name: "Grace Hopper", Line1: "1 Navy Road", City: "Arlington", PostalCode: "22201", Country: "US"}
	got, err := e.UpdateProfile(ctx, u.ID, users.ProfileUpdate{DisplayName: &name, Phone: &phone, Address: addr, Preferences: json.RawMessage(`{"lang":"en"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Phone != phone || !cmp.Equal(got.Address, addr) || got.DisplayName != name || string(got.Preferences) != `{"lang": "en"}` {
		t.Errorf("UpdateProfile = %+v", got)
	}

	var sealedPhone, sealedAddress string
	if err := e.db.QueryRow(ctx, `SELECT phone_sealed, address_sealed FROM users WHERE id = $1`, u.ID).Scan(&sealedPhone, &sealedAddress); err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"7946", "Navy", "Arlington"} {
		if strings.Contains(sealedPhone+sealedAddress, plain) {
			t.Errorf("%q is readable in the stored row", plain)
		}
	}

	// A sealed value copied onto another row does not open there.
	if _, err := e.db.Exec(ctx, `UPDATE users SET phone_sealed = $2 WHERE id = $1`, other.ID, sealedPhone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UserByID(ctx, other.ID); err == nil {
		t.Error("a phone sealed for another user opened")
	}

	// A partial update leaves the rest; Clear* empties a field.
	got, err = e.UpdateProfile(ctx, u.ID, users.ProfileUpdate{ClearPhone: true})
	if err != nil || got.Phone != "" || !cmp.Equal(got.Address, addr) || got.DisplayName != name {
		t.Errorf("after clearing the phone: %+v, %v", got, err)
	}
	got, err = e.UpdateProfile(ctx, u.ID, users.ProfileUpdate{ClearAddress: true})
	if err != nil || got.Address != nil {
		t.Errorf("after clearing the address: %+v, %v", got, err)
	}
}

func TestRolesAndShopsChangeIdempotentlyAndShopNamesAreUnique(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u, rival := e.mustUser(t, "shopkeeper@example.com"), e.mustUser(t, "rival@example.com")
	for range 2 {
		got, err := e.AddRole(ctx, u.ID, "admin")
		if err != nil || !cmp.Equal(got.Roles, []string{"buyer", "admin"}) {
			t.Errorf("AddRole = %v, %v", got.Roles, err)
		}
	}
	for range 2 {
		got, err := e.RemoveRole(ctx, u.ID, "admin")
		if err != nil || !cmp.Equal(got.Roles, []string{"buyer"}) {
			t.Errorf("RemoveRole = %v, %v", got.Roles, err)
		}
	}
	got, err := e.BecomeSeller(ctx, u.ID, "Lamps & Co")
	if err != nil || got.ShopName != "Lamps & Co" || !cmp.Equal(got.Roles, []string{"buyer", "seller"}) {
		t.Fatalf("BecomeSeller = %+v, %v", got, err)
	}
	if _, err := e.BecomeSeller(ctx, u.ID, "Second shop"); !errors.Is(err, users.ErrAlreadySeller) {
		t.Errorf("a second shop: %v, want ErrAlreadySeller", err)
	}
	if _, err := e.BecomeSeller(ctx, rival.ID, "LAMPS & CO"); !errors.Is(err, users.ErrShopNameTaken) {
		t.Errorf("a taken shop name in another case: %v, want ErrShopNameTaken", err)
	}
	if r := e.mustGet(t, rival.ID); r.ShopName != "" || slices.Contains(r.Roles, "seller") {
		t.Errorf("the refused rival is %+v, want no shop and no seller role", r)
	}
}

func TestListUsersPagesByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []uuid.UUID
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"} {
		want = append(want, e.mustUser(t, email).ID)
	}
	var got []uuid.UUID
	after := uuid.Nil
	for {
		page, err := e.ListUsers(t.Context(), "", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			got = append(got, u.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if diff := cmp.Diff(want, got); diff != "" { // UUIDv7: creation order is id order
		t.Errorf("users over the pages (-want +got):\n%s", diff)
	}
}

func TestListUsersFindsTheEmailsHoldingATextLiterallyInAnyCase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, email := range []string{"Ann.Lee@Example.com", "annika@shop.example", "bob@example.com", "a_n%n@example.com"} {
		e.mustUser(t, email)
	}
	tests := []struct {
		name   string
		search string
		want   []string
	}{
		{"a part of the local part, in another case", "ANN", []string{"Ann.Lee@Example.com", "annika@shop.example"}},
		{"a domain", "shop.example", []string{"annika@shop.example"}},
		{"LIKE's wildcards are letters", "_n%", []string{"a_n%n@example.com"}},
		{"a percent sign alone matches only itself", "%", []string{"a_n%n@example.com"}},
		{"no account holds it", "carol", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := e.ListUsers(t.Context(), strings.ToLower(tt.search), uuid.Nil, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range list {
				got = append(got, u.Email)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("search %q (-want +got):\n%s", tt.search, diff)
			}
		})
	}
}

// token returns a fresh opaque token's hash, as the service stores it.
func token() []byte {
	h := sha256.Sum256([]byte(rand.Text()))
	return h[:]
}

func (e env) mustSession(t *testing.T, u users.User, ttl time.Duration) (users.Session, []byte) {
	t.Helper()
	s := users.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, ExpiresAt: at(time.Now().Add(ttl))}
	first := token()
	if err := e.CreateSession(t.Context(), s, first, u.PasswordHash); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return s, first
}

func TestARefreshTokenIsSpentOnceAndItsReuseRevokesTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u := e.mustUser(t, "rotating@example.com")
	sess, first := e.mustSession(t, u, time.Hour)
	second := token()
	got, err := e.RotateRefresh(ctx, first, second, time.Now())
	if err != nil || got.ID != sess.ID || got.UserID != u.ID || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("RotateRefresh = %+v, %v; want session %+v", got, err, sess)
	}
	if _, err := e.RotateRefresh(ctx, first, token(), time.Now()); !errors.Is(err, users.ErrTokenReused) {
		t.Fatalf("spending the first token again: %v, want ErrTokenReused", err)
	}
	// The reuse revoked the whole family: the good token is dead too.
	if _, err := e.RotateRefresh(ctx, second, token(), time.Now()); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("the second token after the reuse: %v, want ErrTokenInvalid", err)
	}
	if _, err := e.RotateRefresh(ctx, token(), token(), time.Now()); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("an unknown token: %v, want ErrTokenInvalid", err)
	}
	_, expiring := e.mustSession(t, u, time.Minute)
	if _, err := e.RotateRefresh(ctx, expiring, token(), time.Now().Add(2*time.Minute)); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("a token of an expired session: %v, want ErrTokenInvalid", err)
	}
}

func TestOfConcurrentUsesOfOneRefreshTokenExactlyOneRotatesIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, first := e.mustSession(t, e.mustUser(t, "racing@example.com"), time.Hour)
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		ok, reused  int
		start       = make(chan struct{})
		unexplained []error
	)
	for range 10 {
		wg.Go(func() {
			<-start
			_, err := e.RotateRefresh(t.Context(), first, token(), time.Now())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, users.ErrTokenReused), errors.Is(err, users.ErrTokenInvalid):
				reused++
			default:
				unexplained = append(unexplained, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok != 1 || reused != 9 || len(unexplained) > 0 {
		t.Errorf("%d rotated, %d refused, errors %v; want 1 and 9", ok, reused, unexplained)
	}
}

func TestRevokingSessions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tests := []struct {
		name   string
		revoke func(e env, u users.User, keep users.Session, keepToken []byte) error
		kept   bool // whether keep survives; the other session never does
	}{
		{"logout-all revokes every session", func(e env, u users.User, _ users.Session, _ []byte) error {
			return e.RevokeSessions(ctx, u.ID)
		}, false},
		{"a password change keeps the session that made it", func(e env, u users.User, keep users.Session, _ []byte) error {
			return e.ChangePassword(ctx, u.ID, "$argon2id$new", keep.ID)
		}, true},
		{"disabling the account revokes every session", func(e env, u users.User, _ users.Session, _ []byte) error {
			_, err := e.SetDisabled(ctx, u.ID, true)
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			u := e.mustUser(t, "sessions@example.com")
			keep, keepToken := e.mustSession(t, u, time.Hour)
			_, otherToken := e.mustSession(t, u, time.Hour)
			if err := tt.revoke(e, u, keep, keepToken); err != nil {
				t.Fatal(err)
			}
			if _, err := e.RotateRefresh(ctx, otherToken, token(), time.Now()); !errors.Is(err, users.ErrTokenInvalid) {
				t.Errorf("the other session: %v, want it revoked", err)
			}
			_, err := e.RotateRefresh(ctx, keepToken, token(), time.Now())
			if tt.kept != (err == nil) {
				t.Errorf("the kept session: %v, want kept %v", err, tt.kept)
			}
		})
	}
	t.Run("logout revokes only the session of the token", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		u := e.mustUser(t, "logout@example.com")
		_, gone := e.mustSession(t, u, time.Hour)
		_, stays := e.mustSession(t, u, time.Hour)
		if err := e.RevokeSessionOf(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if _, err := e.RotateRefresh(ctx, gone, token(), time.Now()); !errors.Is(err, users.ErrTokenInvalid) {
			t.Errorf("the logged-out session: %v, want ErrTokenInvalid", err)
		}
		if _, err := e.RotateRefresh(ctx, stays, token(), time.Now()); err != nil {
			t.Errorf("the other session: %v, want it alive", err)
		}
	})
}

func TestAResetTokenIsSpentOnceAndSpendsTheOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u := e.mustUser(t, "forgetful@example.com")
	_, session := e.mustSession(t, u, time.Hour)
	now := time.Now()
	reset, spare, expired := token(), token(), token()
	for _, r := range []struct {
		hash    []byte
		expires time.Time
	}{{reset, now.Add(time.Hour)}, {spare, now.Add(time.Hour)}, {expired, now.Add(-time.Second)}} {
		if err := e.CreateReset(ctx, u.ID, r.hash, r.expires); err != nil {
			t.Fatal(err)
		}
	}
	if email, err := e.ResetOwner(ctx, reset, now); err != nil || email != u.Email {
		t.Errorf("ResetOwner = %q, %v", email, err)
	}
	if _, err := e.ResetOwner(ctx, expired, now); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("ResetOwner of an expired token: %v, want ErrTokenInvalid", err)
	}
	if err := e.ConsumeReset(ctx, expired, "$argon2id$x", now); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("ConsumeReset of an expired token: %v, want ErrTokenInvalid", err)
	}

	// Of several concurrent uses, one wins.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 5 {
		wg.Go(func() {
			err := e.ConsumeReset(ctx, reset, "$argon2id$reset", now)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, users.ErrTokenInvalid) {
				t.Errorf("ConsumeReset: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of 5 concurrent resets won, want 1", wins)
	}
	if got := e.mustGet(t, u.ID); got.PasswordHash != "$argon2id$reset" {
		t.Errorf("password hash %q after the reset", got.PasswordHash)
	}
	if err := e.ConsumeReset(ctx, spare, "$argon2id$spare", now); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("the user's other reset token after a reset: %v, want it spent", err)
	}
	if _, err := e.RotateRefresh(ctx, session, token(), now); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("a session from before the reset: %v, want it revoked", err)
	}
}

func TestAResetTokenOfADisabledAccountIsDead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u := e.mustUser(t, "blocked@example.com")
	reset := token()
	if err := e.CreateReset(ctx, u.ID, reset, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ResetOwner(ctx, reset, time.Now()); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("ResetOwner: %v, want ErrTokenInvalid", err)
	}
	if err := e.ConsumeReset(ctx, reset, "$argon2id$x", time.Now()); !errors.Is(err, users.ErrTokenInvalid) {
		t.Errorf("ConsumeReset: %v, want ErrTokenInvalid", err)
	}
}

func TestThrottleCountersCountInFixedWindows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	t0 := at(time.Now())
	const window = time.Minute
	counts := func(now time.Time) []users.Counter {
		t.Helper()
		c, err := e.Counts(ctx, []string{"account:x", "address:y", "unknown"}, now)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for i, now := range []time.Time{t0, t0.Add(10 * time.Second), t0.Add(50 * time.Second)} {
		c, err := e.Increment(ctx, "account:x", now, window)
		if err != nil || c.Count != i+1 || !c.WindowEnd.Equal(t0.Add(window)) {
			t.Fatalf("increment %d: %+v, %v; want %d in the window to %v", i+1, c, err, i+1, t0.Add(window))
		}
		if i == 0 {
			if _, err := e.Increment(ctx, "address:y", now, window); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []users.Counter{{Count: 3, WindowEnd: t0.Add(window)}, {Count: 1, WindowEnd: t0.Add(window)}, {}}
	if diff := cmp.Diff(want, counts(t0.Add(55*time.Second))); diff != "" {
		t.Errorf("counts in the window (-want +got):\n%s", diff)
	}
	later := t0.Add(window + time.Second)
	if diff := cmp.Diff([]users.Counter{{}, {}, {}}, counts(later)); diff != "" {
		t.Errorf("counts after the window (-want +got):\n%s", diff)
	}
	if _, err := e.Increment(ctx, "account:x", later, window); err != nil {
		t.Fatal(err)
	}
	if got := counts(later)[0]; got.Count != 1 || !got.WindowEnd.Equal(later.Add(window)) {
		t.Errorf("the first event after the window: %+v, want a new window counting 1", got)
	}
	if err := e.ClearCount(ctx, "account:x"); err != nil {
		t.Fatal(err)
	}
	if got := counts(later)[0]; got.Count != 0 {
		t.Errorf("after ClearCount: %+v", got)
	}
}

func TestConcurrentIncrementsAreNeverLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int]bool{}
	)
	for range 25 {
		wg.Go(func() {
			c, err := e.Increment(t.Context(), "address:flood", now, time.Minute)
			if err != nil {
				t.Errorf("Increment: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			seen[c.Count] = true
		})
	}
	wg.Wait()
	c, err := e.Counts(t.Context(), []string{"address:flood"}, now)
	if err != nil || c[0].Count != 25 {
		t.Errorf("Counts = %+v, %v; want 25", c, err)
	}
	// Each increment saw its own count: a limit compared with it admits
	// exactly as many as the limit, however many race.
	if len(seen) != 25 {
		t.Errorf("the increments returned %d distinct counts, want 25", len(seen))
	}
}

func TestSweepDeletesOnlyWhatCanNoLongerMatter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	now := time.Now()
	u := e.mustUser(t, "swept@example.com")
	_, live := e.mustSession(t, u, time.Hour)
	old := users.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, ExpiresAt: now.Add(-48 * time.Hour)}
	if err := e.CreateSession(ctx, old, token(), u.PasswordHash); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateReset(ctx, u.ID, token(), now.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Increment(ctx, "account:old", now.Add(-time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Increment(ctx, "account:live", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.Sweep(ctx, now); err != nil {
		t.Fatal(err)
	}
	var sessions, resets, counters int
	err := e.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM password_resets),
		(SELECT count(*) FROM throttle_counters)`).Scan(&sessions, &resets, &counters)
	if err != nil {
		t.Fatal(err)
	}
	if sessions != 1 || resets != 0 || counters != 1 {
		t.Errorf("after the sweep: %d sessions, %d resets, %d counters; want 1, 0, 1", sessions, resets, counters)
	}
	if _, err := e.RotateRefresh(ctx, live, token(), now); err != nil {
		t.Errorf("the live session after the sweep: %v", err)
	}
}

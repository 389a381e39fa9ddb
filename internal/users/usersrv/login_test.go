package usersrv_test

import (
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/users/password"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

func (e *testEnv) tryLogin(t *testing.T, email, pw string, header ...string) response {
	t.Helper()
	return e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": pw}, header...)
}

func TestLogin(t *testing.T) {
	t.Parallel()
	for _, hasher := range []string{usersrv.HasherInProcess, usersrv.HasherProcess} {
		t.Run("hashing "+hasher, func(t *testing.T) {
			t.Parallel()
			runScenarios(t, newEnv(t, func(c *usersrv.Config) { c.Hasher = hasher }),
				scenario{"unknown email and wrong password fail alike", testUnknownEmailAndWrongPasswordFailAlike},
				scenario{"disabled users cannot log in or refresh", testDisabledUsersCannotLogInOrRefresh},
				scenario{"login rehashes passwords made with weaker parameters", testLoginRehashesPasswordsMadeWithWeakerParameters},
				scenario{"a corrupt stored hash fails one login, not the service", testACorruptStoredHashFailsOneLoginNotTheService},
			)
		})
	}
}

func testUnknownEmailAndWrongPasswordFailAlike(t *testing.T, e *testEnv) {
	e.mustRegister(t, "known@example.com")

	unknown := e.tryLogin(t, "unknown@example.com", goodPassword)
	wrong := e.tryLogin(t, "known@example.com", "wrong-password-123")
	a := unknown.wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	b := wrong.wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	delete(a, "request_id")
	delete(b, "request_id")
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("problems differ (-unknown email +wrong password):\n%s", diff)
	}
	for _, h := range []string{"Content-Type", "Retry-After", "WWW-Authenticate", "Cache-Control"} {
		if unknown.Header.Get(h) != wrong.Header.Get(h) {
			t.Errorf("header %s differs: %q vs %q", h, unknown.Header.Get(h), wrong.Header.Get(h))
		}
	}
}

// TestFailedLoginsTakeSimilarTimeForUnknownAndKnownEmails checks that the
// time of a failed login does not tell whether the email has an account. It
// uses the production argon2 parameters, which dominate the cost, hashed
// where production hashes them (child processes), and runs alone (no
// t.Parallel) so other tests do not skew the clock.
func TestFailedLoginsTakeSimilarTimeForUnknownAndKnownEmails(t *testing.T) {
	if testing.Short() {
		t.Skip("times production argon2 hashes, alone")
	}
	tests := []struct {
		name string
		// stored, if set, replaces the account's hash with one made with
		// these parameters: an account not rehashed since a raise.
		stored *password.Params
	}{
		{name: "with the current parameters"},
		{name: "with a hash from before the parameters were raised eightfold",
			stored: &password.Params{MemoryKiB: password.OWASP.MemoryKiB / 4, Time: password.OWASP.Time / 2, Threads: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *usersrv.Config) {
				c.Argon, c.Hasher = password.OWASP, usersrv.HasherProcess
				c.AccountMaxFailures, c.AddressMaxFailures = 1000, 100000
			})
			e.mustRegister(t, "timed@example.com")
			if tt.stored != nil {
				if _, err := e.DB.Exec(t.Context(), `UPDATE users SET password_hash = $1 WHERE email = $2`,
					tt.stored.Hash(goodPassword), "timed@example.com"); err != nil {
					t.Fatal(err)
				}
			}
			const n = 15
			measure := func(email string) time.Duration {
				start := time.Now()
				e.tryLogin(t, email, "wrong-password-123").want(t, http.StatusUnauthorized)
				return time.Since(start)
			}
			measure("warmup@example.com")
			var unknown, wrong []time.Duration
			for i := range n { // interleaved, so drifts of the machine hit both alike
				unknown = append(unknown, measure("nobody"+strconv.Itoa(i)+"@example.com"))
				wrong = append(wrong, measure("timed@example.com"))
			}
			mu, mw := median(unknown), median(wrong)
			ratio := float64(mu) / float64(mw)
			t.Logf("median failed login: unknown email %v, wrong password %v, ratio %.2f", mu, mw, ratio)
			if ratio < 0.5 || ratio > 2 {
				t.Errorf("unknown-email logins take %.2f times as long as wrong-password ones; want 0.5..2", ratio)
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestRepeatedFailuresForOneAccountAreThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *usersrv.Config) { c.AccountMaxFailures, c.AddressMaxFailures = 3, 100 })
	e.mustRegister(t, "target@example.com")
	e.mustRegister(t, "neighbour@example.com")

	// A good login clears the account's count.
	for range 2 {
		e.tryLogin(t, "target@example.com", "wrong-password-123").wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	}
	e.mustLogin(t, "target@example.com")
	for range 3 {
		e.tryLogin(t, "Target@Example.com", "wrong-password-123").wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	}
	for _, pw := range []string{goodPassword, "wrong-password-123"} {
		r := e.tryLogin(t, "target@example.com", pw)
		r.wantProblem(t, http.StatusTooManyRequests, "too_many_login_attempts")
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > int((15*time.Minute).Seconds()) {
			t.Errorf("Retry-After %q, want 1..900 seconds", r.Header.Get("Retry-After"))
		}
	}
	e.mustLogin(t, "neighbour@example.com")
}

func TestConcurrentGuessesAtOneAccountGetNoMoreTriesThanItsLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *usersrv.Config) { c.AccountMaxFailures, c.AddressMaxFailures, c.HashQueue = 5, 1000, 64 })
	e.mustRegister(t, "raced@example.com")
	rs := e.concurrently(t, 40, func(int) (string, string, string, any) {
		return "POST", "/v1/auth/login", "", map[string]string{"email": "raced@example.com", "password": "wrong-password-123"}
	})
	got := statuses(rs)
	if got[http.StatusUnauthorized] != 5 || got[http.StatusTooManyRequests] != 35 {
		t.Errorf("statuses %v, want 5 guesses checked (401) and 35 refused (429)", got)
	}
	e.tryLogin(t, "raced@example.com", goodPassword).wantProblem(t, http.StatusTooManyRequests, "too_many_login_attempts")
}

func TestWrongCurrentPasswordsOnChangeAreThrottledLikeLogins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *usersrv.Config) { c.AccountMaxFailures = 3 })
	_, tok := e.mustUser(t, "guessed@example.com")
	change := func(current string) response {
		return e.do(t, "POST", "/v1/users/me/password", tok.AccessToken,
			map[string]string{"current_password": current, "new_password": "copper-lantern-meadow-3"})
	}
	for range 3 {
		change("wrong-password-123").wantProblem(t, http.StatusForbidden, "wrong_password")
	}
	change(goodPassword).wantProblem(t, http.StatusTooManyRequests, "too_many_login_attempts")
	e.tryLogin(t, "guessed@example.com", goodPassword).wantProblem(t, http.StatusTooManyRequests, "too_many_login_attempts")
}

func TestThrottlingEndsWithTheWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *usersrv.Config) { c.AccountMaxFailures, c.FailureWindow = 2, 15*time.Minute })
	e.mustRegister(t, "patient@example.com")
	for range 2 {
		e.tryLogin(t, "patient@example.com", "wrong-password-123").want(t, http.StatusUnauthorized)
	}
	e.tryLogin(t, "patient@example.com", goodPassword).wantProblem(t, http.StatusTooManyRequests, "too_many_login_attempts")
	e.Clock.Advance(14 * time.Minute)
	e.tryLogin(t, "patient@example.com", goodPassword).wantProblem(t, http.StatusTooManyRequests, "too_many_login_attempts")
	e.Clock.Advance(time.Minute)
	e.mustLogin(t, "patient@example.com")
}

func TestRepeatedFailuresFromOneAddressAreThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *usersrv.Config) { c.AccountMaxFailures, c.AddressMaxFailures = 100, 4 })
	e.mustRegister(t, "innocent@example.com")
	for i := range 4 {
		e.tryLogin(t, "guess"+strconv.Itoa(i)+"@example.com", "wrong-password-123").want(t, http.StatusUnauthorized)
	}
	r := e.tryLogin(t, "innocent@example.com", goodPassword)
	r.wantProblem(t, http.StatusTooManyRequests, "too_many_login_attempts")
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After header")
	}
	// Without trusted proxies, a client cannot pick its address.
	e.tryLogin(t, "innocent@example.com", goodPassword, "X-Forwarded-For", "203.0.113.7").
		wantProblem(t, http.StatusTooManyRequests, "too_many_login_attempts")
}

func TestFailuresFromAddressesOfOneIPv6Slash64AreThrottledTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *usersrv.Config) {
		c.AccountMaxFailures, c.AddressMaxFailures = 100, 4
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	e.mustRegister(t, "innocent@example.com")
	from := func(addr string) []string { return []string{"X-Forwarded-For", addr} }
	for i := range 4 {
		e.tryLogin(t, "guess"+strconv.Itoa(i)+"@example.com", "wrong-password-123", from("2001:db8:1:2::"+strconv.Itoa(i+1))...).
			want(t, http.StatusUnauthorized)
	}
	e.tryLogin(t, "innocent@example.com", goodPassword, from("2001:db8:1:2:ffff::9")...).
		wantProblem(t, http.StatusTooManyRequests, "too_many_login_attempts")
	e.tryLogin(t, "innocent@example.com", goodPassword, from("2001:db8:1:3::1")...).want(t, http.StatusOK)
}

// TestAFloodOfLoginsIsRefusedAtOnceWhenTheHashQueueIsFull runs alone: it
// needs the hashing pool, not the machine, to be the bottleneck.
func TestAFloodOfLoginsIsRefusedAtOnceWhenTheHashQueueIsFull(t *testing.T) {
	if testing.Short() {
		t.Skip("floods production argon2 hashes, alone")
	}
	e := newEnv(t, func(c *usersrv.Config) { c.Argon, c.HashWorkers, c.HashQueue = password.OWASP, 1, 1 })
	e.mustRegister(t, "popular@example.com")

	f := floodLogins(t, e, "popular@example.com", 20)
	// While hashes are running and queued, other endpoints still answer.
	eventually.Receive(t, "a login refused as busy", f.busy)
	began := time.Now()
	e.do(t, "GET", "/healthz", "", nil).want(t, http.StatusOK)
	if d := time.Since(began); d > time.Second {
		t.Errorf("/healthz took %v during the flood", d)
	}

	counts := map[int]int{}
	for _, r := range f.wait() {
		counts[r.Status]++
		switch r.Status {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			r.wantProblem(t, http.StatusServiceUnavailable, "busy")
			if r.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		default:
			t.Errorf("status %d: %s", r.Status, r.Body)
		}
	}
	t.Logf("statuses: %v", counts)
	if counts[http.StatusServiceUnavailable] == 0 || counts[http.StatusOK] == 0 {
		t.Errorf("statuses %v, want some 200 and some 503", counts)
	}
}

// TestByDefaultALoginFloodLeavesTheServiceRoomForItsOtherRequests floods
// more logins than the service works on at once (64): with the default
// hashing queue, those waiting for a hash hold only a few of its slots, so
// a signed-in user's request is taken at once instead of waiting behind
// them in the service's queue.
func TestByDefaultALoginFloodLeavesTheServiceRoomForItsOtherRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("floods production argon2 hashes, alone")
	}
	defaults := usersrv.LoadConfig(config.FromLookup(func(string) (string, bool) { return "", false }), config.Shared{DataDir: t.TempDir()})
	// The account's limit is out of the way: more logins of one account at
	// once than it allows are refused before the queue (429), and this
	// test is about the queue.
	e := newEnv(t, func(c *usersrv.Config) {
		c.Argon, c.HashWorkers, c.HashQueue, c.HashBusy, c.AccountMaxFailures = password.OWASP, 1, defaults.HashQueue, defaults.HashBusy, 1000
	})
	_, reader := e.mustUser(t, "reader@example.com")
	e.mustRegister(t, "popular@example.com")

	f := floodLogins(t, e, "popular@example.com", 200)
	eventually.Receive(t, "a login answered", f.answered)
	began := time.Now()
	e.do(t, "GET", "/v1/users/me", reader.AccessToken, nil).want(t, http.StatusOK)
	if d := time.Since(began); d > 2*time.Second { // 3.4s when the queue let logins hold every slot
		t.Errorf("GET /v1/users/me took %v during the flood; it waited for a slot behind logins", d)
	}
	counts := map[int]int{}
	for _, r := range f.wait() {
		counts[r.Status]++
	}
	if n := counts[http.StatusOK] + counts[http.StatusServiceUnavailable]; n != 200 {
		t.Errorf("statuses %v; want only 200 and 503", counts)
	}
}

// flood is logins sent at once. answered is closed at the first answer,
// busy at the first refusal; wait returns every answer.
type flood struct {
	answered, busy <-chan struct{}
	wait           func() []response
}

// floodLogins sends n good logins for email at once.
func floodLogins(t *testing.T, e *testEnv, email string, n int) flood {
	t.Helper()
	var (
		wg        sync.WaitGroup
		start     = make(chan struct{})
		results   = make(chan response, n)
		first     sync.Once
		answered  = make(chan struct{})
		firstBusy sync.Once
		busy      = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			r, err := e.request("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": goodPassword})
			if err != nil {
				t.Error(err)
				return
			}
			first.Do(func() { close(answered) })
			if r.Status == http.StatusServiceUnavailable {
				firstBusy.Do(func() { close(busy) })
			}
			results <- r
		})
	}
	close(start)
	return flood{answered: answered, busy: busy, wait: func() []response {
		wg.Wait()
		close(results)
		var all []response
		for r := range results {
			all = append(all, r)
		}
		return all
	}}
}

func testDisabledUsersCannotLogInOrRefresh(t *testing.T, e *testEnv) {
	_, admin := e.mustAdmin(t, "login-admin@example.com")
	u, tok := e.mustUser(t, "disabled@example.com")

	var got userBody
	e.do(t, "POST", "/v1/admin/users/"+u.ID+"/disable", admin.AccessToken, nil).want(t, http.StatusOK).decode(t, &got)
	if !got.Disabled {
		t.Fatalf("disable answered %+v", got)
	}
	e.tryLogin(t, "disabled@example.com", goodPassword).wantProblem(t, http.StatusForbidden, "account_disabled")
	// A wrong password says nothing about the account's state.
	e.tryLogin(t, "disabled@example.com", "wrong-password-123").wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	e.refresh(t, tok.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
	// The access token is not expired yet, but the account behind it is off.
	e.do(t, "GET", "/v1/users/me", tok.AccessToken, nil).wantProblem(t, http.StatusForbidden, "account_disabled")
	e.do(t, "PATCH", "/v1/users/me", tok.AccessToken, map[string]string{"display_name": "Still here"}).
		wantProblem(t, http.StatusForbidden, "account_disabled")

	e.do(t, "POST", "/v1/admin/users/"+u.ID+"/enable", admin.AccessToken, nil).want(t, http.StatusOK).decode(t, &got)
	if got.Disabled {
		t.Fatalf("enable answered %+v", got)
	}
	e.refresh(t, tok.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token") // revoked for good
	fresh := e.mustLogin(t, "disabled@example.com")
	e.mustRefresh(t, fresh.RefreshToken)
}

func testLoginRehashesPasswordsMadeWithWeakerParameters(t *testing.T, e *testEnv) {
	u := e.mustRegister(t, "legacy@example.com")
	weak := password.Params{MemoryKiB: 512, Time: 1, Threads: 1}.Hash(goodPassword)
	e.exec(t, `UPDATE users SET password_hash = $2 WHERE id = $1`, u.ID, weak)
	stored := func() string {
		var h string
		if err := e.DB.QueryRow(t.Context(), `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}

	e.tryLogin(t, "legacy@example.com", "wrong-password-123").want(t, http.StatusUnauthorized)
	if stored() != weak {
		t.Fatal("a failed login changed the stored hash")
	}
	e.mustLogin(t, "legacy@example.com")
	h := stored()
	if !strings.Contains(h, "$m=1024,t=1,p=1$") {
		t.Fatalf("stored hash %q, want the current parameters m=1024,t=1,p=1", h)
	}
	if ok, rehash, err := fastArgon.Verify(goodPassword, h); !ok || rehash || err != nil {
		t.Errorf("new hash: ok %v rehash %v err %v", ok, rehash, err)
	}
	e.mustLogin(t, "legacy@example.com")
	if stored() != h {
		t.Error("a hash with the current parameters was rehashed again")
	}
}

func testACorruptStoredHashFailsOneLoginNotTheService(t *testing.T, e *testEnv) {
	u := e.mustRegister(t, "corrupt@example.com")
	e.mustRegister(t, "healthy@example.com")
	// t=0 made argon2 panic on a hashing worker, which no middleware
	// recovers: the whole process died.
	e.exec(t, `UPDATE users SET password_hash = '$argon2id$v=19$m=1024,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U'
		WHERE id = $1`, u.ID)
	e.tryLogin(t, "corrupt@example.com", goodPassword).wantProblem(t, http.StatusInternalServerError, "internal")
	e.mustLogin(t, "healthy@example.com")
}

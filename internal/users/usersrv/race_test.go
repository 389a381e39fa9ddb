package usersrv_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRaces(t *testing.T) {
	t.Parallel()
	runScenarios(t, newEnv(t),
		scenario{"concurrent registrations of one email create one account", testConcurrentRegistrationsOfOneEmailCreateOneAccount},
		scenario{"concurrent refreshes of one token succeed at most once", testConcurrentRefreshesOfOneTokenSucceedAtMostOnce},
		scenario{"concurrent confirmations of one reset token succeed once", testConcurrentConfirmationsOfOneResetTokenSucceedOnce},
		scenario{"concurrent seller requests open one shop", testConcurrentSellerRequestsOpenOneShop},
	)
}

func testConcurrentRegistrationsOfOneEmailCreateOneAccount(t *testing.T, e *testEnv) {
	const n = 20
	rs := e.concurrently(t, n, func(i int) (string, string, string, any) {
		email := "race@example.com"
		if i%2 == 1 {
			email = "RACE@Example.com"
		}
		return "POST", "/v1/auth/register", "", map[string]string{
			"email": email, "password": "racing-password-" + strconv.Itoa(i), "display_name": "Racer " + strconv.Itoa(i),
		}
	})
	if diff := cmp.Diff(map[int]int{http.StatusCreated: 1, http.StatusConflict: n - 1}, statuses(rs)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	var winner int
	for i, r := range rs {
		if r.Status == http.StatusConflict {
			r.wantProblem(t, http.StatusConflict, "email_taken")
		} else {
			winner = i
		}
	}
	if c := e.queryInt(t, `SELECT count(*) FROM users WHERE lower(email) = 'race@example.com'`); c != 1 {
		t.Errorf("%d rows for the email, want 1", c)
	}
	e.login(t, "race@example.com", "racing-password-"+strconv.Itoa(winner))
}

func testConcurrentRefreshesOfOneTokenSucceedAtMostOnce(t *testing.T, e *testEnv) {
	u, tok := e.mustUser(t, "refresher@example.com")
	other := e.mustLogin(t, "refresher@example.com")
	const n = 20
	rs := e.concurrently(t, n, func(int) (string, string, string, any) {
		return "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": tok.RefreshToken}
	})
	counts := statuses(rs)
	if counts[http.StatusOK] > 1 || counts[http.StatusOK]+counts[http.StatusUnauthorized] != n {
		t.Fatalf("statuses %v, want at most one 200 and the rest 401", counts)
	}
	for _, r := range rs {
		if r.Status == http.StatusOK {
			// Every loser presented a spent token, which revokes the family:
			// the winner's new token is dead too.
			var won tokenBody
			r.decode(t, &won)
			e.refresh(t, won.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
		} else {
			r.wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
		}
	}
	if c := e.queryInt(t, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, u.ID); c != 1 {
		t.Errorf("%d live sessions, want only the other login's", c)
	}
	e.mustRefresh(t, other.RefreshToken)
}

func testConcurrentConfirmationsOfOneResetTokenSucceedOnce(t *testing.T, e *testEnv) {
	e.mustRegister(t, "hurried@example.com")
	e.requestReset(t, "hurried@example.com")
	token := resetToken(t, e.mailsTo(t, "hurried@example.com", 1)[0])
	const n = 10
	rs := e.concurrently(t, n, func(i int) (string, string, string, any) {
		return "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "new_password": "new-password-number-" + strconv.Itoa(i)}
	})
	if diff := cmp.Diff(map[int]int{http.StatusNoContent: 1, http.StatusBadRequest: n - 1}, statuses(rs)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	var hash string
	if err := e.DB.QueryRow(t.Context(), `SELECT password_hash FROM users WHERE email = 'hurried@example.com'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Status != http.StatusNoContent {
			r.wantProblem(t, http.StatusBadRequest, "invalid_reset_token")
		}
		// Only the winner's password was stored.
		if ok, _, _ := fastArgon.Verify("new-password-number-"+strconv.Itoa(i), hash); ok != (r.Status == http.StatusNoContent) {
			t.Errorf("request %d answered %d, but its password matches the stored hash: %v", i, r.Status, ok)
		}
	}
}

func testConcurrentSellerRequestsOpenOneShop(t *testing.T, e *testEnv) {
	u, tok := e.mustUser(t, "eager@example.com")
	const n = 10
	rs := e.concurrently(t, n, func(i int) (string, string, string, any) {
		return "POST", "/v1/users/me/seller", tok.AccessToken, map[string]string{"shop_name": "Eager Shop " + strconv.Itoa(i)}
	})
	if diff := cmp.Diff(map[int]int{http.StatusCreated: 1, http.StatusConflict: n - 1}, statuses(rs)); diff != "" {
		t.Errorf("one user asking %d times at once (-want +got):\n%s", n, diff)
	}

	if c := e.queryInt(t, `SELECT count(*) FROM sellers WHERE user_id = $1`, u.ID); c != 1 {
		t.Errorf("%d shops, want 1", c)
	}

	var rivals []string
	for i := range n {
		_, rival := e.mustUser(t, "rival"+strconv.Itoa(i)+"@example.com")
		rivals = append(rivals, rival.AccessToken)
	}
	rs = e.concurrently(t, n, func(i int) (string, string, string, any) {
		name := "Contested Shop"
		if i%2 == 1 {
			name = strings.ToUpper(name)
		}
		return "POST", "/v1/users/me/seller", rivals[i], map[string]string{"shop_name": name}
	})
	if diff := cmp.Diff(map[int]int{http.StatusCreated: 1, http.StatusConflict: n - 1}, statuses(rs)); diff != "" {
		t.Errorf("%d users asking for one shop name at once (-want +got):\n%s", n, diff)
	}
	for _, r := range rs {
		if r.Status == http.StatusConflict {
			r.wantProblem(t, http.StatusConflict, "shop_name_taken")
		}
	}
}

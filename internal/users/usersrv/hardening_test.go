package usersrv_test

import (
	"fmt"
	"net/http"
	"testing"
)

// The cases an outside probe found: each must be a clear 4xx that changes
// nothing.
func TestHardening(t *testing.T) {
	t.Parallel()
	runScenarios(t, newEnv(t),
		scenario{"a NUL in preferences is refused and changes nothing", testANulInPreferencesIsRefusedAndChangesNothing},
		scenario{"half a surrogate pair in preferences is refused and changes nothing", testHalfASurrogatePairInPreferencesIsRefusedAndChangesNothing},
		scenario{"an empty password change is refused before any hashing", testAnEmptyPasswordChangeIsRefusedBeforeAnyHashing},
		scenario{"a refresh without a token is a bad request", testARefreshWithoutATokenIsABadRequest},
		scenario{"a UTF-16 body is unsupported and creates nothing", testAUTF16BodyIsUnsupportedAndCreatesNothing},
		scenario{"profiles are never stored by caches", testProfilesAreNeverStoredByCaches},
		scenario{"a reset request answers alike and mails only a known address", testAResetRequestAnswersAlikeAndMailsOnlyAKnownAddress},
	)
}

func testANulInPreferencesIsRefusedAndChangesNothing(t *testing.T, e *testEnv) {
	_, tok := e.mustUser(t, "nul-prefs@example.com")
	before := e.me(t, tok.AccessToken)
	for _, body := range []string{
		`{"display_name":"y","preferences":{"currency":"\u0000nul","language":"de"}}`,
		`{"display_name":"y\u0000"}`,
		`{"display_name":"y","preferences":{"a\u0000":"b"}}`,
	} {
		e.do(t, "PATCH", "/v1/users/me", tok.AccessToken, body).wantProblem(t, http.StatusBadRequest, "validation_failed")
	}
	if after := e.me(t, tok.AccessToken); after.DisplayName != before.DisplayName || len(after.Preferences) != len(before.Preferences) {
		t.Errorf("profile changed from %+v to %+v", before, after)
	}
}

// Preferences are stored as the client wrote them, and PostgreSQL's jsonb
// refuses an escape of half a surrogate pair (SQLSTATE 22P02): found by an
// outside probe as a 500 after the NUL was fixed.
func testHalfASurrogatePairInPreferencesIsRefusedAndChangesNothing(t *testing.T, e *testEnv) {
	_, tok := e.mustUser(t, "surrogate-prefs@example.com")
	e.do(t, "PATCH", "/v1/users/me", tok.AccessToken, `{"preferences":{"language":"de"}}`).want(t, http.StatusOK)
	before := e.me(t, tok.AccessToken)
	for _, body := range []string{
		`{"display_name":"y","preferences":{"currency":"\ud800","language":"fr"}}`,
		`{"preferences":{"\udc00":"x"}}`,
		`{"preferences":{"nested":{"deep":["\ud800\u0041"]}}}`,
	} {
		e.do(t, "PATCH", "/v1/users/me", tok.AccessToken, body).wantProblem(t, http.StatusBadRequest, "validation_failed")
	}
	after := e.me(t, tok.AccessToken)
	if after.DisplayName != before.DisplayName || fmt.Sprint(after.Preferences) != fmt.Sprint(before.Preferences) {
		t.Errorf("profile changed from %+v to %+v", before, after)
	}
	// A whole pair is ordinary text and is kept.
	e.do(t, "PATCH", "/v1/users/me", tok.AccessToken, `{"preferences":{"mood":"\ud83d\ude00"}}`).want(t, http.StatusOK)
	if got := e.me(t, tok.AccessToken).Preferences["mood"]; got != "\U0001F600" {
		t.Errorf("preferences.mood = %q, want the emoji", got)
	}
}

func testAnEmptyPasswordChangeIsRefusedBeforeAnyHashing(t *testing.T, e *testEnv) {
	u, tok := e.mustUser(t, "empty-change@example.com")
	r := e.do(t, "POST", "/v1/users/me/password", tok.AccessToken, `{}`)
	r.wantFieldError(t, "current_password")
	r.wantFieldError(t, "new_password")
	// A verified wrong password counts as a failure against the account.
	if n := e.queryInt(t, `SELECT count(*) FROM throttle_counters WHERE key = $1`, "account:"+u.Email); n != 0 {
		t.Errorf("%d failure counters for the account, want 0: the password was checked", n)
	}
	e.login(t, u.Email, goodPassword)
}

func testARefreshWithoutATokenIsABadRequest(t *testing.T, e *testEnv) {
	e.do(t, "POST", "/v1/auth/refresh", "", `{}`).wantFieldError(t, "refresh_token")
}

func testAUTF16BodyIsUnsupportedAndCreatesNothing(t *testing.T, e *testEnv) {
	e.do(t, "POST", "/v1/auth/register", "", `{"email":"utf16@example.com","password":"plum-kettle-orbit-42","display_name":"U"}`,
		"Content-Type", "application/json; charset=utf-16").wantProblem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	if n := e.queryInt(t, `SELECT count(*) FROM users WHERE email = $1`, "utf16@example.com"); n != 0 {
		t.Errorf("%d accounts created", n)
	}
}

func testProfilesAreNeverStoredByCaches(t *testing.T, e *testEnv) {
	_, tok := e.mustUser(t, "no-store@example.com")
	r := e.do(t, "GET", "/v1/users/me", tok.AccessToken, nil).want(t, http.StatusOK)
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}

func testAResetRequestAnswersAlikeAndMailsOnlyAKnownAddress(t *testing.T, e *testEnv) {
	e.mustRegister(t, "known-reset@example.com")
	known := e.do(t, "POST", "/v1/auth/password-reset", "", `{"email":"known-reset@example.com"}`).want(t, http.StatusAccepted)
	unknown := e.do(t, "POST", "/v1/auth/password-reset", "", `{"email":"unknown-reset@example.com"}`).want(t, http.StatusAccepted)
	if string(known.Body) != string(unknown.Body) {
		t.Errorf("answers differ: %s and %s", known.Body, unknown.Body)
	}
	// Once the background work is done, the unknown address has queued
	// nothing while the known one got its mail.
	e.Users.Service.WaitResets()
	e.Users.FlushMail() // every mail the requests queued has been sent: what is not there, never was
	e.Mail.WaitFor(t, "known-reset@example.com")
	for _, m := range e.Mail.Messages() {
		for _, to := range m.To {
			if to == "unknown-reset@example.com" {
				t.Error("an unknown address got a reset mail")
			}
		}
	}
}

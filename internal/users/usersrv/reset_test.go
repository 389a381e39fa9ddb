package usersrv_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/mail/mailtest"
)

var resetLink = regexp.MustCompile(`http://shop\.test/reset-password\?token=([A-Za-z0-9_-]+)`)

// requestReset asks for a reset mail and returns the answer's body, which
// must be the same 202 whatever the email.
// The account is looked up and its token made after the answer; it waits
// for that background work, so what follows sees its effects.
func (e *testEnv) requestReset(t *testing.T, email string) string {
	t.Helper()
	body := string(e.do(t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": email}).want(t, http.StatusAccepted).Body)
	e.Users.Service.WaitResets()
	return body
}

// mailsTo waits until n messages to rcpt have arrived and returns them.
func (e *testEnv) mailsTo(t *testing.T, rcpt string, n int) []mailtest.Message {
	t.Helper()
	var got []mailtest.Message
	eventually.NoError(t, fmt.Sprintf("%d mails to %s", n, rcpt), func() error {
		got = got[:0]
		for _, m := range e.Mail.Messages() {
			if len(m.To) == 1 && strings.EqualFold(m.To[0], rcpt) {
				got = append(got, m)
			}
		}
		if len(got) < n {
			return fmt.Errorf("%d arrived", len(got))
		}
		return nil
	})
	return got
}

// resetToken returns the token of the link in a reset mail.
func resetToken(t *testing.T, m mailtest.Message) string {
	t.Helper()
	match := resetLink.FindStringSubmatch(m.Data)
	if match == nil {
		t.Fatalf("no reset link in mail:\n%s", m.Data)
	}
	return match[1]
}

func (e *testEnv) confirmReset(t *testing.T, token, pw string) response {
	t.Helper()
	return e.do(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "new_password": pw})
}

func TestPasswordResets(t *testing.T) {
	t.Parallel()
	runScenarios(t, newEnv(t),
		scenario{"password reset through mail", testPasswordResetThroughMail},
		scenario{"using one reset token spends the others", testUsingOneResetTokenSpendsTheOthers},
		scenario{"reset tokens that are expired unknown or for a disabled account are refused", testResetTokensThatAreExpiredUnknownOrForADisabledAccountAreRefused},
		scenario{"a disabled account gets no reset mail", testADisabledAccountGetsNoResetMail},
		scenario{"a reset applies the password policy with the owner's email", testAResetAppliesThePasswordPolicyWithTheOwnersEmail},
		scenario{"reset mails to one address are capped per window", testResetMailsToOneAddressAreCappedPerWindow},
		scenario{"concurrent reset requests for one address mail no more than the cap", testConcurrentResetRequestsForOneAddressMailNoMoreThanTheCap},
	)
}

func testResetMailsToOneAddressAreCappedPerWindow(t *testing.T, e *testEnv) {
	const email = "flooded@example.com"
	e.mustRegister(t, email)
	first := e.requestReset(t, email)
	for range 4 {
		if body := e.requestReset(t, "Flooded@Example.com"); body != first {
			t.Errorf("answer %s differs from the first %s", body, first)
		}
	}
	if n := e.queryInt(t, `SELECT count(*) FROM password_resets r JOIN users u ON u.id = r.user_id WHERE u.email = $1`, email); n != 3 {
		t.Errorf("%d reset tokens issued, want the cap of 3", n)
	}
	if got := len(e.mailsTo(t, email, 3)); got != 3 {
		t.Errorf("%d mails, want 3", got)
	}
}

func testConcurrentResetRequestsForOneAddressMailNoMoreThanTheCap(t *testing.T, e *testEnv) {
	const email = "raced-reset@example.com"
	e.mustRegister(t, email)
	rs := e.concurrently(t, 20, func(int) (string, string, string, any) {
		return "POST", "/v1/auth/password-reset", "", map[string]string{"email": email}
	})
	if got := statuses(rs); got[http.StatusAccepted] != 20 {
		t.Errorf("statuses %v, want 20 × 202", got)
	}
	e.Users.Service.WaitResets()
	if n := e.queryInt(t, `SELECT count(*) FROM password_resets r JOIN users u ON u.id = r.user_id WHERE u.email = $1`, email); n != 3 {
		t.Errorf("%d reset tokens issued, want the cap of 3", n)
	}
}

func testAResetAppliesThePasswordPolicyWithTheOwnersEmail(t *testing.T, e *testEnv) {
	const email = "policy-reset@example.com"
	e.mustRegister(t, email)
	e.requestReset(t, email)
	token := resetToken(t, e.mailsTo(t, email, 1)[0])
	e.confirmReset(t, token, strings.ToUpper(email)).wantFieldError(t, "new_password")
	// The refusal did not spend the token.
	e.confirmReset(t, token, "copper-lantern-meadow-3").want(t, http.StatusNoContent)
}

func testPasswordResetThroughMail(t *testing.T, e *testEnv) {
	const email, newPassword = "forgetful@example.com", "copper-lantern-meadow-3"
	e.mustRegister(t, email)
	phone := e.mustLogin(t, email)
	laptop := e.mustRefresh(t, e.mustLogin(t, email).RefreshToken)

	unknown := e.requestReset(t, "stranger@example.com")
	malformed := e.requestReset(t, "not an email")
	known := e.requestReset(t, "Forgetful@Example.com")
	if unknown != known || malformed != known {
		t.Errorf("answers differ:\nunknown   %s\nmalformed %s\nknown     %s", unknown, malformed, known)
	}

	m := e.mailsTo(t, email, 1)[0]
	if !strings.Contains(m.Data, "Subject: Reset your password") || m.From != "shop@test" {
		t.Errorf("mail from %s:\n%s", m.From, m.Data)
	}
	token := resetToken(t, m)
	e.Users.FlushMail() // every mail the requests queued has been sent: what is not there, never was
	for _, other := range e.Mail.Messages() {
		if strings.EqualFold(other.To[0], "stranger@example.com") {
			t.Error("an unknown email was mailed")
		}
	}
	if n := e.queryInt(t, `SELECT count(*) FROM password_resets WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, token); n != 1 {
		t.Errorf("the mailed token is not stored hashed (%d rows match its SHA-256)", n)
	}

	e.confirmReset(t, token, "password1234").wantFieldError(t, "new_password")
	e.confirmReset(t, token, newPassword).want(t, http.StatusNoContent)

	for _, tok := range []tokenBody{phone, laptop} {
		e.refresh(t, tok.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
	}
	e.login(t, email, newPassword)
	e.tryLogin(t, email, goodPassword).wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	e.confirmReset(t, token, "another-new-password-8").wantProblem(t, http.StatusBadRequest, "invalid_reset_token")
	e.login(t, email, newPassword)
}

func testUsingOneResetTokenSpendsTheOthers(t *testing.T, e *testEnv) {
	e.mustRegister(t, "twice@example.com")
	e.requestReset(t, "twice@example.com")
	e.requestReset(t, "twice@example.com")
	mails := e.mailsTo(t, "twice@example.com", 2)
	first, second := resetToken(t, mails[0]), resetToken(t, mails[1])
	if first == second {
		t.Fatal("two requests mailed the same token")
	}
	e.confirmReset(t, second, "copper-lantern-meadow-3").want(t, http.StatusNoContent)
	e.confirmReset(t, first, "velvet-harbor-canyon-7").wantProblem(t, http.StatusBadRequest, "invalid_reset_token")
	e.login(t, "twice@example.com", "copper-lantern-meadow-3")
}

func testResetTokensThatAreExpiredUnknownOrForADisabledAccountAreRefused(t *testing.T, e *testEnv) {
	_, admin := e.mustAdmin(t, "reset-admin@example.com")
	e.mustRegister(t, "late@example.com")
	blocked := e.mustRegister(t, "blocked@example.com")

	e.requestReset(t, "late@example.com")
	late := resetToken(t, e.mailsTo(t, "late@example.com", 1)[0])
	e.exec(t, `UPDATE password_resets SET expires_at = now() - interval '1 second'
		WHERE user_id = (SELECT id FROM users WHERE email = 'late@example.com')`)
	e.confirmReset(t, late, "copper-lantern-meadow-3").wantProblem(t, http.StatusBadRequest, "invalid_reset_token")
	e.mustLogin(t, "late@example.com")

	e.requestReset(t, "blocked@example.com")
	early := resetToken(t, e.mailsTo(t, "blocked@example.com", 1)[0])
	e.do(t, "POST", "/v1/admin/users/"+blocked.ID+"/disable", admin.AccessToken, nil).want(t, http.StatusOK)
	e.confirmReset(t, early, "copper-lantern-meadow-3").wantProblem(t, http.StatusBadRequest, "invalid_reset_token")

	for _, token := range []string{"", "unknown-token", strings.Repeat("A", 43)} {
		e.confirmReset(t, token, "copper-lantern-meadow-3").wantProblem(t, http.StatusBadRequest, "invalid_reset_token")
	}
}

func testADisabledAccountGetsNoResetMail(t *testing.T, e *testEnv) {
	_, admin := e.mustAdmin(t, "mail-admin@example.com")
	u := e.mustRegister(t, "quiet@example.com")
	e.mustRegister(t, "active@example.com")
	e.do(t, "POST", "/v1/admin/users/"+u.ID+"/disable", admin.AccessToken, nil).want(t, http.StatusOK)

	if e.requestReset(t, "quiet@example.com") != e.requestReset(t, "active@example.com") {
		t.Error("a disabled account gets a different answer")
	}
	e.Users.FlushMail() // every mail the two requests queued has reached the SMTP server
	e.mailsTo(t, "active@example.com", 1)
	for _, m := range e.Mail.Messages() {
		if strings.EqualFold(m.To[0], "quiet@example.com") {
			t.Fatal("a disabled account was mailed a reset link")
		}
	}
	if n := e.queryInt(t, `SELECT count(*) FROM password_resets WHERE user_id = $1`, u.ID); n != 0 {
		t.Errorf("%d reset tokens stored for a disabled account", n)
	}
}

package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/mail"
)

// Policy holds the tunable rules of the service.
type Policy struct {
	SessionTTL         time.Duration // absolute lifetime of a refresh token family
	ResetTTL           time.Duration // lifetime of a password reset token
	AccountMaxFailures int           // attempts at an account's password per window, until a right one clears them
	AddressMaxFailures int           // failed logins per client address per window
	FailureWindow      time.Duration
	ResetMaxMails      int    // reset mails per address per FailureWindow
	ResetURL           string // the link mailed for a reset; the token is appended
}

// Service implements the users use cases.
type Service struct {
	store  Store
	hasher Hasher
	tokens TokenIssuer
	mailer Mailer
	log    *slog.Logger
	policy Policy
	now    func() time.Time
	// dummyHash is verified against when the email is unknown, so that both
	// kinds of failed login cost the same time.
	dummyHash string
	// resetSlots bounds the reset mails being prepared after their
	// requests were answered; resets waits for them on shutdown.
	resetSlots chan struct{}
	resets     sync.WaitGroup
}

// maxPendingResets bounds the reset mails prepared at once in the
// background; a request past it is answered alike and mails nothing.
const maxPendingResets = 64

// Deps are the collaborators a Service needs.
type Deps struct {
	Store  Store
	Hasher Hasher
	Tokens TokenIssuer
	Mailer Mailer
	Log    *slog.Logger
	Now    func() time.Time // nil means time.Now
}

// NewService returns a Service. It hashes one throwaway password to have a
// realistic hash to verify unknown emails against.
func NewService(ctx context.Context, d Deps, p Policy) (*Service, error) {
	dummy, err := d.Hasher.Hash(ctx, rand.Text())
	if err != nil {
		return nil, fmt.Errorf("prepare dummy hash: %w", err)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{store: d.Store, hasher: d.Hasher, tokens: d.Tokens, mailer: d.Mailer,
		log: d.Log, policy: p, now: d.Now, dummyHash: dummy, resetSlots: make(chan struct{}, maxPendingResets)}, nil
}

// SetClock replaces the clock, for tests that move time past a throttling
// window or an expiry. Call it before the service takes requests.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Registration is what a new user sends.
type Registration struct {
	Email       string
	Password    string
	DisplayName string
}

// Register creates a buyer account.
func (s *Service) Register(ctx context.Context, r Registration) (User, error) {
	email, err := NormalizeEmail(r.Email)
	fields := map[string]string{}
	if err != nil {
		fields["email"] = err.Error()
	}
	name, err := cleanDisplayName(r.DisplayName)
	if err != nil {
		fields["display_name"] = err.Error()
	}
	if err := CheckPassword(r.Password, email); err != nil {
		fields["password"] = err.Error()
	}
	if len(fields) > 0 {
		return User{}, errs.Validation(fields)
	}
	hash, err := s.hasher.Hash(ctx, r.Password)
	if err != nil {
		return User{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond) // PostgreSQL's precision
	u := User{ID: uuid.Must(uuid.NewV7()), Email: email, DisplayName: name, PasswordHash: hash,
		Roles: []string{auth.RoleBuyer}, Preferences: []byte("{}"), CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrEmailTaken) {
			return User{}, errEmailTaken
		}
		return User{}, fmt.Errorf("register %s: %w", u.ID, err)
	}
	return u, nil
}

// Login checks credentials and opens a session. Unknown emails and wrong
// passwords fail alike, in time as in words. Repeated failures for an
// account or a client are throttled; client is what the client is counted
// under (httpx.ClientKey: an IPv6 /64 is one client).
func (s *Service) Login(ctx context.Context, email, password, client string) (Tokens, error) {
	email, _ = NormalizeEmail(email)
	account, address := "account:"+email, "address:"+client
	var u User
	// The hasher takes the login before its reads, so that a flood of
	// logins it has no room for is refused without touching the stores.
	ok, rehash, err := s.hasher.VerifyLoaded(ctx, password, func(ctx context.Context) (hash string, err error) {
		if err := s.admit(ctx, account, address); err != nil {
			return "", err
		}
		u, err = s.store.UserByEmail(ctx, email)
		if errors.Is(err, ErrNotFound) {
			return s.dummyHash, nil
		}
		if err != nil {
			return "", fmt.Errorf("login: %w", err)
		}
		return u.PasswordHash, nil
	})
	if err != nil {
		return Tokens{}, err
	}
	if !ok || u.ID == uuid.Nil {
		return Tokens{}, s.recordFailure(ctx, address) // the account's was counted by admit
	}
	if u.Disabled {
		s.clearAttempts(ctx, account) // the password was right
		return Tokens{}, errAccountDisabled
	}
	// The session opens only if the hash verified is still the user's: a
	// reset or change that committed while the password was hashed revoked
	// every session, and must not miss this one. The login then fails as
	// a wrong password does, but is not counted as one: the password was
	// right when it was read, and its attempt is cleared as a good login's.
	tok, err := s.openSession(ctx, u)
	if err != nil && !errors.Is(err, ErrCredentialsChanged) {
		return Tokens{}, err
	}
	s.clearAttempts(ctx, account)
	if err != nil {
		return Tokens{}, errInvalidCredentials
	}
	// After the session, so that the session's check compares the hash the
	// login verified, not one this rehash wrote.
	if rehash {
		s.upgradeHash(ctx, u.ID, u.PasswordHash, password)
	}
	return tok, nil
}

// admit refuses a login while its client has failed too often, and counts
// it against its account, refusing it beyond the account's limit. The
// account's count is taken before the password is hashed, in the same
// statement that reads it, so that concurrent guesses cannot all pass a
// check made before any of them failed; a good login clears it. The
// client's failures are checked and counted in separate steps, so
// concurrent guesses can pass its limit by as many as the hasher holds.
func (s *Service) admit(ctx context.Context, account, address string) error {
	now := s.now()
	counts, err := s.store.Counts(ctx, []string{address}, now)
	if err != nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	if c := counts[0]; c.Count >= s.policy.AddressMaxFailures {
		return tooManyLogins(c, now)
	}
	return s.countAttempt(ctx, account)
}

// countAttempt counts an attempt at an account's password and refuses it
// beyond the account's limit.
func (s *Service) countAttempt(ctx context.Context, account string) error {
	now := s.now()
	c, err := s.store.Increment(ctx, account, now, s.policy.FailureWindow)
	if err != nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	if c.Count > s.policy.AccountMaxFailures {
		return tooManyLogins(c, now)
	}
	return nil
}

// clearAttempts forgets an account's attempts once its password was right.
// Failing to only leaves them counted, no reason to refuse the password.
func (s *Service) clearAttempts(ctx context.Context, account string) {
	if err := s.store.ClearCount(ctx, account); err != nil {
		s.log.WarnContext(ctx, "login throttle: attempts not cleared after a good password", "err", err)
	}
}

func tooManyLogins(c Counter, now time.Time) error {
	e := errs.New(errs.TooManyRequests, "too_many_login_attempts", "too many failed logins; try again later")
	e.RetryAfter = c.WindowEnd.Sub(now)
	return e
}

func (s *Service) recordFailure(ctx context.Context, key string) error {
	if _, err := s.store.Increment(ctx, key, s.now(), s.policy.FailureWindow); err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	return errInvalidCredentials
}

// upgradeHash rehashes with the current parameters the password whose hash
// old was verified. Failing to is no reason to refuse a correct password,
// so it is only logged. The store replaces old only, so a reset or change
// that committed meanwhile keeps its password: the rehash would otherwise
// bring back the one it replaced.
func (s *Service) upgradeHash(ctx context.Context, id uuid.UUID, old, password string) {
	hash, err := s.hasher.Hash(ctx, password)
	if err == nil {
		err = s.store.SetPasswordHash(ctx, id, old, hash)
	}
	if err != nil {
		s.log.WarnContext(ctx, "password rehash failed", "user_id", id, "err", err)
	}
}

// openSession opens a session for u as read by the login, provided u's
// password hash and state are still those; otherwise ErrCredentialsChanged.
func (s *Service) openSession(ctx context.Context, u User) (Tokens, error) {
	now := s.now().UTC().Truncate(time.Microsecond) // PostgreSQL's precision
	sess := Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, ExpiresAt: now.Add(s.policy.SessionTTL)}
	refresh, hash := newSecret()
	if err := s.store.CreateSession(ctx, sess, hash, u.PasswordHash); err != nil {
		return Tokens{}, fmt.Errorf("open session: %w", err)
	}
	return s.tokensFor(u, sess, refresh, now)
}

func (s *Service) tokensFor(u User, sess Session, refresh string, now time.Time) (Tokens, error) {
	access, exp, err := s.tokens.Issue(u, sess.ID, now)
	if err != nil {
		return Tokens{}, fmt.Errorf("issue access token: %w", err)
	}
	return Tokens{IssuedAt: now, AccessToken: access, AccessExpiresAt: exp, RefreshToken: refresh, RefreshExpiresAt: sess.ExpiresAt}, nil
}

// Refresh spends a refresh token for a new pair. Presenting a spent token
// means it was copied: the whole session is revoked.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	if refreshToken == "" {
		return Tokens{}, errs.Validation(map[string]string{"refresh_token": "is required"})
	}
	next, nextHash := newSecret()
	now := s.now().UTC()
	sess, err := s.store.RotateRefresh(ctx, hashSecret(refreshToken), nextHash, now)
	switch {
	case errors.Is(err, ErrTokenReused):
		s.log.WarnContext(ctx, "refresh token reused: session revoked", "session_id", sess.ID, "user_id", sess.UserID)
		return Tokens{}, errInvalidRefresh
	case errors.Is(err, ErrTokenInvalid):
		return Tokens{}, errInvalidRefresh
	case err != nil:
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	u, err := s.store.UserByID(ctx, sess.UserID)
	if err != nil {
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	if u.Disabled {
		return Tokens{}, errInvalidRefresh
	}
	return s.tokensFor(u, sess, next, now)
}

// Logout revokes the session the refresh token belongs to. Unknown tokens
// are ignored: the caller is logged out either way.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	if err := s.store.RevokeSessionOf(ctx, hashSecret(refreshToken)); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// LogoutEverywhere revokes every session of the user.
func (s *Service) LogoutEverywhere(ctx context.Context, userID uuid.UUID) error {
	if err := s.store.RevokeSessions(ctx, userID); err != nil {
		return fmt.Errorf("logout everywhere: %w", err)
	}
	return nil
}

// ChangePassword replaces the password after checking the current one and
// revokes every session but the caller's.
func (s *Service) ChangePassword(ctx context.Context, c auth.Claims, current, next string) error {
	// A request missing a password is refused before any hashing work.
	if missing := required(map[string]string{"current_password": current, "new_password": next}); missing != nil {
		return missing
	}
	u, err := s.userFromClaims(ctx, c)
	if err != nil {
		return err
	}
	// A stolen access token must not become an oracle for the password:
	// wrong guesses count against the account as failed logins do.
	// Counted once the hasher takes it, so that a change refused for a full
	// queue (503) does not count against the account.
	account := "account:" + u.Email
	ok, _, err := s.hasher.VerifyLoaded(ctx, current, func(ctx context.Context) (string, error) {
		return u.PasswordHash, s.countAttempt(ctx, account)
	})
	if err != nil {
		return err
	}
	if !ok {
		return errWrongPassword // counted by countAttempt
	}
	s.clearAttempts(ctx, account)
	if err := CheckPassword(next, u.Email); err != nil {
		return errs.Validation(map[string]string{"new_password": err.Error()})
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	keep, _ := uuid.Parse(c.SessionID)
	if err := s.store.ChangePassword(ctx, u.ID, hash, keep); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}

// RequestPasswordReset mails a single-use reset link when the email belongs
// to an active account. It answers the same either way, and after the same
// work: the account is looked up, and its link made and mailed, in the
// background once the caller has its answer, so the answer's timing does
// not tell known addresses from unknown ones. At most ResetMaxMails links
// go to one address per window, so the endpoint cannot be used to flood
// someone's inbox; the count is kept for every address, known or not, so
// that it does not tell them apart either.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil
	}
	// Counted before it is compared, in one statement, so that concurrent
	// requests cannot all find room for a mail.
	c, err := s.store.Increment(ctx, "reset:"+email, s.now(), s.policy.FailureWindow)
	if err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	if c.Count > s.policy.ResetMaxMails {
		s.log.WarnContext(ctx, "password reset mail suppressed: too many for this address in the window")
		return nil
	}
	select {
	case s.resetSlots <- struct{}{}:
		s.resets.Add(1)
		go func() {
			defer s.resets.Done()
			defer func() { <-s.resetSlots }()
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := s.mailReset(bg, email); err != nil {
				s.log.ErrorContext(bg, "password reset mail not sent", "err", err)
			}
		}()
	default:
		s.log.WarnContext(ctx, "password reset mail dropped: too many being prepared")
	}
	return nil
}

// mailReset makes a reset link for the active account of email, if there
// is one, and queues the mail.
func (s *Service) mailReset(ctx context.Context, email string) error {
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	token, hash := newSecret()
	if err := s.store.CreateReset(ctx, u.ID, hash, s.now().Add(s.policy.ResetTTL)); err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	msg := mail.Message{To: u.Email, Subject: "Reset your password", Body: resetBody(u.DisplayName, s.policy.ResetURL+token, s.policy.ResetTTL)}
	if err := s.mailer.Enqueue(msg); err != nil {
		return fmt.Errorf("password reset mail for %s dropped: %w", u.ID, err)
	}
	return nil
}

// WaitResets waits for the reset mails being prepared: call it before the
// mail queue and the store close.
func (s *Service) WaitResets() { s.resets.Wait() }

// required names the fields whose value is empty, or is nil if none is.
func required(fields map[string]string) error {
	bad := map[string]string{}
	for name, v := range fields {
		if v == "" {
			bad[name] = "is required"
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return errs.Validation(bad)
}

func resetBody(name, link string, ttl time.Duration) string {
	return fmt.Sprintf("Hello %s,\n\nSomeone asked to reset the password of your account.\n"+
		"To choose a new password, open this link within %d minutes:\n\n%s\n\n"+
		"If it was not you, ignore this message: your password stays as it is.\n", name, int(ttl.Minutes()), link)
}

// ConfirmPasswordReset sets a new password with a reset token, once, and
// revokes every session of the account.
func (s *Service) ConfirmPasswordReset(ctx context.Context, token, password string) error {
	// Look the token up before hashing, so a forged token costs no hash and
	// the policy can check the password against the owner's email.
	email, err := s.store.ResetOwner(ctx, hashSecret(token), s.now())
	if errors.Is(err, ErrTokenInvalid) {
		return errInvalidReset
	}
	if err != nil {
		return fmt.Errorf("confirm password reset: %w", err)
	}
	if err := CheckPassword(password, email); err != nil {
		return errs.Validation(map[string]string{"new_password": err.Error()})
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	switch err := s.store.ConsumeReset(ctx, hashSecret(token), hash, s.now()); {
	case errors.Is(err, ErrTokenInvalid):
		return errInvalidReset
	case err != nil:
		return fmt.Errorf("confirm password reset: %w", err)
	}
	return nil
}

// newSecret returns a random opaque token and the hash to store for it. The
// token has 256 bits of entropy, so a fast hash is enough: there is nothing
// to brute-force.
func newSecret() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, hashSecret(token)
}

func hashSecret(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

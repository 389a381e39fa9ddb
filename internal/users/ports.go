package users

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/mail"
)

// Store keeps users, sessions, resets and throttling counters. Implementations
// must make each method atomic.
type Store interface {
	CreateUser(ctx context.Context, u User) error
	UserByID(ctx context.Context, id uuid.UUID) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns up to limit accounts with ids above after, in id
	// order; with email set, only those whose email holds it, in any
	// letter case.
	ListUsers(ctx context.Context, email string, after uuid.UUID, limit int) ([]User, error)
	UpdateProfile(ctx context.Context, id uuid.UUID, p ProfileUpdate) (User, error)
	// SetPasswordHash replaces the user's hash old with hash, and changes
	// nothing when the user's hash is no longer old.
	SetPasswordHash(ctx context.Context, id uuid.UUID, old, hash string) error
	// ChangePassword sets the hash and revokes every session but keep.
	ChangePassword(ctx context.Context, id uuid.UUID, hash string, keep uuid.UUID) error
	AddRole(ctx context.Context, id uuid.UUID, role string) (User, error)
	RemoveRole(ctx context.Context, id uuid.UUID, role string) (User, error)
	BecomeSeller(ctx context.Context, id uuid.UUID, shopName string) (User, error)
	// RenameShop renames the shop of seller id and counts the change;
	// ErrNotFound when id has no shop, ErrShopNameTaken when another shop
	// has the name.
	RenameShop(ctx context.Context, id uuid.UUID, shopName string) (User, error)
	// ShopsChanged returns up to limit shops changed at or after since,
	// in (ChangedAt, SellerID) order, from after that key on.
	ShopsChanged(ctx context.Context, since time.Time, after ShopKey, limit int) ([]ShopChange, error)
	// SetDisabled also revokes every session when disabling.
	SetDisabled(ctx context.Context, id uuid.UUID, disabled bool) (User, error)

	// CreateSession opens s with its first refresh token only while its
	// user is enabled and still has passwordHash, the hash the login
	// verified, in one step with that check; otherwise it opens nothing
	// and returns ErrCredentialsChanged.
	CreateSession(ctx context.Context, s Session, tokenHash []byte, passwordHash string) error
	// RotateRefresh spends the token with oldHash and adds newHash to its
	// session. A token spent before revokes its session and returns
	// ErrTokenReused; an unknown, revoked or expired one ErrTokenInvalid.
	RotateRefresh(ctx context.Context, oldHash, newHash []byte, now time.Time) (Session, error)
	RevokeSessionOf(ctx context.Context, tokenHash []byte) error
	RevokeSessions(ctx context.Context, userID uuid.UUID) error

	CreateReset(ctx context.Context, userID uuid.UUID, tokenHash []byte, expires time.Time) error
	// ResetOwner returns the email of the active account a live (unspent,
	// unexpired) reset token belongs to, or ErrTokenInvalid.
	ResetOwner(ctx context.Context, tokenHash []byte, now time.Time) (string, error)
	// ConsumeReset spends a live reset token, sets the password hash and
	// revokes every session of its user, all or nothing.
	ConsumeReset(ctx context.Context, tokenHash []byte, hash string, now time.Time) error

	// Counts reports, for each throttling key (such as "account:<email>"),
	// the events counted in its current fixed window, in the keys' order.
	Counts(ctx context.Context, keys []string, now time.Time) ([]Counter, error)
	// Increment counts one event, opening a new window when the last
	// ended, and returns the key's state with it counted.
	Increment(ctx context.Context, key string, now time.Time, window time.Duration) (Counter, error)
	ClearCount(ctx context.Context, key string) error
}

// Counter is the state of one throttling key; zero when nothing is counted.
type Counter struct {
	Count     int
	WindowEnd time.Time
}

// Hasher hashes and checks passwords. Verify reports whether the hash was
// made with weaker parameters than the current ones. VerifyLoaded is Verify
// against the hash load returns, and calls load only once the hasher has
// taken the job: a login it refuses (too many at once) costs no reads.
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error)
	VerifyLoaded(ctx context.Context, password string, load func(context.Context) (string, error)) (ok, rehash bool, err error)
}

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	Issue(u User, sessionID uuid.UUID, now time.Time) (token string, expires time.Time, err error)
}

// Mailer delivers mail without making the caller wait for the SMTP server,
// which would also tell an attacker by timing whether an address exists.
type Mailer interface {
	Enqueue(m mail.Message) error
}

// ConfirmationStore records which orders have had their confirmation mailed,
// so that an order event delivered more than once mails its buyer once. It
// takes many orders at a time, so that the confirmations of a burst of
// orders cost a few round trips, not a few per order.
type ConfirmationStore interface {
	// ClaimConfirmations claims the right to mail each order's
	// confirmation to its buyer, reading the buyers in the same round
	// trip, and returns a claim per order in their order; no order may
	// appear twice. It takes no claim for a buyer unknown or disabled
	// (ClaimSkipped); it grants one when no one holds one, or when the
	// last holder's is older than lease (it crashed before sending or
	// releasing); it answers ClaimSent once the mail went out and ClaimBusy
	// while another holds a live claim.
	ClaimConfirmations(ctx context.Context, orders []OrderOfBuyer, lease time.Duration) ([]Claim, error)
	// ConfirmationsSent records that the mails of granted claims went out.
	ConfirmationsSent(ctx context.Context, claims []Claim) error
	// ReleaseConfirmations gives up granted claims, unsent, so a
	// redelivery may try again.
	ReleaseConfirmations(ctx context.Context, claims []Claim) error
}

// OrderOfBuyer names an order and the buyer who placed it.
type OrderOfBuyer struct {
	Order, Buyer uuid.UUID
}

// Claim is what ClaimConfirmations found for an order: a granted claim
// carries its id and the buyer to mail.
type Claim struct {
	Order   uuid.UUID
	Outcome ClaimOutcome
	ID      uuid.UUID
	Buyer   Recipient
}

// Recipient is what a mail needs of the user it goes to.
type Recipient struct {
	Email       string
	DisplayName string
	// Preferences hold the language the mail is written in.
	Preferences json.RawMessage
}

// ClaimOutcome is what ClaimConfirmations found for an order.
type ClaimOutcome int

// Outcomes of ClaimConfirmations.
const (
	ClaimGranted ClaimOutcome = iota // the caller mails
	ClaimSent                        // mailed before: nothing to do
	ClaimBusy                        // another delivery is mailing it now
	ClaimSkipped                     // the buyer is unknown or disabled: no mail is due
)

// MailSender delivers one message now and says whether it was accepted, for
// mail that must be retried until it is.
type MailSender interface {
	Send(ctx context.Context, m mail.Message) error
}

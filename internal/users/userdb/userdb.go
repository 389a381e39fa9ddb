// Package userdb is the PostgreSQL store of the users service. Phone numbers
// and addresses are sealed with fieldcrypt before they reach the database.
package userdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/users"
)

// Store implements users.Store.
type Store struct {
	pool *pgxpool.Pool
	pii  *fieldcrypt.Keyring
}

var _ users.Store = (*Store)(nil)

// New returns a store over pool that seals PII with pii.
func New(pool *pgxpool.Pool, pii *fieldcrypt.Keyring) *Store {
	return &Store{pool: pool, pii: pii}
}

const userColumns = `u.id, u.email, u.display_name, u.password_hash, u.roles, u.disabled,
	u.phone_sealed, u.address_sealed, u.preferences, coalesce(s.shop_name, ''), u.created_at, u.updated_at`

const userFrom = ` FROM users u LEFT JOIN sellers s ON s.user_id = u.id `

// CreateUser inserts u; a taken email gives users.ErrEmailTaken.
func (s *Store) CreateUser(ctx context.Context, u users.User) error {
	const q = `INSERT INTO users (id, email, display_name, password_hash, roles, preferences, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`
	_, err := s.pool.Exec(ctx, q, u.ID, u.Email, u.DisplayName, u.PasswordHash, u.Roles, u.Preferences, u.CreatedAt)
	if pg.IsUniqueViolation(err, "users_email_key") {
		return users.ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

// UserByID loads one user.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (users.User, error) {
	return s.queryUser(ctx, `SELECT `+userColumns+userFrom+`WHERE u.id = $1`, id)
}

// UserByEmail loads one user by normalised email.
func (s *Store) UserByEmail(ctx context.Context, email string) (users.User, error) {
	return s.queryUser(ctx, `SELECT `+userColumns+userFrom+`WHERE lower(u.email) = lower($1)`, email)
}

// likeEscaper escapes the characters LIKE gives a meaning to.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// ListUsers returns up to limit users with ids after the given one whose
// email holds email (every user for "").
func (s *Store) ListUsers(ctx context.Context, email string, after uuid.UUID, limit int) ([]users.User, error) {
	// The search text is matched literally: LIKE's own characters in it
	// are escaped.
	pattern := "%" + likeEscaper.Replace(strings.ToLower(email)) + "%"
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+userFrom+`WHERE u.id > $1 AND lower(u.email) LIKE $3 ESCAPE '\' ORDER BY u.id LIMIT $2`,
		after, limit, pattern)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var list []users.User
	for rows.Next() {
		u, err := s.scanUser(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, u)
	}
	return list, rows.Err()
}

func (s *Store) queryUser(ctx context.Context, q string, args ...any) (users.User, error) {
	return s.queryUserOn(ctx, s.pool, q, args...)
}

func (s *Store) queryUserOn(ctx context.Context, db querier, q string, args ...any) (users.User, error) {
	u, err := s.scanUser(db.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return users.User{}, users.ErrNotFound
	}
	return u, err
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) scanUser(row pgx.Row) (users.User, error) {
	var (
		u              users.User
		phone, address *string
	)
	err := row.Scan(&u.ID, &u.Email, &u.DisplayName, &u.PasswordHash, &u.Roles, &u.Disabled,
		&phone, &address, &u.Preferences, &u.ShopName, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return users.User{}, err
	}
	if phone != nil {
		p, err := s.pii.Open(*phone, piiContext("phone", u.ID))
		if err != nil {
			return users.User{}, fmt.Errorf("open phone of %s: %w", u.ID, err)
		}
		u.Phone = string(p)
	}
	if address != nil {
		a, err := s.pii.Open(*address, piiContext("address", u.ID))
		if err == nil {
			err = json.Unmarshal(a, &u.Address)
		}
		if err != nil {
			return users.User{}, fmt.Errorf("open address of %s: %w", u.ID, err)
		}
	}
	return u, nil
}

// piiContext binds a sealed value to its column and row.
func piiContext(column string, id uuid.UUID) string { return "users." + column + ":" + id.String() }

// UpdateProfile applies p in one statement and returns the new state.
func (s *Store) UpdateProfile(ctx context.Context, id uuid.UUID, p users.ProfileUpdate) (users.User, error) {
	phone, setPhone := s.sealedUpdate(p.Phone != nil, p.ClearPhone, func() []byte { return []byte(*p.Phone) }, "phone", id)
	address, setAddress := s.sealedUpdate(p.Address != nil, p.ClearAddress, func() []byte {
		b, _ := json.Marshal(p.Address) // a struct of strings always marshals
		return b
	}, "address", id)
	const q = `WITH u AS (
		UPDATE users SET
			display_name   = coalesce($2, display_name),
			phone_sealed   = CASE WHEN $3 THEN $4 ELSE phone_sealed END,
			address_sealed = CASE WHEN $5 THEN $6 ELSE address_sealed END,
			preferences    = coalesce($7, preferences),
			updated_at     = now()
		WHERE id = $1 RETURNING *)
		SELECT ` + userColumns + ` FROM u LEFT JOIN sellers s ON s.user_id = u.id`
	return s.queryUser(ctx, q, id, p.DisplayName, setPhone, phone, setAddress, address, nullJSON(p.Preferences))
}

// sealedUpdate says whether a sealed column changes and to what (nil clears).
func (s *Store) sealedUpdate(set, clear bool, plain func() []byte, column string, id uuid.UUID) (*string, bool) {
	if clear {
		return nil, true
	}
	if !set {
		return nil, false
	}
	v := s.pii.Seal(plain(), piiContext(column, id))
	return &v, true
}

func nullJSON(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// SetPasswordHash replaces the hash old with hash (a rehash with new
// parameters), and changes nothing when old is no longer the user's: a
// rehash of the password a login verified must not undo a reset or change
// that committed since.
func (s *Store) SetPasswordHash(ctx context.Context, id uuid.UUID, old, hash string) error {
	_, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2`, id, old, hash)
	return wrap("set password hash", err)
}

// ChangePassword sets the hash and revokes all sessions but keep.
func (s *Store) ChangePassword(ctx context.Context, id uuid.UUID, hash string, keep uuid.UUID) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, id, hash); err != nil {
			return wrap("set password", err)
		}
		_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`, id, keep)
		return wrap("revoke other sessions", err)
	})
}

// AddRole grants role (idempotent).
func (s *Store) AddRole(ctx context.Context, id uuid.UUID, role string) (users.User, error) {
	return s.updateReturning(ctx, `UPDATE users SET roles = CASE WHEN $2 = ANY(roles) THEN roles ELSE roles || $2 END,
		updated_at = now() WHERE id = $1 RETURNING *`, id, role)
}

// RemoveRole revokes role (idempotent).
func (s *Store) RemoveRole(ctx context.Context, id uuid.UUID, role string) (users.User, error) {
	return s.updateReturning(ctx, `UPDATE users SET roles = array_remove(roles, $2), updated_at = now()
		WHERE id = $1 RETURNING *`, id, role)
}

func (s *Store) updateReturning(ctx context.Context, update string, args ...any) (users.User, error) {
	return s.queryUser(ctx, `WITH u AS (`+update+`) SELECT `+userColumns+` FROM u LEFT JOIN sellers s ON s.user_id = u.id`, args...)
}

// BecomeSeller opens the shop and grants the seller role together.
func (s *Store) BecomeSeller(ctx context.Context, id uuid.UUID, shopName string) (users.User, error) {
	var u users.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sellers (user_id, shop_name) VALUES ($1, $2)`, id, shopName)
		if pg.IsUniqueViolation(err, "sellers_shop_name_key") {
			return users.ErrShopNameTaken
		}
		if pg.IsUniqueViolation(err, "sellers_pkey") {
			return users.ErrAlreadySeller
		}
		if err != nil {
			return wrap("insert seller", err)
		}
		u, err = s.queryUserOn(ctx, tx, `WITH u AS (UPDATE users SET roles = CASE WHEN 'seller' = ANY(roles) THEN roles ELSE roles || '{seller}' END,
			updated_at = now() WHERE id = $1 RETURNING *) SELECT `+userColumns+` FROM u LEFT JOIN sellers s ON s.user_id = u.id`, id)
		return err
	})
	return u, err
}

// RenameShop renames the seller's shop and counts the change.
func (s *Store) RenameShop(ctx context.Context, id uuid.UUID, shopName string) (users.User, error) {
	u, err := s.queryUser(ctx, `WITH changed AS (UPDATE sellers SET shop_name = $2, version = version + 1, changed_at = clock_timestamp()
		WHERE user_id = $1 RETURNING *) SELECT `+userColumns+` FROM users u JOIN changed s ON s.user_id = u.id`, id, shopName)
	if pg.IsUniqueViolation(err, "sellers_shop_name_key") {
		return users.User{}, users.ErrShopNameTaken
	}
	if err != nil && !errors.Is(err, users.ErrNotFound) {
		return users.User{}, wrap("rename shop", err)
	}
	return u, err
}

// ShopsChanged returns up to limit shops changed at or after since, after
// the key after, in (changed_at, user_id) order.
func (s *Store) ShopsChanged(ctx context.Context, since time.Time, after users.ShopKey, limit int) ([]users.ShopChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT user_id, shop_name, version, changed_at FROM sellers
		WHERE changed_at >= $1 AND (changed_at, user_id) > ($2, $3) ORDER BY changed_at, user_id LIMIT $4`,
		since, after.ChangedAt, after.SellerID, limit)
	if err != nil {
		return nil, wrap("read shop changes", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (users.ShopChange, error) {
		var c users.ShopChange
		err := r.Scan(&c.SellerID, &c.Name, &c.Version, &c.ChangedAt)
		c.ChangedAt = c.ChangedAt.UTC()
		return c, err
	})
	return list, wrap("read shop changes", err)
}

// SetDisabled flags the account; disabling revokes its sessions too.
func (s *Store) SetDisabled(ctx context.Context, id uuid.UUID, disabled bool) (users.User, error) {
	var u users.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		u, err = s.queryUserOn(ctx, tx, `WITH u AS (UPDATE users SET disabled = $2, updated_at = now() WHERE id = $1 RETURNING *)
			SELECT `+userColumns+` FROM u LEFT JOIN sellers s ON s.user_id = u.id`, id, disabled)
		if err != nil || !disabled {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id)
		return wrap("revoke sessions", err)
	})
	return u, err
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

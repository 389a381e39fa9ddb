package users

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// Profile returns the caller's own account.
func (s *Service) Profile(ctx context.Context, c auth.Claims) (User, error) {
	return s.userFromClaims(ctx, c)
}

// userFromClaims loads the caller. An access token outlives a disabling by
// up to its TTL; checking here closes that window for this service.
func (s *Service) userFromClaims(ctx context.Context, c auth.Claims) (User, error) {
	id, err := uuid.Parse(c.UserID)
	if err != nil {
		return User{}, errUserNotFound
	}
	u, err := s.user(ctx, id)
	if err == nil && u.Disabled {
		return User{}, errAccountDisabled
	}
	return u, err
}

func (s *Service) user(ctx context.Context, id uuid.UUID) (User, error) {
	u, err := s.store.UserByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{}, errUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("load user %s: %w", id, err)
	}
	return u, nil
}

var errShopNotFound = errs.New(errs.NotFound, "shop_not_found", "no such shop")

// Shop is a seller's shop, for anyone: the product pages name it. An
// account without a shop, or none at all, has no shop to show, and the
// two cannot be told apart; nothing else of the account is shown.
func (s *Service) Shop(ctx context.Context, sellerID uuid.UUID) (Shop, error) {
	u, err := s.user(ctx, sellerID)
	if errors.Is(err, errUserNotFound) || err == nil && u.ShopName == "" {
		return Shop{}, errShopNotFound
	}
	if err != nil {
		return Shop{}, err
	}
	return Shop{SellerID: u.ID, Name: u.ShopName}, nil
}

// UpdateProfile changes the caller's own profile fields.
func (s *Service) UpdateProfile(ctx context.Context, c auth.Claims, p ProfileUpdate) (User, error) {
	if err := p.validate(); err != nil {
		return User{}, err
	}
	u, err := s.userFromClaims(ctx, c)
	if err != nil {
		return User{}, err
	}
	u, err = s.store.UpdateProfile(ctx, u.ID, p)
	if err != nil {
		return User{}, fmt.Errorf("update profile: %w", err)
	}
	return u, nil
}

// BecomeSeller opens a shop for the caller and makes them a seller. New
// access tokens (after a refresh) carry the role.
func (s *Service) BecomeSeller(ctx context.Context, c auth.Claims, shopName string) (User, error) {
	u, name, err := s.withShopName(ctx, c, shopName)
	if err != nil {
		return User{}, err
	}
	if u.ShopName != "" {
		return User{}, errAlreadySeller
	}
	u, err = s.store.BecomeSeller(ctx, u.ID, name)
	switch {
	case errors.Is(err, ErrShopNameTaken):
		return User{}, errShopNameTaken
	case errors.Is(err, ErrAlreadySeller): // a concurrent request opened the shop first
		return User{}, errAlreadySeller
	}
	if err != nil {
		return User{}, fmt.Errorf("become seller: %w", err)
	}
	return u, nil
}

// RenameShop renames the caller's shop. The search service finds the
// shop's products under the new name once it has read the change (ADR 45).
func (s *Service) RenameShop(ctx context.Context, c auth.Claims, shopName string) (User, error) {
	u, name, err := s.withShopName(ctx, c, shopName)
	if err != nil {
		return User{}, err
	}
	if u.ShopName == "" {
		return User{}, errShopNotFound
	}
	u, err = s.store.RenameShop(ctx, u.ID, name)
	switch {
	case errors.Is(err, ErrShopNameTaken):
		return User{}, errShopNameTaken
	case errors.Is(err, ErrNotFound):
		return User{}, errShopNotFound
	case err != nil:
		return User{}, fmt.Errorf("rename shop: %w", err)
	}
	return u, nil
}

// withShopName checks a shop name the caller sent, then reads the caller:
// a bad name is refused before any read.
func (s *Service) withShopName(ctx context.Context, c auth.Claims, shopName string) (User, string, error) {
	name, err := cleanShopName(shopName)
	if err != nil {
		return User{}, "", errs.Validation(map[string]string{"shop_name": err.Error()})
	}
	u, err := s.userFromClaims(ctx, c)
	return u, name, err
}

// ShopsChanged returns one page of the shops opened or renamed at or
// after since (the zero time: every shop), oldest change first, for the
// search service to keep shop names in its index. cursor continues the
// read of the same since.
func (s *Service) ShopsChanged(ctx context.Context, since time.Time, cursor string, limit int) (page.Page[ShopChange], error) {
	after := ShopKey{ChangedAt: since, Since: since}
	if cursor != "" {
		if err := page.Decode(cursor, &after); err != nil || !after.Since.Equal(since) {
			return page.Page[ShopChange]{}, page.ErrInvalidCursor
		}
	}
	list, err := s.store.ShopsChanged(ctx, since, after, page.Fetch(limit))
	if err != nil {
		return page.Page[ShopChange]{}, fmt.Errorf("shops changed: %w", err)
	}
	return page.Of(list, limit, func(c ShopChange) any {
		return ShopKey{ChangedAt: c.ChangedAt, SellerID: c.SellerID, Since: since}
	}), nil
}

// Admin use cases. The caller's admin role is checked here, not only at the
// edge, so no transport can forget it; and against the database, not only
// the token, so a revoked admin loses the power at once.

var errNotAdmin = errs.New(errs.Forbidden, "admin_only", "this action needs the admin role")

func (s *Service) requireAdmin(ctx context.Context, c auth.Claims) error {
	if !c.HasRole(auth.RoleAdmin) {
		return errNotAdmin
	}
	u, err := s.userFromClaims(ctx, c)
	if errs.Is(err, "user_not_found") || err == nil && !slices.Contains(u.Roles, auth.RoleAdmin) {
		return errNotAdmin
	}
	return err
}

// MaxEmailSearch is the longest text a search of accounts by email takes.
const MaxEmailSearch = 254

// ListUsers returns one page of accounts in id (creation) order; with
// email set, of the accounts whose email holds it, in any letter case.
func (s *Service) ListUsers(ctx context.Context, c auth.Claims, email, cursor string, limit int) (page.Page[User], error) {
	if err := s.requireAdmin(ctx, c); err != nil {
		return page.Page[User]{}, err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if len(email) > MaxEmailSearch {
		return page.Page[User]{}, errs.Validation(map[string]string{"email": fmt.Sprintf("at most %d characters", MaxEmailSearch)})
	}
	var after userKey
	if cursor != "" {
		// A cursor continues the search it was made for, and no other.
		if err := page.Decode(cursor, &after); err != nil || after.ID == uuid.Nil || after.Email != email {
			return page.Page[User]{}, page.ErrInvalidCursor
		}
	}
	list, err := s.store.ListUsers(ctx, email, after.ID, page.Fetch(limit))
	if err != nil {
		return page.Page[User]{}, fmt.Errorf("list users: %w", err)
	}
	return page.Of(list, limit, func(u User) any { return userKey{ID: u.ID, Email: email} }), nil
}

// userKey is where a page of users ends (ids are UUIDv7, so id order is
// creation order), and the email search it belongs to.
type userKey struct {
	ID    uuid.UUID `json:"i"`
	Email string    `json:"e,omitempty"`
}

// GetUser returns any account, for admins.
func (s *Service) GetUser(ctx context.Context, c auth.Claims, id uuid.UUID) (User, error) {
	if err := s.requireAdmin(ctx, c); err != nil {
		return User{}, err
	}
	return s.user(ctx, id)
}

// SetRole grants (on) or revokes (off) a role of a user, for admins.
func (s *Service) SetRole(ctx context.Context, c auth.Claims, id uuid.UUID, role string, on bool) (User, error) {
	if err := s.requireAdmin(ctx, c); err != nil {
		return User{}, err
	}
	if err := checkRole(role); err != nil {
		return User{}, err
	}
	if !on && role == auth.RoleAdmin && c.UserID == id.String() {
		return User{}, errs.New(errs.Conflict, "last_admin_guard", "admins cannot revoke their own admin role")
	}
	return s.setRole(ctx, id, role, on)
}

func checkRole(role string) error {
	if !slices.Contains([]string{auth.RoleBuyer, auth.RoleSeller, auth.RoleAdmin}, role) {
		return errs.Validation(map[string]string{"role": "must be buyer, seller or admin"})
	}
	return nil
}

func (s *Service) setRole(ctx context.Context, id uuid.UUID, role string, on bool) (User, error) {
	var (
		u   User
		err error
	)
	if on {
		u, err = s.store.AddRole(ctx, id, role)
	} else {
		u, err = s.store.RemoveRole(ctx, id, role)
	}
	return s.adminResult(u, err, "set role")
}

// SetDisabled disables (revoking every session) or re-enables an account.
func (s *Service) SetDisabled(ctx context.Context, c auth.Claims, id uuid.UUID, disabled bool) (User, error) {
	if err := s.requireAdmin(ctx, c); err != nil {
		return User{}, err
	}
	if disabled && c.UserID == id.String() {
		return User{}, errs.New(errs.Conflict, "self_disable", "admins cannot disable their own account")
	}
	u, err := s.store.SetDisabled(ctx, id, disabled)
	return s.adminResult(u, err, "set disabled")
}

func (s *Service) adminResult(u User, err error, op string) (User, error) {
	if errors.Is(err, ErrNotFound) {
		return User{}, errUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("%s: %w", op, err)
	}
	return u, nil
}

// GrantRoleByEmail gives a role to the account with this email. It is for
// operators bootstrapping the first admin from the command line, so it
// checks no caller.
func (s *Service) GrantRoleByEmail(ctx context.Context, email, role string) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, errs.Validation(map[string]string{"email": err.Error()})
	}
	u, err := s.store.UserByEmail(ctx, email)
	if err != nil {
		return s.adminResult(User{}, err, "find user by email")
	}
	if err := checkRole(role); err != nil {
		return User{}, err
	}
	return s.setRole(ctx, u.ID, role, true)
}

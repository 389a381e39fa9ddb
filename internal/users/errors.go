package users

import (
	"errors"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Store results the service reacts to. Stores return these (wrapped); the
// service turns them into client-facing errs values.
var (
	ErrNotFound      = errors.New("not found")
	ErrEmailTaken    = errors.New("email already registered")
	ErrShopNameTaken = errors.New("shop name taken")
	ErrAlreadySeller = errors.New("already a seller")
	ErrTokenInvalid  = errors.New("token invalid, expired or revoked")
	ErrTokenReused   = errors.New("refresh token reused")
	// ErrCredentialsChanged: the password a login verified was replaced,
	// or the account disabled, before its session was opened.
	ErrCredentialsChanged = errors.New("password changed or account disabled since it was verified")
)

// Client-facing errors.
var (
	errInvalidCredentials = errs.New(errs.Unauthenticated, "invalid_credentials", "the email or password is wrong")
	errAccountDisabled    = errs.New(errs.Forbidden, "account_disabled", "this account is disabled")
	errInvalidRefresh     = errs.New(errs.Unauthenticated, "invalid_refresh_token", "the refresh token is invalid, expired or revoked")
	errInvalidReset       = errs.New(errs.Invalid, "invalid_reset_token", "the reset token is invalid, expired or already used")
	errEmailTaken         = errs.New(errs.Conflict, "email_taken", "an account with this email already exists")
	errShopNameTaken      = errs.New(errs.Conflict, "shop_name_taken", "this shop name is taken")
	errAlreadySeller      = errs.New(errs.Conflict, "already_seller", "this account is a seller already")
	errUserNotFound       = errs.New(errs.NotFound, "user_not_found", "no such user")
	errWrongPassword      = errs.New(errs.Forbidden, "wrong_password", "the current password is wrong")
)

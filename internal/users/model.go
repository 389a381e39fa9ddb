// Package users is the users service's business layer: accounts,
// credentials, sessions, password resets, profiles and roles. It knows
// nothing of HTTP or SQL; its Store and collaborators are interfaces that
// the userdb and userapi packages satisfy and drive.
package users

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// User is an account as the business layer sees it: PII in the clear.
type User struct {
	ID           uuid.UUID
	Email        string
	DisplayName  string
	PasswordHash string
	Roles        []string
	Disabled     bool
	Phone        string
	Address      *Address
	Preferences  json.RawMessage
	ShopName     string // set once the user is a seller
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Address is a postal address for deliveries.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"` // ISO 3166-1 alpha-2
}

// ProfileUpdate is a partial change of the fields a user owns. A nil field is
// left alone; Clear* empties one.
type ProfileUpdate struct {
	DisplayName  *string
	Phone        *string
	ClearPhone   bool
	Address      *Address
	ClearAddress bool
	Preferences  json.RawMessage
}

// Session is a refresh token family.
type Session struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	ExpiresAt time.Time
}

// Tokens is what a successful login or refresh hands the client.
type Tokens struct {
	IssuedAt         time.Time
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// Shop is what anyone may know of a seller: the name of the shop their
// products are sold under.
type Shop struct {
	SellerID uuid.UUID `json:"seller_id"`
	Name     string    `json:"shop_name"`
}

// ShopChange is a shop as its latest change left it, for the search
// service: Version counts its changes (opening it is 1), ChangedAt is when
// the latest was made.
type ShopChange struct {
	SellerID  uuid.UUID `json:"seller_id"`
	Name      string    `json:"shop_name"`
	Version   int64     `json:"version"`
	ChangedAt time.Time `json:"changed_at"`
}

// ShopKey is where a page of shop changes ends, and the since it was read
// for.
type ShopKey struct {
	ChangedAt time.Time `json:"c"`
	SellerID  uuid.UUID `json:"i"`
	Since     time.Time `json:"s"`
}

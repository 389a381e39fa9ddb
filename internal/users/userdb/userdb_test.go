package userdb_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/users"
	"github.com/marketplace-go/marketplace/internal/users/userdb"
)

// env is a store over a fresh database, with the pool for looking at rows
// as they are stored.
type env struct {
	*userdb.Store
	db *pgxpool.Pool
}

func newEnv(t *testing.T) env {
	t.Helper()
	_, pool := pgtest.New(t, userdb.Migrations())
	key := fieldcrypt.Key{ID: "k1", Secret: make([]byte, fieldcrypt.KeySize)}
	rand.Read(key.Secret)
	ring, err := fieldcrypt.NewKeyring([]fieldcrypt.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	return env{Store: userdb.New(pool, ring), db: pool}
}

// at is a time as PostgreSQL keeps it.
func at(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (e env) mustUser(t *testing.T, email string) users.User {
	t.Helper()
	now := at(time.Now())
	u := users.User{ID: uuid.Must(uuid.NewV7()), Email: email, DisplayName: "Name of " + email, PasswordHash: "$argon2id$hash",
		Roles: []string{"buyer"}, Preferences: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now}
	if err := e.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func (e env) mustGet(t *testing.T, id uuid.UUID) users.User {
	t.Helper()
	u, err := e.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	return u
}

func TestAUserReadsBackByIDAndByEmailInAnyCase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u := e.mustUser(t, "ada@example.com")
	byID := e.mustGet(t, u.ID)
	if diff := cmp.Diff(u, byID); diff != "" {
		t.Errorf("UserByID (-want +got):\n%s", diff)
	}
	byEmail, err := e.UserByEmail(ctx, "ADA@Example.com")
	if err != nil || byEmail.ID != u.ID {
		t.Errorf("UserByEmail in upper case = %v, %v", byEmail.ID, err)
	}
	if _, err := e.UserByID(ctx, uuid.New()); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("UserByID of nobody: %v, want ErrNotFound", err)
	}
	if _, err := e.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("UserByEmail of nobody: %v, want ErrNotFound", err)
	}
	dup := u
	dup.ID, dup.Email = uuid.Must(uuid.NewV7()), "Ada@Example.COM"
	if err := e.CreateUser(ctx, dup); !errors.Is(err, users.ErrEmailTaken) {
		t.Errorf("CreateUser with the email in another case: %v, want ErrEmailTaken", err)
	}
}

func TestPhoneAndAddressAreSealedAtRestAndBoundToTheirRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u, other := e.mustUser(t, "grace@example.com"), e.mustUser(t, "alan@example.com")
	phone, name := "+44 20 7946 0958", "Grace H."
	addr := &users.Address{Name: "Grace Hopper", Line1: "1 Navy Road", City: "Arlington", PostalCode: "22201", Country: "US"}
	got, err := e.UpdateProfile(ctx, u.ID, users.ProfileUpdate{DisplayName: &name, Phone: &phone, Address: addr, Preferences: json.RawMessage(`{"lang":"en"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Phone != phone || !cmp.Equal(got.Address, addr) || got.DisplayName != name || string(got.Preferences) != `{"lang": "en"}` {
		t.Errorf("UpdateProfile = %+v", got)
	}

	var sealedPhone, sealedAddress string
	if err := e.db.QueryRow(ctx, `SELECT phone_sealed, address_sealed FROM users WHERE id = $1`, u.ID).Scan(&sealedPhone, &sealedAddress); err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"7946", "Navy", "Arlington"} {
		if strings.Contains(sealedPhone+sealedAddress, plain) {
			t.Errorf("%q is readable in the stored row", plain)
		}
	}

	// A sealed value copied onto another row does not open there.
	if _, err := e.db.Exec(ctx, `UPDATE users SET phone_sealed = $2 WHERE id = $1`, other.ID, sealedPhone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UserByID(ctx, other.ID); err == nil {
		t.Error("a phone sealed for another user opened")
	}

	// A partial update leaves the rest; Clear* empties a field.
	got, err = e.UpdateProfile(ctx, u.ID, users.ProfileUpdate{ClearPhone: true})
	if err != nil || got.Phone != "" || !cmp.Equal(got.Address, addr) || got.DisplayName != name {
		t.Errorf("after clearing the phone: %+v, %v", got, err)
	}
	got, err = e.UpdateProfile(ctx, u.ID, users.ProfileUpdate{ClearAddress: true})
	if err != nil || got.Address != nil {
		t.Errorf("after clearing the address: %+v, %v", got, err)
	}
}

func TestRolesAndShopsChangeIdempotentlyAndShopNamesAreUnique(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u, rival := e.mustUser(t, "shopkeeper@example.com"), e.mustUser(t, "rival@example.com")
	for range 2 {
		got, err := e.AddRole(ctx, u.ID, "admin")
		if err != nil || !cmp.Equal(got.Roles, []string{"buyer", "admin"}) {
			t.Errorf("AddRole = %v, %v", got.Roles, err)
		}
	}
	for range 2 {
		got, err := e.RemoveRole(ctx, u.ID, "admin")
		if err != nil || !cmp.Equal(got.Roles, []string{"buyer"}) {
			t.Errorf("RemoveRole = %v, %v", got.Roles, err)
		}
	}
	got, err := e.BecomeSeller(ctx, u.ID, "Lamps & Co")
	if err != nil || got.ShopName != "Lamps & Co" || !cmp.Equal(got.Roles, []string{"buyer", "seller"}) {
		t.Fatalf("BecomeSeller = %+v, %v", got, err)
	}
	if _, err := e.BecomeSeller(ctx, u.ID, "Second shop"); !errors.Is(err, users.ErrAlreadySeller) {
		t.Errorf("a second shop: %v, want ErrAlreadySeller", err)
	}
	if _, err := e.BecomeSeller(ctx, rival.ID, "LAMPS & CO"); !errors.Is(err, users.ErrShopNameTaken) {
		t.Errorf("a taken shop name in another case: %v, want ErrShopNameTaken", err)
	}
	if r := e.mustGet(t, rival.ID); r.ShopName != "" || slices.Contains(r.Roles, "seller") {
		t.Errorf("the refused rival is %+v, want no shop and no seller role", r)
	}
}

func TestListUsersPagesByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []uuid.UUID
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"} {
		want = append(want, e.mustUser(t, email).ID)
	}
	var got []uuid.UUID
	after := uuid.Nil
	for {
		page, err := e.ListUsers(t.Context(), "", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			got = append(got, u.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if diff := cmp.Diff(want, got); diff != "" { // UUIDv7: creation order is id order
		t.Errorf("users over the pages (-want +got):\n%s", diff)
	}
}

func TestListUsersFindsTheEmailsHoldingATextLiterallyInAnyCase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, email := range []string{"Ann.Lee@Example.com", "annika@shop.example", "bob@example.com", "a_n%n@example.com"} {
		e.mustUser(t, email)
	}
	tests := []struct {
		name   string
		search string
		want   []string
	}{
		{"a part of the local part, in another case", "ANN", []string{"Ann.Lee@Example.com", "annika@shop.example"}},
		{"a domain", "shop.example", []string{"annika@shop.example"}},
		{"LIKE's wildcards are letters", "_n%", []string{"a_n%n@example.com"}},
		{"a percent sign alone matches only itself", "%", []string{"a_n%n@example.com"}},
		{"no account holds it", "carol", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := e.ListUsers(t.Context(), strings.ToLower(tt.search), uuid.Nil, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range list {
				got = append(got, u.Email)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("search %q (-want +got):\n%s", tt.search, diff)
			}
		})
	}
}

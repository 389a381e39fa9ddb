package usersrv_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestAnyoneReadsASellersShopNameAndNothingElseOfTheAccount: the product
// page names the seller's shop. The read needs no token, shows the name
// only (no email, no address), and an account without a shop cannot be
// told from no account.
func TestAnyoneReadsASellersShopNameAndNothingElseOfTheAccount(t *testing.T) {
	e := newEnv(t)
	seller, tok := e.mustUser(t, "lamps@example.com")
	e.do(t, "POST", "/v1/users/me/seller", tok.AccessToken, map[string]string{"shop_name": "  Lamplighters "}).want(t, http.StatusCreated)
	buyer, buyerTok := e.mustUser(t, "buyer@example.com")

	tests := []struct {
		name, id, token string
		wantShop        string // when found
	}{
		{name: "a seller's shop, to an anonymous visitor", id: seller.ID, wantShop: "Lamplighters"},
		{name: "a seller's shop, to a signed-in buyer", id: seller.ID, token: buyerTok.AccessToken, wantShop: "Lamplighters"},
		{name: "an account without a shop has none", id: buyer.ID},
		{name: "no such account has none", id: uuid.NewString()},
		{name: "an id that is no UUID has none", id: "not-a-uuid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, "GET", "/v1/users/"+tt.id+"/shop", tt.token, nil)
			if tt.wantShop == "" {
				res.want(t, http.StatusNotFound)
				if code := res.problem(t)["code"]; code != "shop_not_found" {
					t.Errorf("code %v, want shop_not_found", code)
				}
				return
			}
			res.want(t, http.StatusOK)
			var got map[string]any
			res.decode(t, &got)
			want := map[string]any{"seller_id": tt.id, "shop_name": tt.wantShop}
			if len(got) != len(want) || got["seller_id"] != want["seller_id"] || got["shop_name"] != want["shop_name"] {
				t.Errorf("got %v, want exactly %v", got, want)
			}
		})
	}
}

// TestASellerRenamesTheirShopAndTheSearchServiceReadsTheChange: a rename
// counts a new version of the shop and stamps it, so that the search
// service's read of changed shops finds it, and an old read's version is
// lower (ADR 45). Bad input changes nothing.
func TestASellerRenamesTheirShopAndTheSearchServiceReadsTheChange(t *testing.T) {
	e := newEnv(t)
	seller, tok := e.mustUser(t, "lamps@example.com")
	e.do(t, "POST", "/v1/users/me/seller", tok.AccessToken, map[string]string{"shop_name": "Lamplighters"}).want(t, http.StatusCreated)
	_, otherTok := e.mustUser(t, "boots@example.com")
	e.do(t, "POST", "/v1/users/me/seller", otherTok.AccessToken, map[string]string{"shop_name": "Bootmakers"}).want(t, http.StatusCreated)
	_, buyerTok := e.mustUser(t, "buyer@example.com")
	before := e.shopChanges(t, "")

	tests := []struct {
		name, token string
		body        any
		status      int
		code        string
	}{
		{name: "without a token", body: map[string]string{"shop_name": "X"}, status: http.StatusUnauthorized},
		{name: "an empty name", token: tok.AccessToken, body: map[string]string{"shop_name": "  "}, status: http.StatusBadRequest, code: "validation_failed"},
		{name: "an unknown field", token: tok.AccessToken, body: map[string]any{"shop_name": "X", "owner": 1}, status: http.StatusBadRequest},
		{name: "another shop's name, in other letters", token: tok.AccessToken, body: map[string]string{"shop_name": "bootMAKERS"}, status: http.StatusConflict, code: "shop_name_taken"},
		{name: "an account without a shop", token: buyerTok.AccessToken, body: map[string]string{"shop_name": "New"}, status: http.StatusNotFound, code: "shop_not_found"},
		{name: "a seller's own shop", token: tok.AccessToken, body: map[string]string{"shop_name": " Brightwick Lamps "}, status: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, "PUT", "/v1/users/me/shop", tt.token, tt.body)
			res.want(t, tt.status)
			if tt.code != "" {
				if code := res.problem(t)["code"]; code != tt.code {
					t.Errorf("code %v, want %s", code, tt.code)
				}
			}
		})
	}
	var shop map[string]any
	e.do(t, "GET", "/v1/users/"+seller.ID+"/shop", "", nil).want(t, http.StatusOK).decode(t, &shop)
	if shop["shop_name"] != "Brightwick Lamps" {
		t.Errorf("after the rename the shop is %v", shop)
	}
	since := before[len(before)-1].ChangedAt
	after := e.shopChanges(t, "since="+since.Format(time.RFC3339Nano))
	if len(after) != 2 || after[1].SellerID != seller.ID || after[1].Name != "Brightwick Lamps" || after[1].Version != 2 ||
		!after[1].ChangedAt.After(since) {
		t.Errorf("shops changed since the last opening: %+v", after)
	}
	for _, q := range []string{"since=yesterday", "limit=0", "cursor=nonsense"} {
		e.do(t, "GET", "/internal/v1/shops?"+q, "", nil).want(t, http.StatusBadRequest)
	}
}

type shopChange struct {
	SellerID  string    `json:"seller_id"`
	Name      string    `json:"shop_name"`
	Version   int64     `json:"version"`
	ChangedAt time.Time `json:"changed_at"`
}

// shopChanges reads every page of the shops changed, with query q.
func (e *testEnv) shopChanges(t *testing.T, q string) []shopChange {
	t.Helper()
	var out []shopChange
	cursor := ""
	for {
		var p struct {
			Items []shopChange `json:"items"`
			Next  string       `json:"next_cursor"`
		}
		e.do(t, "GET", "/internal/v1/shops?limit=1&"+q+cursor, "", nil).want(t, http.StatusOK).decode(t, &p)
		out = append(out, p.Items...)
		if p.Next == "" {
			return out
		}
		cursor = "&cursor=" + p.Next
	}
}

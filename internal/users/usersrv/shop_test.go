package usersrv_test

import (
	"net/http"
	"testing"

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

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// TestAShopsNameFindsItsProductsInARebuiltIndexAndAfterARename: the demo
// catalog is seeded before the platform starts, so the search service
// builds its index from scratch; a shopper typing a demo shop's name
// finds that seller's products (and only theirs). The seller renames the
// shop through the gateway; the new name finds the products, the old one
// nothing (ADR 45).
func TestAShopsNameFindsItsProductsInARebuiltIndexAndAfterARename(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	getenv := testEnv(t, map[string]string{"SEARCH_SHOPS_INTERVAL": "200ms"})
	if err := run(context.Background(), []string{"seed", "--products=40", "--sellers=2"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	api := httpxtest.Client{BaseURL: "http://" + addrs["gateway"]}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/login", map[string]any{"email": sellerEmail(2), "password": seedPassword}).
		Want(t, http.StatusOK).Decode(t, &tok)
	var me struct {
		ID string `json:"id"`
	}
	seller := httpxtest.Caller{Token: tok.AccessToken}
	api.Do(t, seller, "GET", "/v1/users/me", nil).Want(t, http.StatusOK).Decode(t, &me)

	// sellers returns the sellers of the products q finds.
	sellers := func(q string) (map[string]int, error) {
		var p struct {
			Items []struct {
				SellerID string `json:"seller_id"`
			} `json:"items"`
		}
		res, err := api.Request(httpxtest.Anonymous, "GET", "/v1/products?"+url.Values{"q": {q}, "limit": {"100"}}.Encode(), nil)
		if err != nil || res.Status != http.StatusOK {
			return nil, fmt.Errorf("search %q: %v %d %s", q, err, res.Status, res.Body)
		}
		res.Decode(t, &p)
		out := map[string]int{}
		for _, it := range p.Items {
			out[it.SellerID]++
		}
		return out, nil
	}
	// onlyOf checks that q finds products, all sold by seller.
	onlyOf := func(q, seller string) func() error {
		return func() error {
			got, err := sellers(q)
			if err != nil {
				return err
			}
			if len(got) != 1 || got[seller] == 0 {
				return fmt.Errorf("%q finds products of sellers %v, want only of %s", q, got, seller)
			}
			return nil
		}
	}
	eventually.NoError(t, "the rebuilt index finds the shop's products by its name", onlyOf("hollowbrook trading", me.ID),
		eventually.Within(time.Minute))

	api.Do(t, seller, "PUT", "/v1/users/me/shop", map[string]any{"shop_name": "Wrenfield Supply"}).Want(t, http.StatusOK)
	eventually.NoError(t, "the new name finds the shop's products", onlyOf("wrenfield", me.ID), eventually.Within(time.Minute))
	if got, err := sellers("hollowbrook"); err != nil || len(got) != 0 {
		t.Errorf("after the rename, the old name finds products of %v (%v)", got, err)
	}
}

// TestSeedNamesTheShopsOfADemoSeededBefore: a demo seeded when the shops
// were "Demo Shop N" gets the names a seed gives now, so that the shop-name
// searches of the docs work on it; a shop its seller renamed is left alone.
func TestSeedNamesTheShopsOfADemoSeededBefore(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	getenv := testEnv(t, nil)
	addrs, _ := startServe(t, getenv)
	api := httpxtest.Client{BaseURL: "http://" + addrs["gateway"]}
	open := func(i int, shop string) string {
		var u struct {
			ID string `json:"id"`
		}
		api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/register",
			map[string]any{"email": sellerEmail(i), "password": seedPassword, "display_name": "Seller"}).Want(t, http.StatusCreated).Decode(t, &u)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/login", map[string]any{"email": sellerEmail(i), "password": seedPassword}).
			Want(t, http.StatusOK).Decode(t, &tok)
		api.Do(t, httpxtest.Caller{Token: tok.AccessToken}, "POST", "/v1/users/me/seller", map[string]any{"shop_name": shop}).Want(t, http.StatusCreated)
		return u.ID
	}
	old, renamed := open(1, "Demo Shop 1"), open(2, "Lamps by Ada")
	if err := run(context.Background(), []string{"seed", "--products=2", "--sellers=2"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	for id, want := range map[string]string{old: demoShop(0), renamed: "Lamps by Ada"} {
		var shop struct {
			Name string `json:"shop_name"`
		}
		api.Do(t, httpxtest.Anonymous, "GET", "/v1/users/"+id+"/shop", nil).Want(t, http.StatusOK).Decode(t, &shop)
		if shop.Name != want {
			t.Errorf("shop of %s is %q after the seed, want %q", id, shop.Name, want)
		}
	}
}

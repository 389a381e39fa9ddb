package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// login returns a caller with an access token from the users service.
func login(t *testing.T, users httpxtest.Client, email, password string) httpxtest.Caller {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	users.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/login", map[string]any{"email": email, "password": password}).
		Want(t, http.StatusOK).Decode(t, &tok)
	return httpxtest.Caller{Token: tok.AccessToken}
}

func TestABuyerBuysFromTheSeededCatalogAndFromANewProductInOneProcess(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	getenv := testEnv(t, nil)
	if err := run(context.Background(), []string{"seed", "--products=20", "--sellers=2"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	users := httpxtest.Client{BaseURL: "http://" + addrs["users"]}
	catalog := httpxtest.Client{BaseURL: "http://" + addrs["products"]}
	shop := httpxtest.Client{BaseURL: "http://" + addrs["orders"]}

	users.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/register",
		map[string]any{"email": "buyer@example.com", "password": "plum-kettle-orbit-42", "display_name": "Buyer"}).Want(t, http.StatusCreated)
	buyer := login(t, users, "buyer@example.com", "plum-kettle-orbit-42")

	// A seeded product has stock already.
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	catalog.Do(t, httpxtest.Anonymous, "GET", "/internal/v1/products", nil).Want(t, http.StatusOK).Decode(t, &page)
	if len(page.Items) == 0 {
		t.Fatal("the seeded catalog holds nothing")
	}
	var order struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	shop.Do(t, buyer, "POST", "/v1/orders", orderOf(orderLine(page.Items[0].ID, 1))).
		Want(t, http.StatusCreated).Decode(t, &order)
	shop.Do(t, buyer, "POST", "/v1/orders/"+order.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"}).
		Want(t, http.StatusOK).Decode(t, &order)
	if order.Status != "paid" {
		t.Fatalf("order %s after paying", order.Status)
	}

	// The gateway answers for every service on one address.
	edge := httpxtest.Client{BaseURL: "http://" + addrs["gateway"]}
	var mine struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	edge.Do(t, buyer, "GET", "/v1/orders", nil).Want(t, http.StatusOK).Decode(t, &mine)
	if len(mine.Items) != 1 || mine.Items[0].ID != order.ID {
		t.Errorf("through the gateway the buyer lists %+v", mine.Items)
	}
	edge.Do(t, httpxtest.Anonymous, "GET", "/v1/products?limit=1", nil).Want(t, http.StatusOK)
	edge.Do(t, httpxtest.Caller{Token: buyer.Token + "x"}, "GET", "/v1/orders", nil).WantProblem(t, http.StatusUnauthorized, "invalid_token")

	// A product a seller lists now reaches the orders service through the
	// products service (its event, or a read of its API) and can be sold.
	seller := login(t, users, sellerEmail(1), seedPassword)
	var product struct {
		ID string `json:"id"`
	}
	catalog.Do(t, seller, "POST", "/v1/products", map[string]any{"title": "Fresh lamp", "description": "Just listed.", "category": "lamps",
		"price": map[string]any{"amount": 4500, "currency": "EUR"}, "status": "active"}).Want(t, http.StatusCreated).Decode(t, &product)
	shop.Do(t, seller, "PUT", "/v1/stock/"+product.ID, map[string]any{"on_hand": 2}).Want(t, http.StatusOK)
	shop.Do(t, buyer, "POST", "/v1/orders", orderOf(orderLine(product.ID, 2))).
		Want(t, http.StatusCreated)
	shop.Do(t, buyer, "POST", "/v1/orders", orderOf(orderLine(product.ID, 1))).
		WantProblem(t, http.StatusConflict, "insufficient_stock")

	// A price change made in the catalog reaches the orders service's copy.
	var p struct {
		Version int64 `json:"version"`
	}
	catalog.Do(t, seller, "PATCH", "/v1/products/"+product.ID, map[string]any{"price": map[string]any{"amount": 3900, "currency": "EUR"}},
		"If-Match", `"1"`).Want(t, http.StatusOK).Decode(t, &p)
	eventually.NoError(t, "the orders service prices the product at the new price", func() error {
		var cart struct {
			Lines []struct {
				Product struct {
					Price struct {
						Amount int64 `json:"amount"`
					} `json:"price"`
				} `json:"product"`
			} `json:"lines"`
		}
		shop.Do(t, buyer, "PUT", "/v1/cart/items/"+product.ID, map[string]any{"quantity": 1}).Want(t, http.StatusOK).Decode(t, &cart)
		if len(cart.Lines) != 1 || cart.Lines[0].Product.Price.Amount != 3900 {
			return fmt.Errorf("the cart is %+v", cart)
		}
		return nil
	})
}

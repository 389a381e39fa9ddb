package ordersrv_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// TestAnyoneLearnsHowManyUnitsOfAProductOnSaleMayBeBought: the product
// page's availability is public, counts what unpaid orders hold as gone,
// and tells nothing of products not on sale.
func TestAnyoneLearnsHowManyUnitsOfAProductOnSaleMayBeBought(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	stocked := e.product(t, seller, 1200, "EUR", 5)
	e.mustCheckout(t, buyer, item(stocked, 2)) // unpaid: its 2 units are reserved
	never := contracts.ProductV1{ID: uuid.Must(uuid.NewV7()).String(), SellerID: seller.ID, Title: "Never stocked",
		Category: "test", Price: 100, Currency: "EUR", Status: "active", Version: 1, UpdatedAt: time.Now().UTC()}
	e.publishProduct(t, contracts.ProductCreated, never)
	e.waitProjection(t, never.ID, 1)
	draft := never
	draft.ID, draft.Title, draft.Status = uuid.Must(uuid.NewV7()).String(), "Draft", "draft"
	e.publishProduct(t, contracts.ProductCreated, draft)
	e.waitProjection(t, draft.ID, 1)

	tests := []struct {
		name      string
		who       caller
		productID string
		want      int64 // when found
		code      string
	}{
		{name: "on hand less what an unpaid order holds, to an anonymous visitor", who: httpxtest.Anonymous, productID: stocked.ID, want: 3},
		{name: "the same to a signed-in buyer", who: buyer, productID: stocked.ID, want: 3},
		{name: "none of a product never stocked", who: httpxtest.Anonymous, productID: never.ID, want: 0},
		{name: "a draft is not found, even by stock", who: httpxtest.Anonymous, productID: draft.ID, code: "product_not_found"},
		{name: "an unknown product is not found", who: httpxtest.Anonymous, productID: uuid.Must(uuid.NewV7()).String(), code: "product_not_found"},
		{name: "an id that is no UUID is not found", who: httpxtest.Anonymous, productID: "not-a-uuid", code: "product_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Do(t, tt.who, "GET", "/v1/stock/"+tt.productID+"/availability", nil)
			if tt.code != "" {
				res.WantProblem(t, http.StatusNotFound, tt.code)
				return
			}
			var got struct {
				ProductID string `json:"product_id"`
				Available int64  `json:"available"`
				OnHand    *int64 `json:"on_hand"`
			}
			res.Want(t, http.StatusOK).Decode(t, &got)
			if got.ProductID != tt.productID || got.Available != tt.want {
				t.Errorf("got %+v, want %d available of %s", got, tt.want, tt.productID)
			}
			if got.OnHand != nil {
				t.Errorf("the public answer tells the units on hand (%d)", *got.OnHand)
			}
		})
	}
}

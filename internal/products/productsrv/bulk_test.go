package productsrv_test

import (
	"context"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/products"
)

func TestCreateManyWritesEveryProductWithItsEventOrNoneWhenOneFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustCategory(t, "bulk", "")
	seller := e.seller(t)
	claims := auth.Claims{UserID: seller.ID, Roles: []string{auth.RoleSeller}}
	draft := func(title string) products.Draft {
		return products.Draft{Title: title, Category: "bulk", Price: products.Money{Amount: 1999, Currency: "EUR"}, Status: products.StatusActive}
	}
	ctx := context.Background()
	svc := e.Products.Service
	mine := func() []productBody { return e.storedOf(t, seller) }

	rejected := []struct {
		name  string
		items []products.NewProduct
		code  string
	}{
		{"an invalid draft among valid ones", []products.NewProduct{{Seller: claims, Draft: draft("Fine lamp")}, {Seller: claims, Draft: draft("")}}, "validation_failed"},
		{"a buyer among sellers", []products.NewProduct{{Seller: claims, Draft: draft("Fine lamp")}, {Seller: auth.Claims{UserID: seller.ID, Roles: []string{auth.RoleBuyer}}, Draft: draft("Other lamp")}}, "seller_only"},
	}
	for _, tt := range rejected {
		if _, err := svc.CreateMany(ctx, tt.items); !errs.Is(err, tt.code) {
			t.Errorf("%s: err = %v, want %s", tt.name, err, tt.code)
		}
	}
	if got := mine(); len(got) != 0 {
		t.Fatalf("rejected batches left %d products", len(got))
	}

	made, err := svc.CreateMany(ctx, []products.NewProduct{{Seller: claims, Draft: draft("First lamp")}, {Seller: claims, Draft: draft("Second lamp")}})
	if err != nil || len(made) != 2 {
		t.Fatalf("CreateMany = %d products, %v", len(made), err)
	}
	for _, p := range made {
		got := e.mustGet(t, seller, p.ID)
		if got.Title != p.Title || got.Version != 1 || got.SellerID != seller.ID {
			t.Errorf("stored %+v, want %q at version 1 of %s", got, p.Title, seller.ID)
		}
	}
	if got := mine(); len(got) != 2 {
		t.Errorf("the seller lists %d products, want 2", len(got))
	}
	// Each carries its creation event until the relay has published it.
	waitNonePending(t, e.Products.Store)
}

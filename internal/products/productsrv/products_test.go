package productsrv_test

import (
	"net/http"
	"testing"
)

func TestASellerCreatesAProductAnyoneReadsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustCategory(t, "lamps", "", "colour")
	seller := e.seller(t)
	p := e.mustProduct(t, seller, "lamps", "Desk Lamp", 1999, map[string]any{"colour": "red"})
	if p.SellerID != seller.ID || p.Version != 1 {
		t.Errorf("product %+v, want seller %s at version 1", p, seller.ID)
	}
	var got productBody
	r := e.do(t, anonymous, "GET", "/v1/products/"+p.ID, nil).want(t, http.StatusOK)
	r.decode(t, &got)
	if got.Title != "Desk Lamp" || r.Header.Get("ETag") != `"1"` {
		t.Errorf("got %+v etag %s", got, r.Header.Get("ETag"))
	}
}

package ordersrv_test

import (
	"net/http"
	"testing"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
)

func TestAnOrderGoesFromCartToDelivered(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	sellerA, sellerB, buyer := e.seller(t), e.seller(t), e.buyer(t)
	lamp := e.product(t, sellerA, 1999, "EUR", 10)
	mug := e.product(t, sellerB, 550, "EUR", 5)

	e.Do(t, buyer, "PUT", "/v1/cart/items/"+lamp.ID, map[string]any{"quantity": 2}).Want(t, http.StatusOK)
	var cart orders.Cart
	e.Do(t, buyer, "PUT", "/v1/cart/items/"+mug.ID, map[string]any{"quantity": 3}).Want(t, http.StatusOK).Decode(t, &cart)
	if len(cart.Lines) != 2 || len(cart.Totals) != 1 || cart.Totals[0].Amount != 2*1999+3*550 {
		t.Fatalf("cart %+v", cart)
	}
	if cart.Lines[0].Available != 10 {
		t.Errorf("cart shows %d of the lamp available, want 10", cart.Lines[0].Available)
	}

	var o orderBody
	e.Do(t, buyer, "POST", "/v1/orders", checkoutBody()).Want(t, http.StatusCreated).Decode(t, &o)
	if o.Status != orders.PendingPayment || o.Total.Amount != 2*1999+3*550 || o.Total.Currency != "EUR" || len(o.SubOrders) != 2 {
		t.Fatalf("order %+v", o)
	}
	e.Do(t, buyer, "GET", "/v1/cart", nil).Want(t, http.StatusOK).Decode(t, &cart)
	if len(cart.Lines) != 0 {
		t.Errorf("the cart still holds %d lines after checkout", len(cart.Lines))
	}
	if st := e.stock(t, lamp.ID); st.OnHand != 10 || st.Reserved != 2 {
		t.Errorf("lamp stock %+v after checkout, want 10 on hand, 2 reserved", st)
	}

	// A price change after checkout does not touch the order.
	lamp.Price, lamp.Version = 2999, 2
	e.publishProduct(t, "product.updated", lamp)
	e.waitProjection(t, lamp.ID, 2)

	o = e.mustPay(t, buyer, o.ID, "pm_card_visa")
	if o.Status != orders.Paid || o.Payment == nil || o.Payment.Status != orders.PaymentSucceeded || gw.ChargeCount() != 1 {
		t.Fatalf("after paying: %+v, %d charges", o, gw.ChargeCount())
	}
	if st := e.stock(t, lamp.ID); st.OnHand != 8 || st.Reserved != 0 {
		t.Errorf("lamp stock %+v after payment, want 8 on hand, 0 reserved", st)
	}
	var subA subOrderBody
	for _, s := range o.SubOrders {
		if s.SellerID == sellerA.ID {
			subA = s
		}
	}
	if subA.Subtotal.Amount != 2*1999 || len(subA.Lines) != 1 || subA.Lines[0].UnitPrice.Amount != 1999 {
		t.Fatalf("seller A's sub-order %+v, want the lamp at its checkout price", subA)
	}

	var shipped subOrderBody
	e.Do(t, sellerA, "POST", "/v1/sub-orders/"+subA.ID+"/ship", map[string]any{"tracking_number": "1Z999"}).Want(t, http.StatusOK).Decode(t, &shipped)
	if shipped.Status != orders.Shipped || shipped.TrackingNumber != "1Z999" {
		t.Fatalf("shipped %+v", shipped)
	}
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/cancel", nil).WantProblem(t, http.StatusConflict, "already_shipped")
	e.Do(t, sellerA, "POST", "/v1/sub-orders/"+subA.ID+"/deliver", nil).Want(t, http.StatusOK)
	for _, s := range o.SubOrders {
		if s.SellerID == sellerB.ID {
			e.Do(t, sellerB, "POST", "/v1/sub-orders/"+s.ID+"/ship", map[string]any{"tracking_number": "JD0001"}).Want(t, http.StatusOK)
			e.Do(t, sellerB, "POST", "/v1/sub-orders/"+s.ID+"/deliver", nil).Want(t, http.StatusOK)
		}
	}
	o = e.mustOrder(t, buyer, o.ID)
	if o.Status != orders.Delivered {
		t.Errorf("order %s once every sub-order is delivered, want delivered", o.Status)
	}
	var moves []string
	for _, h := range o.History {
		if h.SubOrderID == "" {
			moves = append(moves, string(h.From)+">"+string(h.To))
		}
	}
	want := []string{">pending_payment", "pending_payment>paid", "paid>delivered"}
	if len(moves) != len(want) {
		t.Fatalf("order history %v, want %v", moves, want)
	}
	for i := range want {
		if moves[i] != want[i] {
			t.Errorf("order history %v, want %v", moves, want)
		}
	}
	if n := len(o.History); n != 3+2*3 {
		t.Errorf("%d history rows, want 3 for the order and 3 (paid, shipped, delivered) per sub-order", n)
	}
}

func TestADeclinedPaymentReleasesTheStock(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 1000, "EUR", 3)
	o := e.mustCheckout(t, buyer, item(p, 2))
	o = e.mustPay(t, buyer, o.ID, payment.DeclinedPaymentMethod)
	if o.Status != orders.PaymentFailed || o.Payment.Status != orders.PaymentDeclined {
		t.Fatalf("order %s, payment %+v; want payment_failed", o.Status, o.Payment)
	}
	if st := e.stock(t, p.ID); st.OnHand != 3 || st.Reserved != 0 {
		t.Errorf("stock %+v after a decline, want it as it was", st)
	}
	if gw.ChargeCount() != 0 {
		t.Errorf("%d charges took money", gw.ChargeCount())
	}
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"}).
		WantProblem(t, http.StatusConflict, "illegal_transition")
}

package ordersrv_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/auth/authtest"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
)

// who names a caller of the access matrix.
type who string

const (
	buyerA   who = "buyer A"
	buyerB   who = "buyer B"
	sellerA  who = "seller A"
	sellerB  who = "seller B"
	sellerC  who = "seller C"
	theAdmin who = "the admin"
	nobody   who = "an anonymous caller"
	forger   who = "a caller with another issuer's token"
)

// everyone is every caller, in the order the matrix asks them.
var everyone = []who{buyerA, buyerB, sellerA, sellerB, sellerC, theAdmin, nobody, forger}

// outcome is what a caller should get from an endpoint.
type outcome int

const (
	// outcomeOK: 200, and the write takes effect.
	outcomeOK outcome = iota
	// outcomeHidden: 404 with the code a missing id gets, and nothing changes.
	outcomeHidden
	// outcomeSellerOnly: 403 seller_only, whatever the id, and nothing changes.
	outcomeSellerOnly
	// outcomeUnauthenticated: 401 with a Bearer challenge, and nothing changes.
	outcomeUnauthenticated
)

func (o outcome) String() string {
	switch o {
	case outcomeOK:
		return "succeeds"
	case outcomeHidden:
		return "is told it does not exist"
	case outcomeSellerOnly:
		return "is refused as not a seller"
	default:
		return "is asked to authenticate"
	}
}

// cast is everyone with a part (or none) in an access test.
type cast map[who]caller

func newCast(t *testing.T, e *testEnv) cast {
	t.Helper()
	other := authtest.NewIssuer(t)
	forgedID := uuid.NewString()
	return cast{
		buyerA: e.buyer(t), buyerB: e.buyer(t),
		sellerA: e.seller(t), sellerB: e.seller(t), sellerC: e.seller(t),
		theAdmin: e.admin(t), nobody: anonymous,
		// Claims to be an admin, but signed by a key the service does not trust.
		forger: {ID: forgedID, Token: other.Token(t, forgedID, "buyer", "seller", "admin")},
	}
}

// deal is one order of buyer A's with a sub-order from seller A and one
// from seller B, each over a product of its own.
type deal struct {
	order              orderBody
	subA, subB         subOrderBody
	productA, productB contracts.ProductV1
}

// Stages a deal can be brought to before an endpoint is called.
const (
	atPending = "pending"
	atPaid    = "paid"
	atShipped = "shipped" // seller A's sub-order shipped
)

const dealQuantity = 2

func (e *testEnv) newDeal(t *testing.T, c cast, stage string) deal {
	t.Helper()
	d := deal{productA: e.product(t, c[sellerA], 1200, "EUR", 20), productB: e.product(t, c[sellerB], 800, "EUR", 20)}
	d.order = e.mustCheckout(t, c[buyerA], item(d.productA, dealQuantity), item(d.productB, dealQuantity))
	if stage == atPaid || stage == atShipped {
		d.order = e.mustPay(t, c[buyerA], d.order.ID, "pm_card_visa")
	}
	for _, s := range d.order.SubOrders {
		switch s.SellerID {
		case c[sellerA].ID:
			d.subA = s
		case c[sellerB].ID:
			d.subB = s
		}
	}
	if d.subA.ID == "" || d.subB.ID == "" {
		t.Fatalf("order %+v lacks a sub-order of seller A or B", d.order)
	}
	if stage == atShipped {
		e.Do(t, c[sellerA], "POST", "/v1/sub-orders/"+d.subA.ID+"/ship", map[string]any{"tracking_number": "1Z999"}).Want(t, http.StatusOK)
	}
	return d
}

// dealState is what a write could change about a deal.
type dealState struct {
	Status    orders.Status
	Version   int64
	SubOrders map[string]orders.Status
	Tracking  map[string]string
	// Stock is on hand and reserved, by product.
	Stock map[string][2]int64
}

// state reads the deal back as its buyer sees it, and its stock.
func (e *testEnv) state(t *testing.T, c cast, d deal) dealState {
	t.Helper()
	o := e.mustOrder(t, c[buyerA], d.order.ID)
	s := dealState{Status: o.Status, Version: o.Version, SubOrders: map[string]orders.Status{},
		Tracking: map[string]string{}, Stock: map[string][2]int64{}}
	for _, sub := range o.SubOrders {
		s.SubOrders[sub.ID], s.Tracking[sub.ID] = sub.Status, sub.TrackingNumber
	}
	for _, p := range []contracts.ProductV1{d.productA, d.productB} {
		st := e.stock(t, p.ID)
		s.Stock[p.ID] = [2]int64{st.OnHand, st.Reserved}
	}
	return s
}

// endpoint is one operation on an existing object, with who may use it.
type endpoint struct {
	// action reads as what the caller does: "reading the order".
	action string
	stage  string
	// request is the call on d's object; swapID replaces the object's id,
	// so that the same call can be made on an id that exists nowhere.
	request func(d deal, swapID string) (method, path string, body any)
	// notFound is the code a missing id gets.
	notFound string
	// effect turns the state before a successful call into the state
	// after it; nil for reads.
	effect func(d deal, s *dealState)
	want   map[who]outcome
}

// onOrder, onSubOrderA and onProductA build the path of d's object, or of
// swapID when set.
func onOrder(method, suffix string, body any) func(deal, string) (string, string, any) {
	return func(d deal, swapID string) (string, string, any) {
		return method, "/v1/orders/" + idOr(swapID, d.order.ID) + suffix, body
	}
}

func onSubOrderA(method, suffix string, body any) func(deal, string) (string, string, any) {
	return func(d deal, swapID string) (string, string, any) {
		return method, "/v1/sub-orders/" + idOr(swapID, d.subA.ID) + suffix, body
	}
}

func onProductA(method, suffix string, body any) func(deal, string) (string, string, any) {
	return func(d deal, swapID string) (string, string, any) {
		return method, "/v1/stock/" + idOr(swapID, d.productA.ID) + suffix, body
	}
}

// idOr returns swap, or id when swap is empty.
func idOr(swap, id string) string {
	if swap != "" {
		return swap
	}
	return id
}

// orderMatrix: only the buyer (and, to read or cancel, an admin) reaches
// an order; sellers reach their part through the sub-order.
func orderMatrix(adminToo bool) map[who]outcome {
	m := map[who]outcome{buyerA: outcomeOK, buyerB: outcomeHidden, sellerA: outcomeHidden, sellerB: outcomeHidden, sellerC: outcomeHidden,
		theAdmin: outcomeHidden, nobody: outcomeUnauthenticated, forger: outcomeUnauthenticated}
	if adminToo {
		m[theAdmin] = outcomeOK
	}
	return m
}

// subOrderMatrix: only seller A and an admin reach seller A's sub-order;
// seller B, whose sub-order is in the same order, does not.
var subOrderMatrix = map[who]outcome{buyerA: outcomeHidden, buyerB: outcomeHidden, sellerA: outcomeOK, sellerB: outcomeHidden, sellerC: outcomeHidden,
	theAdmin: outcomeOK, nobody: outcomeUnauthenticated, forger: outcomeUnauthenticated}

// stockMatrix: only seller A and an admin reach product A's stock; a
// buyer is refused before the product is looked up.
var stockMatrix = map[who]outcome{buyerA: outcomeSellerOnly, buyerB: outcomeSellerOnly, sellerA: outcomeOK, sellerB: outcomeHidden, sellerC: outcomeHidden,
	theAdmin: outcomeOK, nobody: outcomeUnauthenticated, forger: outcomeUnauthenticated}

func setEverySubOrder(s *dealState, to orders.Status) {
	for id := range s.SubOrders {
		s.SubOrders[id] = to
	}
}

var accessEndpoints = []endpoint{
	{
		action: "reading the order", stage: atPending, notFound: "order_not_found",
		request: onOrder("GET", "", nil),
		want:    orderMatrix(true),
	},
	{
		// Paying is the buyer's alone: an admin may read and cancel an
		// order but not charge someone's card for it.
		action: "paying for the order", stage: atPending, notFound: "order_not_found",
		request: onOrder("POST", "/payment", map[string]any{"payment_method": "pm_card_visa"}),
		effect: func(d deal, s *dealState) {
			s.Status, s.Version = orders.Paid, s.Version+1
			setEverySubOrder(s, orders.Paid)
			for _, p := range []string{d.productA.ID, d.productB.ID} {
				s.Stock[p] = [2]int64{s.Stock[p][0] - dealQuantity, s.Stock[p][1] - dealQuantity}
			}
		},
		want: orderMatrix(false),
	},
	{
		action: "cancelling the order", stage: atPending, notFound: "order_not_found",
		request: onOrder("POST", "/cancel", map[string]any{"reason": "changed my mind"}),
		effect: func(d deal, s *dealState) {
			s.Status, s.Version = orders.Cancelled, s.Version+1
			setEverySubOrder(s, orders.Cancelled)
			for _, p := range []string{d.productA.ID, d.productB.ID} {
				s.Stock[p] = [2]int64{s.Stock[p][0], s.Stock[p][1] - dealQuantity}
			}
		},
		want: orderMatrix(true),
	},
	{
		action: "reading seller A's sub-order", stage: atPending, notFound: "sub_order_not_found",
		request: onSubOrderA("GET", "", nil),
		want:    subOrderMatrix,
	},
	{
		action: "shipping seller A's sub-order", stage: atPaid, notFound: "sub_order_not_found",
		request: onSubOrderA("POST", "/ship", map[string]any{"tracking_number": "JD014600006281"}),
		effect: func(d deal, s *dealState) {
			s.Version++
			s.SubOrders[d.subA.ID], s.Tracking[d.subA.ID] = orders.Shipped, "JD014600006281"
		},
		want: subOrderMatrix,
	},
	{
		action: "delivering seller A's sub-order", stage: atShipped, notFound: "sub_order_not_found",
		request: onSubOrderA("POST", "/deliver", nil),
		effect: func(d deal, s *dealState) {
			s.Version++
			s.SubOrders[d.subA.ID] = orders.Delivered
		},
		want: subOrderMatrix,
	},
	{
		action: "reading product A's stock", stage: atPending, notFound: "product_not_found",
		request: onProductA("GET", "", nil),
		want:    stockMatrix,
	},
	{
		action: "setting product A's stock", stage: atPending, notFound: "product_not_found",
		request: onProductA("PUT", "", map[string]any{"on_hand": 50}),
		effect: func(d deal, s *dealState) {
			s.Stock[d.productA.ID] = [2]int64{50, s.Stock[d.productA.ID][1]}
		},
		want: stockMatrix,
	},
	{
		action: "adjusting product A's stock", stage: atPending, notFound: "product_not_found",
		request: onProductA("POST", "/adjustments", map[string]any{"delta": 5}),
		effect: func(d deal, s *dealState) {
			s.Stock[d.productA.ID] = [2]int64{s.Stock[d.productA.ID][0] + 5, s.Stock[d.productA.ID][1]}
		},
		want: stockMatrix,
	},
}

// problemDoc is the part of a problem that must not tell a hidden object
// from a missing one.
type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// TestOnlyTheOwnerOrAnAdminReachesAnOrderASubOrderOrStock asks every
// endpoint that touches an existing object on behalf of every kind of
// caller. Each case has a deal of its own, so the cases run in parallel
// and a write that wrongly succeeds shows in that case alone.
func TestOnlyTheOwnerOrAnAdminReachesAnOrderASubOrderOrStock(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	c := newCast(t, e)
	for _, ep := range accessEndpoints {
		for _, w := range everyone {
			out, ok := ep.want[w]
			if !ok {
				t.Fatalf("%s: no outcome for %s", ep.action, w)
			}
			t.Run(fmt.Sprintf("%s %s %s", w, ep.action, out), func(t *testing.T) {
				t.Parallel()
				d := e.newDeal(t, c, ep.stage)
				before := e.state(t, c, d)
				method, path, body := ep.request(d, "")
				res := e.Do(t, c[w], method, path, body)
				want := before
				switch out {
				case outcomeOK:
					res.Want(t, http.StatusOK)
					var got struct {
						ID        string `json:"id"`
						ProductID string `json:"product_id"`
					}
					res.Decode(t, &got)
					if id := idOr(got.ProductID, got.ID); id == "" || !strings.Contains(path, "/"+id) {
						t.Errorf("answered with %q, not the object asked for (%s)", id, path)
					}
					if ep.effect != nil {
						want = cloneState(before)
						ep.effect(d, &want)
					}
				case outcomeHidden, outcomeSellerOnly:
					code := ep.notFound
					status := http.StatusNotFound
					if out == outcomeSellerOnly {
						code, status = "seller_only", http.StatusForbidden
					}
					res.WantProblem(t, status, code)
					// The answer is exactly the one an id that exists nowhere gets.
					method, path, body := ep.request(d, uuid.Must(uuid.NewV7()).String())
					missing := e.Do(t, c[w], method, path, body)
					missing.WantProblem(t, status, code)
					var got, ref problemDoc
					res.Decode(t, &got)
					missing.Decode(t, &ref)
					if diff := cmp.Diff(ref, got); diff != "" {
						t.Errorf("the answer differs from a missing id's (-missing +existing):\n%s", diff)
					}
				case outcomeUnauthenticated:
					code := "missing_token"
					if w == forger {
						code = "invalid_token"
					}
					res.WantProblem(t, http.StatusUnauthorized, code)
					if h := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
						t.Errorf("WWW-Authenticate %q, want a Bearer challenge", h)
					}
				}
				if diff := cmp.Diff(want, e.state(t, c, d)); diff != "" {
					t.Errorf("the deal after %s %s (-want +got):\n%s", method, path, diff)
				}
			})
		}
	}
}

func cloneState(s dealState) dealState {
	c := s
	c.SubOrders, c.Tracking, c.Stock = map[string]orders.Status{}, map[string]string{}, map[string][2]int64{}
	for k, v := range s.SubOrders {
		c.SubOrders[k] = v
	}
	for k, v := range s.Tracking {
		c.Tracking[k] = v
	}
	for k, v := range s.Stock {
		c.Stock[k] = v
	}
	return c
}

// listedItem is the part of a listed order or sub-order the list tests read.
type listedItem struct {
	ID       string `json:"id"`
	BuyerID  string `json:"buyer_id"`
	SellerID string `json:"seller_id"`
}

type listedPage struct {
	Items      []listedItem `json:"items"`
	NextCursor string       `json:"next_cursor"`
}

// pages follows a list's cursors to its end and returns every item and
// the size of each page.
func (e *testEnv) allPages(t *testing.T, c caller, path string, limit int) (items []listedItem, sizes []int) {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	cursor := ""
	for range 50 {
		url := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		var p listedPage
		e.Do(t, c, "GET", url, nil).Want(t, http.StatusOK).Decode(t, &p)
		if len(p.Items) > limit {
			t.Fatalf("%s: %d items on a page of %d", url, len(p.Items), limit)
		}
		items, sizes = append(items, p.Items...), append(sizes, len(p.Items))
		if p.NextCursor == "" {
			return items, sizes
		}
		cursor = p.NextCursor
	}
	t.Fatalf("%s: the cursors never ended", path)
	return nil, nil
}

func idsOf(items []listedItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// newestFirst orders sub-orders as the lists do: newest first, ties
// broken by the larger id.
func newestFirst(subs []subOrderBody) []string {
	subs = slices.Clone(subs)
	slices.SortFunc(subs, func(a, b subOrderBody) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.ID
	}
	return out
}

func subOrdersOf(seller caller, os ...orderBody) []subOrderBody {
	var out []subOrderBody
	for _, o := range os {
		for _, s := range o.SubOrders {
			if seller.ID == "" || s.SellerID == seller.ID {
				out = append(out, s)
			}
		}
	}
	return out
}

func TestListsShowEachCallerOnlyWhatIsTheirs(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	c := newCast(t, e)
	other := e.buyer(t)
	pa := e.product(t, c[sellerA], 1000, "EUR", 100)
	pb := e.product(t, c[sellerB], 500, "EUR", 100)
	a1 := e.mustCheckout(t, c[buyerA], item(pa, 1), item(pb, 1))
	a2 := e.mustCheckout(t, c[buyerA], item(pa, 2), item(pb, 2))
	x1 := e.mustCheckout(t, other, item(pb, 3))
	everySub := subOrdersOf(caller{}, a1, a2, x1)

	tests := []struct {
		name   string
		who    caller
		path   string
		status int
		code   string
		want   []string // ids, newest first
		// owner is who every listed item must belong to ("" for any).
		buyer, seller string
	}{
		{name: "buyer A sees their own orders and no one else's", who: c[buyerA], path: "/v1/orders",
			want: []string{a2.ID, a1.ID}, buyer: c[buyerA].ID},
		{name: "scope=mine is the same as no scope", who: c[buyerA], path: "/v1/orders?scope=mine",
			want: []string{a2.ID, a1.ID}, buyer: c[buyerA].ID},
		{name: "buyer B, who ordered nothing, sees no orders", who: c[buyerB], path: "/v1/orders", want: []string{}},
		{name: "a seller does not see the orders its sub-orders belong to", who: c[sellerA], path: "/v1/orders", want: []string{}},
		{name: "the admin's own list holds only the admin's orders", who: c[theAdmin], path: "/v1/orders", want: []string{}},
		{name: "buyer A may not list every order", who: c[buyerA], path: "/v1/orders?scope=all",
			status: http.StatusForbidden, code: "admin_only"},
		{name: "seller A may not list every order", who: c[sellerA], path: "/v1/orders?scope=all",
			status: http.StatusForbidden, code: "admin_only"},
		{name: "the admin lists every buyer's orders", who: c[theAdmin], path: "/v1/orders?scope=all",
			want: []string{x1.ID, a2.ID, a1.ID}},
		{name: "seller A sees only its own sub-orders", who: c[sellerA], path: "/v1/sub-orders",
			want: newestFirst(subOrdersOf(c[sellerA], a1, a2, x1)), seller: c[sellerA].ID},
		{name: "seller B sees its sub-orders from every buyer", who: c[sellerB], path: "/v1/sub-orders",
			want: newestFirst(subOrdersOf(c[sellerB], a1, a2, x1)), seller: c[sellerB].ID},
		{name: "seller C, who sold nothing, sees no sub-orders", who: c[sellerC], path: "/v1/sub-orders", want: []string{}},
		{name: "a buyer has no sub-orders to fulfil", who: c[buyerA], path: "/v1/sub-orders", want: []string{}},
		{name: "seller A may not list every sub-order", who: c[sellerA], path: "/v1/sub-orders?scope=all",
			status: http.StatusForbidden, code: "admin_only"},
		{name: "buyer A may not list every sub-order", who: c[buyerA], path: "/v1/sub-orders?scope=all",
			status: http.StatusForbidden, code: "admin_only"},
		{name: "the admin lists every seller's sub-orders", who: c[theAdmin], path: "/v1/sub-orders?scope=all",
			want: newestFirst(everySub)},
		{name: "an anonymous caller may not list orders", who: anonymous, path: "/v1/orders",
			status: http.StatusUnauthorized, code: "missing_token"},
		{name: "an anonymous caller may not list sub-orders", who: anonymous, path: "/v1/sub-orders",
			status: http.StatusUnauthorized, code: "missing_token"},
		{name: "a forged token may not list every order", who: c[forger], path: "/v1/orders?scope=all",
			status: http.StatusUnauthorized, code: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := e.Do(t, tt.who, "GET", tt.path, nil)
			if tt.status != 0 {
				res.WantProblem(t, tt.status, tt.code)
				if tt.status == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", res.Header.Get("WWW-Authenticate"))
				}
				return
			}
			var p listedPage
			res.Want(t, http.StatusOK).Decode(t, &p)
			if p.Items == nil {
				t.Errorf("items is %s, want a list (empty rather than null)", res.Body)
			}
			if diff := cmp.Diff(tt.want, idsOf(p.Items)); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
			for _, it := range p.Items {
				if tt.buyer != "" && it.BuyerID != tt.buyer || tt.seller != "" && it.SellerID != tt.seller {
					t.Errorf("listed %+v, which is not the caller's", it)
				}
			}
			if p.NextCursor != "" {
				t.Errorf("next_cursor %q on a list shorter than a page", p.NextCursor)
			}
		})
	}
}

func TestListsPageThroughEveryItemNewestFirstWithoutRepeats(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	c := newCast(t, e)
	other := e.buyer(t)
	pa := e.product(t, c[sellerA], 1000, "EUR", 100)
	pb := e.product(t, c[sellerB], 500, "EUR", 100)
	var mine []orderBody
	for i := range 7 {
		mine = append(mine, e.mustCheckout(t, c[buyerA], item(pa, 1+i%3), item(pb, 1)))
	}
	theirs := e.mustCheckout(t, other, item(pb, 1))
	newest := func(os ...orderBody) []string {
		var out []string
		for i := len(os) - 1; i >= 0; i-- {
			out = append(out, os[i].ID)
		}
		return out
	}

	tests := []struct {
		name  string
		who   caller
		path  string
		want  []string
		sizes []int
	}{
		{name: "buyer A's 7 orders come in pages of 3, 3 and 1", who: c[buyerA], path: "/v1/orders",
			want: newest(mine...), sizes: []int{3, 3, 1}},
		{name: "the admin's 8 orders of every buyer come in pages of 3, 3 and 2", who: c[theAdmin], path: "/v1/orders?scope=all",
			want: newest(append(slices.Clone(mine), theirs)...), sizes: []int{3, 3, 2}},
		{name: "seller A's 7 sub-orders come in pages of 3, 3 and 1", who: c[sellerA], path: "/v1/sub-orders",
			want: newestFirst(subOrdersOf(c[sellerA], mine...)), sizes: []int{3, 3, 1}},
		{name: "the admin's 15 sub-orders of every seller come in pages of 3", who: c[theAdmin], path: "/v1/sub-orders?scope=all",
			want: newestFirst(subOrdersOf(caller{}, append(slices.Clone(mine), theirs)...)), sizes: []int{3, 3, 3, 3, 3}},
		{name: "a page as large as the list is the last page, with no cursor", who: c[buyerA], path: "/v1/orders",
			want: newest(mine...), sizes: []int{7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			items, sizes := e.allPages(t, tt.who, tt.path, tt.sizes[0])
			got := idsOf(items)
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Errorf("%s is listed twice", id)
				}
				seen[id] = true
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.sizes, sizes); diff != "" {
				t.Errorf("page sizes (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("another buyer following buyer A's cursor sees none of buyer A's orders", func(t *testing.T) {
		t.Parallel()
		var first listedPage
		e.Do(t, c[buyerA], "GET", "/v1/orders?limit=3", nil).Want(t, http.StatusOK).Decode(t, &first)
		if first.NextCursor == "" {
			t.Fatal("no cursor after a full first page")
		}
		var p listedPage
		e.Do(t, c[buyerB], "GET", "/v1/orders?limit=3&cursor="+first.NextCursor, nil).Want(t, http.StatusOK).Decode(t, &p)
		if len(p.Items) != 0 {
			t.Errorf("buyer B got %v through buyer A's cursor", idsOf(p.Items))
		}
	})
}

package loadgen

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// scenario makes the requests of one kind of shopper. next fills in the
// next request; observe sees every result of the scenario, so that a
// multi-step journey can go on from the previous answer (an order's id, a
// listing's next cursor) without blocking vegeta's workers.
type scenario interface {
	next(tgt *vegeta.Target)
	observe(t tag, res *vegeta.Result)
}

// generator is the custom vegeta Targeter: it deals out requests to the
// scenarios of the mix, in proportion to their weights.
type generator struct {
	mix       *roundRobin
	scenarios map[string]scenario
}

// newGenerator builds the scenarios of the mix on the prepared fixture.
// Buyers are split (Config.Validate sees that there are two at least):
// the cart scenario's buyers and the checkout scenario's never share a
// cart, since a checkout buys the whole cart.
func newGenerator(base string, f *fixture, mix []Weight, seed uint64) (*generator, error) {
	cartUsers, checkoutUsers := f.Buyers, f.Buyers
	if weighs(mix, Cart) && weighs(mix, Checkout) {
		n := max(1, len(f.Buyers)/4)
		cartUsers, checkoutUsers = f.Buyers[:n], f.Buyers[n:]
	}
	if len(f.Catalog) == 0 && readsCatalog(mix) {
		return nil, fmt.Errorf("the catalog lists no products: seed some, or add cart, checkout or buy to the mix (they list the loadgen's own)")
	}
	var flows atomic.Uint64
	r := newReq(base, seed)
	all := map[string]scenario{
		Browse:   &browse{req: r, f: f},
		Search:   &search{req: r, f: f},
		Cart:     newCart(r, f, cartUsers),
		Checkout: newCheckout(r, f, checkoutUsers, &flows),
		Buy:      &buy{req: r, f: f},
		Login:    &login{req: r, f: f},
		Detail:   &detail{req: r, f: f},
	}
	g := &generator{mix: newRoundRobin(mix), scenarios: map[string]scenario{}}
	for _, w := range mix {
		g.scenarios[w.Scenario] = all[w.Scenario]
	}
	return g, nil
}

// targeter is the vegeta.Targeter of the generator.
func (g *generator) targeter() vegeta.Targeter {
	return func(tgt *vegeta.Target) error {
		g.scenarios[g.mix.next()].next(tgt)
		return nil
	}
}

// observe hands a result to its scenario.
func (g *generator) observe(t tag, res *vegeta.Result) {
	if s, ok := g.scenarios[t.Scenario]; ok {
		s.observe(t, res)
	}
}

// roundRobin is nginx's smooth weighted round robin: an exact share for
// every scenario in every window of sum(weights) requests, well
// interleaved. A short run therefore has every scenario of the mix, which
// random draws would not promise.
type roundRobin struct {
	mu      sync.Mutex
	weights []Weight
	current []int
	total   int
}

func newRoundRobin(mix []Weight) *roundRobin {
	rr := &roundRobin{weights: mix, current: make([]int, len(mix))}
	for _, w := range mix {
		rr.total += w.Weight
	}
	return rr
}

func (rr *roundRobin) next() string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	best := 0
	for i, w := range rr.weights {
		rr.current[i] += w.Weight
		if rr.current[i] > rr.current[best] {
			best = i
		}
	}
	rr.current[best] -= rr.total
	return rr.weights[best].Scenario
}

// req builds targets; its random source is shared by the scenarios, since
// vegeta calls the targeter from many workers at once.
type req struct {
	base string
	mu   sync.Mutex
	rnd  *rand.Rand
}

func newReq(base string, seed uint64) *req {
	return &req{base: base, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// intn is a random number from 0 to n-1.
func (r *req) intn(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rnd.IntN(n)
}

// pick chooses an index by weight.
func (r *req) pick(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.intn(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// fill sets tgt to a request tagged t. body is JSON when not nil.
func (r *req) fill(tgt *vegeta.Target, t tag, method, path, token string, body []byte, header ...string) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	*tgt = vegeta.Target{Method: method, URL: r.base + path + "#" + t.fragment(), Body: body, Header: h}
}

// ok says whether a result is a success.
func ok(res *vegeta.Result) bool { return res.Code >= 200 && res.Code < 400 }

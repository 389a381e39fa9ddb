// Package loadgen is a load generator for the marketplace's public HTTP API.
// It prepares its own buyers through the API, and a seller with products
// when the mix fills carts or buys (so it runs against any deployment),
// then drives shopper scenarios (browse, search, cart, checkout, buy,
// login) with vegeta at an open-loop rate, constant or in steps, and
// reports latency percentiles, errors, SLO verdicts and a plot.
package loadgen

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scenario names, as flags and reports spell them.
const (
	Browse   = "browse"
	Search   = "search"
	Cart     = "cart"
	Checkout = "checkout"
	// Buy places orders alone, each for one product without the cart
	// ("buy now"): the checkout step, without the journey around it.
	Buy   = "buy"
	Login = "login"
	// Detail reads product pages alone, of the sample of the catalog: it
	// measures the one read a cache serves, warm once every sampled
	// product was read, or uncached against a platform that caches none.
	Detail = "detail"
	Mixed  = "mixed"
)

// Scenarios lists every scenario that a mix may weigh, in report order.
var Scenarios = []string{Browse, Search, Cart, Checkout, Buy, Login, Detail}

// DefaultMix is about 74% catalog reads, 21% cart updates and 5% checkouts,
// the shape of Google's Online Boutique load generator.
const DefaultMix = "browse=60,search=14,cart=21,checkout=5"

// Weight is one scenario's share of a mix.
type Weight struct {
	Scenario string
	Weight   int
}

// Ramp is a step ramp of request rates: Start, Start+Step, ... up to Max.
type Ramp struct {
	Start, Max, Step int
}

// Rates lists the rates of the ramp's steps.
func (r Ramp) Rates() []int {
	var out []int
	if r.Step <= 0 {
		return nil // not a ramp ParseRamp accepts; an endless loop otherwise
	}
	for rate := r.Start; rate <= r.Max; rate += r.Step {
		out = append(out, rate)
	}
	return out
}

// SLO is what a step must meet: read latency percentiles and an error rate.
type SLO struct {
	P50, P99 time.Duration // of catalog reads (browse and search)
	Errors   float64       // share of failed requests, of all scenarios
}

// Config is one load run.
type Config struct {
	Target     string        // base URL of the gateway
	Mix        []Weight      // scenarios and their weights
	Rate       int           // requests/s of a constant run
	Duration   time.Duration // of a constant run
	Ramp       *Ramp         // a step ramp instead of a constant rate
	Step       time.Duration // how long each ramp step lasts
	SLO        SLO
	Users      int // virtual buyers
	Products   int // products the loadgen's own seller lists
	Workers    uint64
	MaxWorkers uint64
	Timeout    time.Duration // of one request
	Out        string        // directory for report.md and plot.png; "" for none
	Baseline   bool          // before the load, send the same load to a bare net/http handler in this process
	// StartAt, when set, is when the load begins, once prepared: load
	// generators given the same time load the target together, whatever
	// their preparation took. One prepared later begins at once, and its
	// report says how late.
	StartAt time.Time
}

// Validate says what is wrong with c, all at once.
func (c Config) Validate() error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(!strings.HasPrefix(c.Target, "http://") && !strings.HasPrefix(c.Target, "https://"), "target %q is not an http(s) URL", c.Target)
	check(len(c.Mix) == 0, "the mix is empty")
	check(c.Ramp == nil && c.Rate <= 0, "rate must be positive")
	check(c.Ramp == nil && c.Duration <= 0, "duration must be positive")
	check(c.Ramp != nil && c.Step <= 0, "step must be positive")
	check(c.Users < 1, "users must be at least 1")
	// A checkout buys its buyer's whole cart, so the cart scenario's
	// buyers must be others.
	check(c.Users < 2 && weighs(c.Mix, Cart) && weighs(c.Mix, Checkout), "a mix of cart and checkout needs at least 2 users")
	check(c.Products < 1, "products must be at least 1")
	check(c.SLO.Errors < 0 || c.SLO.Errors > 1, "slo-errors must be from 0 to 1")
	check(c.Workers == 0, "workers must be at least 1")
	check(c.MaxWorkers < c.Workers, "max-workers must be at least workers")
	return errors.Join(errs...)
}

// ParseMix reads weights such as "browse=60,search=14": every name a
// scenario, named once, each weight a positive integer.
func ParseMix(s string) ([]Weight, error) {
	var out []Weight
	for part := range strings.SplitSeq(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("mix %q: %q is not scenario=weight", s, part)
		}
		if !slices.Contains(Scenarios, name) {
			return nil, fmt.Errorf("mix %q: unknown scenario %q (want one of %s)", s, name, strings.Join(Scenarios, ", "))
		}
		n, err := strconv.Atoi(w)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("mix %q: weight of %s must be a positive integer", s, name)
		}
		if slices.ContainsFunc(out, func(x Weight) bool { return x.Scenario == name }) {
			return nil, fmt.Errorf("mix %q: %s named twice", s, name)
		}
		out = append(out, Weight{Scenario: name, Weight: n})
	}
	return out, nil
}

// MixFor is the mix of a --scenario value: the mix itself for "mixed",
// otherwise the one scenario alone.
func MixFor(scenario, mix string) ([]Weight, error) {
	if scenario == Mixed {
		return ParseMix(mix)
	}
	if !slices.Contains(Scenarios, scenario) {
		return nil, fmt.Errorf("unknown scenario %q (want mixed or one of %s)", scenario, strings.Join(Scenarios, ", "))
	}
	return []Weight{{Scenario: scenario, Weight: 1}}, nil
}

// ParseRamp reads "start:max:step" in requests/s, such as "10:400:10".
func ParseRamp(s string) (Ramp, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return Ramp{}, fmt.Errorf("ramp %q is not start:max:step", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v <= 0 {
			return Ramp{}, fmt.Errorf("ramp %q: %q is not a positive integer", s, p)
		}
		n[i] = v
	}
	r := Ramp{Start: n[0], Max: n[1], Step: n[2]}
	if r.Max < r.Start {
		return Ramp{}, fmt.Errorf("ramp %q: max is below start", s)
	}
	return r, nil
}

// OwnProducts is how many products the loadgen's seller lists: Products
// when a scenario of the mix puts them in carts or buys them, else none.
// A mix that only reads or logs in needs no seller (its reads need
// products already in the catalog), and listing products for nothing would
// load the catalog with writes (and the search index with merges) while
// another run's reads are being measured.
func (c Config) OwnProducts() int {
	if weighs(c.Mix, Cart) || weighs(c.Mix, Checkout) || weighs(c.Mix, Buy) {
		return c.Products
	}
	return 0
}

// readsCatalog says whether a scenario of the mix picks products from
// the catalog's listings.
func readsCatalog(mix []Weight) bool {
	return weighs(mix, Browse) || weighs(mix, Search) || weighs(mix, Detail) || weighs(mix, Cart)
}

// weighs says whether the mix has the scenario.
func weighs(mix []Weight, scenario string) bool {
	return slices.ContainsFunc(mix, func(w Weight) bool { return w.Scenario == scenario })
}

// IsRead says whether a scenario is a catalog read, the part of the load
// that the SLO's latency applies to.
func IsRead(scenario string) bool {
	return scenario == Browse || scenario == Search || scenario == Detail
}

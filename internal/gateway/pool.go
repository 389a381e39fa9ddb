package gateway

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// pool is one service's instances, picked in turn among the healthy ones.
type pool struct {
	service    string
	instances  []*instance
	ejectAfter int
	ejectFor   time.Duration
	mu         sync.Mutex
	next       int
}

// instance is one upstream, with its run of failures.
type instance struct {
	base         string
	mu           sync.Mutex
	failures     int
	ejectedUntil time.Time
	pool         *pool
}

func newPool(service string, bases []string, ejectAfter int, ejectFor time.Duration) (*pool, error) {
	if len(bases) == 0 {
		return nil, fmt.Errorf("gateway: no instance of the %s service", service)
	}
	p := &pool{service: service, ejectAfter: ejectAfter, ejectFor: ejectFor}
	for _, b := range bases {
		if err := checkBase(b); err != nil {
			return nil, fmt.Errorf("gateway: %s instance: %w", service, err)
		}
		p.instances = append(p.instances, &instance{base: strings.TrimSuffix(b, "/"), pool: p})
	}
	return p, nil
}

// pick returns the next healthy instance not tried yet, or nil.
func (p *pool) pick(tried map[*instance]bool) *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for range p.instances {
		inst := p.instances[p.next%len(p.instances)]
		p.next++
		if !tried[inst] && inst.healthy(now) {
			return inst
		}
	}
	return nil
}

func (i *instance) healthy(now time.Time) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return !now.Before(i.ejectedUntil)
}

// failed counts a failure; enough in a row leave the instance out for a
// while, after which it gets requests again (and is left out again at
// once if it still fails).
func (i *instance) failed() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.failures++
	if i.failures >= i.pool.ejectAfter {
		i.ejectedUntil = time.Now().Add(i.pool.ejectFor)
		i.failures = i.pool.ejectAfter - 1
	}
}

func (i *instance) succeeded() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.failures = 0
}

// checkBase accepts a service's base URL: http or https, a host, no path.
func checkBase(b string) error {
	u, err := url.Parse(b)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%q is not a base URL such as http://10.0.0.5:8081", b)
	}
	return nil
}

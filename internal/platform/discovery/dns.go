package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// DNS is a Source that resolves Host every Interval; each A or AAAA record
// becomes Scheme://ip:Port. Pointed at a Kubernetes headless service, it
// follows the ready pods behind it.
type DNS struct {
	Scheme, Host, Port string
	Interval           time.Duration // zero means 5s
	Resolver           *net.Resolver // nil means net.DefaultResolver
	Log                *slog.Logger  // nil means slog.Default()
}

// ParseDNS parses "dns+http://host:port" (or dns+https) into a DNS source.
// Without a port, it is the scheme's default.
func ParseDNS(s string) (DNS, error) {
	u, err := url.Parse(s)
	if err != nil {
		return DNS{}, fmt.Errorf("discovery: %w", err)
	}
	scheme, ok := strings.CutPrefix(u.Scheme, "dns+")
	if !ok || (scheme != "http" && scheme != "https") {
		return DNS{}, fmt.Errorf("discovery: %q: scheme is not dns+http or dns+https", s)
	}
	if u.Hostname() == "" || u.User != nil || u.Opaque != "" ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return DNS{}, fmt.Errorf("discovery: %q: want dns+%s://host[:port] and nothing else", s, scheme)
	}
	port := cmp.Or(u.Port(), map[string]string{"http": "80", "https": "443"}[scheme])
	return DNS{Scheme: scheme, Host: u.Hostname(), Port: port}, nil
}

// Watch implements Source. A failed lookup keeps the last list: a DNS
// outage (or a name with no records) does not drop every instance.
func (d DNS) Watch(ctx context.Context, update func([]string)) error {
	if d.Scheme == "" || d.Host == "" || d.Port == "" {
		return errors.New("discovery: DNS needs Scheme, Host and Port")
	}
	log := orDefault(d.Log).With("host", d.Host)
	ticker := time.NewTicker(cmp.Or(d.Interval, 5*time.Second))
	defer ticker.Stop()
	rep := reporter{update: update}
	failing := false
	for {
		urls, err := d.lookup(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			if failing {
				log.Info("discovery: DNS lookup works again")
			}
			rep.report(urls)
		case !failing:
			log.Warn("discovery: DNS lookup failed; keeping the last list", "err", err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (d DNS) lookup(ctx context.Context) ([]string, error) {
	addrs, err := cmp.Or(d.Resolver, net.DefaultResolver).LookupNetIP(ctx, "ip", d.Host)
	if err != nil {
		return nil, err
	}
	urls := make([]string, len(addrs))
	for i, a := range addrs {
		urls[i] = d.Scheme + "://" + net.JoinHostPort(a.Unmap().String(), d.Port)
	}
	return urls, nil
}

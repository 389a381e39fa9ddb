package httpx

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP finds the address of the client that sent r. X-Forwarded-For is
// believed only when the direct peer is one of the trusted proxies or a
// module of this process (the in-process gateway, see InProcess), and then
// only up to the first hop that is not trusted, so a client cannot pick the
// address its rate limits are counted against. Loopback is not trusted for
// being loopback: any local process can connect from it.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := remoteAddr(r)
	if !InProcess(r) && !isTrusted(peer, trusted) {
		return peer.String()
	}
	// Several header lines form one list (RFC 9110, section 5.3); a proxy
	// that adds its own line must not leave the client's first line in charge.
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !isTrusted(addr, trusted) {
			return addr.String()
		}
		peer = addr
	}
	return peer.String()
}

// ClientKey is what a client's limits are counted under, given its address
// from ClientIP. An IPv6 client usually holds a whole /64, so that is one
// client: counted per address, it could make itself 2^64 budgets, or as
// many login failures before the throttle.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

type inProcessKey struct{}

// WithInProcessCaller marks ctx as that of a request another module of this
// process made over the in-process transport. No request from the network
// can carry the mark, as none carries a context of ours.
func WithInProcessCaller(ctx context.Context) context.Context {
	return context.WithValue(ctx, inProcessKey{}, true)
}

// InProcess reports whether r came from a module of this process over the
// in-process transport.
func InProcess(r *http.Request) bool {
	v, _ := r.Context().Value(inProcessKey{}).(bool)
	return v
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return addr.Unmap()
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

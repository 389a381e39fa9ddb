package main

import (
	"net"
	"os"
	"regexp"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/config"
)

// TestALocalRunListensOnLoopbackAndTheImageOnEveryInterface holds the
// default the outside probe asked for: a module left unconfigured listens
// on loopback only, so a laptop's services are not on the network, while
// the address variable opens it up and the image (which the chart and
// compose run) sets every module's variable to its port on every
// interface.
func TestALocalRunListensOnLoopbackAndTheImageOnEveryInterface(t *testing.T) {
	t.Parallel()
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range table() {
		t.Run(m.name, func(t *testing.T) {
			unset := readAddr(config.FromLookup(func(string) (string, bool) { return "", false }), m)
			host, p, err := net.SplitHostPort(unset)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				t.Errorf("with %s unset the module listens on %q, want a loopback address", m.addrVariable(), unset)
			}
			open := ":" + p
			set := readAddr(config.FromLookup(func(name string) (string, bool) { return open, name == m.addrVariable() }), m)
			if set != open {
				t.Errorf("with %s=%s the module listens on %q", m.addrVariable(), open, set)
			}
			env := regexp.MustCompile(`(?m)^\s*(ENV\s+)?` + regexp.QuoteMeta(m.addrVariable()+"="+open) + `\b`)
			if !env.Match(dockerfile) {
				t.Errorf("the Dockerfile does not set %s=%s: in a container the module would be unreachable", m.addrVariable(), open)
			}
		})
	}
}

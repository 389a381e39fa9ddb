// Package etcdtest runs a real, single-member etcd server inside a test
// process, so that code using the etcd client is tested against etcd itself.
package etcdtest

import (
	"net/url"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// Start starts an embedded etcd server on free loopback ports, with its data
// in a temporary directory, and returns its client endpoints. The server
// stops when the test ends.
func Start(tb testing.TB) (endpoints []string) {
	tb.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = tb.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true // throwaway data: speed over durability
	// Port 0: the kernel picks free ports, so parallel tests never collide.
	// A single member never dials its own peer URL.
	client := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	tb.Cleanup(e.Close)
	eventually.Receive(tb, "etcd to be ready", e.Server.ReadyNotify())
	return []string{"http://" + e.Clients[0].Addr().String()}
}

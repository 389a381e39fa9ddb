package discovery_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/marketplace-go/marketplace/internal/platform/discovery"
	"github.com/marketplace-go/marketplace/internal/platform/discovery/etcdtest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// long is a TTL no test outlives, so an entry that goes away was removed.
const long = time.Minute

func TestRegisteredInstancesAppearAndCloseRemovesThemAtOnce(t *testing.T) {
	t.Parallel()
	cli := dial(t, etcdtest.Start(t))
	lists := watch(t, discovery.Etcd{Client: cli, Service: "products", Log: quiet})
	waitFor(t, lists) // none yet

	a := mustRegister(t, cli, "products", "http://10.0.0.2:8082", long)
	waitFor(t, lists, "http://10.0.0.2:8082")
	mustRegister(t, cli, "products", "http://10.0.0.1:8082", long)
	mustRegister(t, cli, "users", "http://10.0.0.9:8081", long) // another service
	waitFor(t, lists, "http://10.0.0.1:8082", "http://10.0.0.2:8082")

	if err := a.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitFor(t, lists, "http://10.0.0.1:8082")
}

func TestAWatcherStartedLaterSeesEarlierRegistrations(t *testing.T) {
	t.Parallel()
	cli := dial(t, etcdtest.Start(t))
	mustRegister(t, cli, "orders", "http://10.0.0.2:8083", long)
	mustRegister(t, cli, "orders", "http://10.0.0.1:8083", long)
	mustRegister(t, cli, "orders", "http://10.0.0.1:8083", long) // a restarted instance, say

	lists := watch(t, discovery.Etcd{Client: cli, Service: "orders", Log: quiet})
	want := []string{"http://10.0.0.1:8083", "http://10.0.0.2:8083"}
	if got := next(t, lists); !slices.Equal(got, want) {
		t.Fatalf("first list %q, want %q", got, want)
	}
}

func TestTheRegistrationOfADeadProcessExpiresAfterItsTTL(t *testing.T) {
	t.Parallel()
	endpoints := etcdtest.Start(t)
	cli := dial(t, endpoints)
	lists := watch(t, discovery.Etcd{Client: cli, Service: "products", Log: quiet})

	dying := dial(t, endpoints)
	mustRegister(t, dying, "products", "http://10.0.0.1:8082", 2*time.Second)
	waitFor(t, lists, "http://10.0.0.1:8082")

	dying.Close() // the process dies without deregistering
	waitFor(t, lists)
}

func TestARegistrationSurvivesItsLeaseBeingRevoked(t *testing.T) {
	t.Parallel()
	cli := dial(t, etcdtest.Start(t))
	const ttl = 2 * time.Second
	r := mustRegister(t, cli, "products", "http://10.0.0.1:8082", ttl)
	lost := lease(t, cli)
	if _, err := cli.Revoke(context.Background(), lost); err != nil {
		t.Fatal(err)
	}

	eventually.True(t, "registered again under a new lease", func() bool {
		l := lease(t, cli)
		return l != 0 && l != lost
	})
	// The new lease must be kept alive too. etcd's lease clock runs in
	// the etcd server, out of the test's reach: outliving the TTL is the
	// thing under test, so here time has to pass.
	time.Sleep(2 * ttl)
	if lease(t, cli) == 0 {
		t.Fatal("registered again, then expired")
	}

	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if l := lease(t, cli); l != 0 {
		t.Fatalf("registered under lease %x after Close", l)
	}
}

func TestWatchReturnsAnErrorWhenTheClientCloses(t *testing.T) {
	t.Parallel()
	cli := dial(t, etcdtest.Start(t))
	errc := make(chan error, 1)
	go func() {
		errc <- discovery.Etcd{Client: cli, Service: "products", Log: quiet}.Watch(context.Background(), func([]string) {})
	}()
	cli.Close()
	if err := eventually.Receive(t, "Watch to return after the client closed", errc); err == nil {
		t.Fatal("Watch returned nil")
	}
}

func TestDialFailsFastWhenEtcdIsUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if cli, err := discovery.Dial(ctx, []string{"http://" + addr}); err == nil {
		cli.Close()
		t.Fatal("Dial succeeded with nothing listening")
	}
}

func TestRegisterRejectsBadArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, service, url string
		ttl                time.Duration
	}{
		{"no service", "", "http://10.0.0.1:8082", long},
		{"slash in service", "a/b", "http://10.0.0.1:8082", long},
		{"no url", "products", "", long},
		{"no ttl", "products", "http://10.0.0.1:8082", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := discovery.Register(context.Background(), nil, "", tt.service, tt.url, tt.ttl, quiet); err == nil {
				t.Fatal("Register succeeded")
			}
		})
	}
}

func dial(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := discovery.Dial(context.Background(), endpoints)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func mustRegister(t *testing.T, cli *clientv3.Client, service, url string, ttl time.Duration) *discovery.Registration {
	t.Helper()
	r, err := discovery.Register(context.Background(), cli, "", service, url, ttl, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// lease returns the lease of the only registered instance, or 0 if none.
func lease(t *testing.T, cli *clientv3.Client) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(context.Background(), discovery.DefaultPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return 0
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

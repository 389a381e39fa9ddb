package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/discovery/etcdtest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/mongo/mongotest"
	"github.com/marketplace-go/marketplace/internal/users/password"
)

// asBinary makes the test binary stand in for the marketplace binary: the
// split-mode test starts it again as each service's process.
const asBinary = "MARKETPLACE_TEST_AS_BINARY"

// parallelPlatforms is how many parallel tests run at once unless
// -parallel says otherwise. Go's default is GOMAXPROCS (2 here), but an
// end-to-end test spends much of its time waiting (start-up, events, the
// browser): on this shared 2-core machine the package took 190-335 s with
// four at once and 333 s with two, where it took 459 s all serial.
const parallelPlatforms = "4"

func TestMain(m *testing.M) {
	if password.IsWorker() { // the users service's hashing worker: this binary again
		os.Exit(password.ServeWorker())
	}
	if os.Getenv(asBinary) == "1" {
		main()
		os.Exit(0)
	}
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", parallelPlatforms)
	}
	os.Exit(m.Run())
}

// process is one `marketplace serve` running as its own OS process.
type process struct {
	name    string
	cmd     *exec.Cmd
	addr    string // the address its service listens on
	metrics string // the address of its metrics listener, if any
	done    chan struct{}
}

// startProcess runs `marketplace serve --target=target` with vars (on top
// of this process's environment) and waits until it listens.
func startProcess(t *testing.T, name, target string, vars map[string]string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--target="+target)
	cmd.Env = append(os.Environ(), asBinary+"=1", "LOG_LEVEL=info")
	for k, v := range vars {
		if k != "LOG_LEVEL" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	want := []string{target}
	if vars["METRICS_ADDR"] != "" {
		want = append(want, "metrics")
	}
	listening := make(chan map[string]string, 1)
	go func() {
		p.readLog(t, stdout, want, listening) // until the process exits
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case addrs := <-listening:
		p.addr, p.metrics = addrs[target], addrs["metrics"]
		return p
	case <-p.done:
		t.Fatalf("%s exited before listening", name)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not listen within 60s", name)
	}
	return nil
}

// readLog passes the process's log lines to the test log (warnings and
// worse) and reports the addresses it listens on, by service, once those
// of the wanted services are known.
func (p *process) readLog(t *testing.T, r io.Reader, want []string, listening chan<- map[string]string) {
	addrs := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Level, Msg, Service, Addr string
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			t.Logf("%s: %s", p.name, sc.Text())
			continue
		}
		if line.Msg == "listening" {
			addrs[line.Service] = line.Addr
			if !slices.ContainsFunc(want, func(s string) bool { return addrs[s] == "" }) {
				select {
				case listening <- maps.Clone(addrs):
				default:
				}
			}
		}
		if line.Level == "WARN" || line.Level == "ERROR" {
			t.Logf("%s: %s", p.name, sc.Text())
		}
	}
}

// stop ends the process as an orchestrator would (SIGTERM, then SIGKILL
// after 20s) and waits for it.
func (p *process) stop(t *testing.T) {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop within 20s of SIGINT", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process at once, as a crash or a lost node would.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// TestE2EJourneyWithEachServiceInItsOwnProcess runs the journey against
// the gateway, users, products (twice), search and orders as separate processes,
// found through etcd. Once the catalog is listed, a second products
// instance registers and a steady stream of catalog reads starts; one
// products instance is then killed mid-run, and no read may fail.
func TestE2EJourneyWithEachServiceInItsOwnProcess(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	vars := testVars(t, map[string]string{
		"ETCD_ENDPOINTS":          etcdtest.Start(t)[0],
		"MONGODB_URI":             mongotest.URI(t),
		"MONGODB_DATABASE":        mongotest.Name(t),
		"SHUTDOWN_DELAY":          "500ms",
		"GATEWAY_HEALTH_INTERVAL": "500ms",
	})
	getenv := lookup(vars)
	if err := run(context.Background(), []string{"seed", "--products=12", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	users := startProcess(t, "users", "users", vars)
	vars["AUTH_JWKS_URL"] = "http://" + users.addr + "/.well-known/jwks.json"
	vars["SEARCH_USERS_URL"] = "http://" + users.addr
	productsA := startProcess(t, "products-a", "products", vars)
	// The listing is the search service's; it reads the catalog from the
	// first products instance when it must rebuild.
	startProcess(t, "search", "search", withVar(vars, "SEARCH_PRODUCTS_URL", "http://"+productsA.addr))
	gateway := startProcess(t, "gateway", "gateway", withVar(vars, "METRICS_ADDR", "127.0.0.1:0"))
	base := "http://" + gateway.addr
	// Orders reads the catalog through the gateway, over every products
	// instance.
	vars["ORDERS_PRODUCTS_URL"] = base
	startProcess(t, "orders", "orders", vars)

	var (
		load      *readLoad
		productsB *process
	)
	journey(t, base, func(t *testing.T) {
		productsB = startProcess(t, "products-b", "products", vars)
		load = startReadLoad(t, base+"/v1/products?limit=5")
		// Once the gateway counts the second instance up, the load reaches
		// both: then lose one.
		up := fmt.Sprintf(`gateway_upstream_instance_up{instance="http://%s",upstream="products"} 1`, productsB.addr)
		eventually.True(t, "the gateway counts the second products instance up", func() bool {
			_, metrics := get(t, "http://"+gateway.metrics+"/metrics")
			return strings.Contains(metrics, up)
		})
		productsA.kill()
	})
	if load == nil {
		t.Fatal("the journey stopped before the catalog was listed")
	}
	ok, bad, failed := load.stop()
	if ok == 0 || bad > 0 {
		t.Errorf("catalog reads during the loss of an instance: %d ok, %d failed: %v", ok, bad, failed)
	}
	t.Logf("%d catalog reads, none failed, while a products instance was killed", ok)
	up := fmt.Sprintf(`gateway_upstream_instance_up{instance="http://%s",upstream="products"} 1`, productsB.addr)
	if _, metrics := get(t, "http://"+gateway.metrics+"/metrics"); !strings.Contains(metrics, up) {
		t.Errorf("the gateway does not count the second products instance as up: no %s", up)
	}
}

// startSplit starts users, products, search and orders each in a process of
// its own and a gateway in this one, on free addresses written into vars,
// waits until the gateway reaches them all, and returns the gateway's URL
// and the processes (to stop or kill).
func startSplit(t *testing.T, vars map[string]string) (string, map[string]*process) {
	t.Helper()
	services := []string{"users", "products", "search", "orders"} // users first: the others read its keys
	vars["GATEWAY_ADDR"] = freeAddr(t)
	for _, s := range services {
		vars[envName(s)+"_ADDR"] = freeAddr(t)
		vars["GATEWAY_"+envName(s)+"_URLS"] = "http://" + vars[envName(s)+"_ADDR"]
	}
	vars["AUTH_JWKS_URL"] = "http://" + vars["USERS_ADDR"] + "/.well-known/jwks.json"
	vars["SEARCH_PRODUCTS_URL"] = "http://" + vars["PRODUCTS_ADDR"]
	vars["SEARCH_USERS_URL"] = "http://" + vars["USERS_ADDR"]
	vars["ORDERS_PRODUCTS_URL"] = "http://" + vars["GATEWAY_ADDR"]
	procs := map[string]*process{}
	for _, s := range services {
		procs[s] = startProcess(t, s, s, vars)
	}
	addrs, _ := startServe(t, lookup(vars), "--target=gateway")
	base := "http://" + addrs["gateway"]
	gatewayReaches(t, base)
	return base, procs
}

func withVar(vars map[string]string, k, v string) map[string]string {
	out := maps.Clone(vars)
	out[k] = v
	return out
}

// readLoad sends GET requests to one URL from a few goroutines until
// stopped, keeping what failed.
type readLoad struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	ok, bad atomic.Int64
	mu      sync.Mutex
	failed  []string // the first few failures
}

func startReadLoad(t *testing.T, url string) *readLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &readLoad{cancel: cancel}
	for range 4 {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				l.read(ctx, url)
			}
		})
	}
	t.Cleanup(func() { _, _, _ = l.stop() })
	return l
}

func (l *readLoad) read(ctx context.Context, url string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			l.ok.Add(1)
			return
		}
		err = fmt.Errorf("status %d", res.StatusCode)
	}
	l.bad.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failed) < 10 {
		l.failed = append(l.failed, err.Error())
	}
}

// stop ends the load and returns how many reads succeeded and failed, and
// how the first failures failed.
func (l *readLoad) stop() (ok, bad int64, failed []string) {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.bad.Load(), l.failed
}

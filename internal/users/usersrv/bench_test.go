//go:build unix

// The CPU accounting below uses getrusage, so these benchmarks build on unix
// systems only; /proc, where present, adds machine and PostgreSQL time.

package usersrv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/mail"
	"github.com/marketplace-go/marketplace/internal/platform/mail/mailtest"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/observability/cputime"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/users/password"
	"github.com/marketplace-go/marketplace/internal/users/userdb"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// The login throughput target (bench/results/users.md): logins per second
// through the whole service must be within 20% of raw argon2id verifies per
// second on the same machine. Run both with
//
//	go test -run '^$' -bench 'RawArgon2idVerify|Login' -benchtime 5s -count 3 ./internal/users/usersrv/

// BenchmarkRawArgon2idVerify is the ceiling: verifying a correct password
// with the production parameters on every CPU at once, as the hash pool does.
func BenchmarkRawArgon2idVerify(b *testing.B) {
	hash := password.OWASP.Hash(goodPassword)
	b.ResetTimer()
	m := startCPUMeter(nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ok, _, err := password.OWASP.Verify(goodPassword, hash)
			if err != nil || !ok {
				b.Errorf("verify: ok=%v err=%v", ok, err)
				return
			}
		}
	})
	m.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

// benchLoginUsers is how many accounts the login benchmark spreads over, so
// that no single account's rows become a hot spot.
const benchLoginUsers = 8

// benchLoginParallelism is the number of concurrent requests per CPU: enough
// to keep every hash worker busy while other requests are in the database.
const benchLoginParallelism = 4

// BenchmarkLogin is POST /v1/auth/login against the real service (HTTP,
// throttle checks, user lookup, argon2id on the pool, session insert, JWT)
// with production hashing parameters and one hash worker per CPU.
func BenchmarkLogin(b *testing.B) {
	url, db := newBenchEnv(b, func(c *usersrv.Config) {
		c.Argon = password.OWASP
		c.HashWorkers = runtime.NumCPU()
		c.HashQueue = 4096
		c.AccountMaxFailures = 1 << 30
		c.AddressMaxFailures = 1 << 30
	})
	conc := benchLoginParallelism * runtime.GOMAXPROCS(0)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: 2 * conc, MaxIdleConnsPerHost: 2 * conc, IdleConnTimeout: time.Minute,
	}}
	b.Cleanup(client.CloseIdleConnections)

	bodies := make([][]byte, benchLoginUsers)
	for i := range bodies {
		email := fmt.Sprintf("bench%d@example.com", i)
		benchPost(b, client, url+"/v1/auth/register", map[string]string{
			"email": email, "password": goodPassword, "display_name": "Bench " + email,
		}, http.StatusCreated)
		bodies[i] = benchJSON(b, map[string]string{"email": email, "password": goodPassword})
	}
	// Warm up with as many logins at once as the benchmark sends, so that
	// the connection pools are full before the clock starts.
	var wg sync.WaitGroup
	for i := range conc {
		wg.Go(func() {
			benchPost(b, client, url+"/v1/auth/login", json.RawMessage(bodies[i%benchLoginUsers]), http.StatusOK)
		})
	}
	wg.Wait()

	var next atomic.Uint64
	b.SetParallelism(benchLoginParallelism)
	b.ResetTimer()
	m := startCPUMeter(db)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[next.Add(1)%benchLoginUsers]
			status, resp, err := benchPostRaw(client, url+"/v1/auth/login", body)
			if err != nil || status != http.StatusOK {
				b.Errorf("login: status %d, err %v, body %s", status, err, resp)
				return
			}
		}
	})
	m.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// cpuMeter accounts for the CPU time spent while a benchmark runs. Unlike
// throughput it tells where the time went, and whether the machine was
// shared: on a machine doing nothing else, this process plus its PostgreSQL
// backends are all of the busy time.
type cpuMeter struct {
	db         *pgxpool.Pool // nil: no PostgreSQL backends to account for
	proc       time.Duration
	busy, idle time.Duration
	pg         map[int]time.Duration
}

func startCPUMeter(db *pgxpool.Pool) *cpuMeter {
	m := &cpuMeter{db: db, proc: cputime.Process(), pg: pgBackendCPU(db)}
	m.busy, m.idle = cputime.Machine()
	return m
}

// report adds, per operation in milliseconds: cpu-ms (this process: the
// service and, for the login benchmark, its HTTP client), pg-cpu-ms (the
// backends of the benchmark's database) and other-cpu-ms (everything else
// the machine did meanwhile); and idle-% of the machine's CPU time.
func (m *cpuMeter) report(b *testing.B) {
	perOp := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
	proc := cputime.Process() - m.proc
	busy, idle := cputime.Machine()
	busy, idle = busy-m.busy, idle-m.idle
	b.ReportMetric(perOp(proc), "cpu-ms/op")
	var pg time.Duration
	if end := pgBackendCPU(m.db); m.pg != nil && end != nil {
		for pid, t := range end {
			pg += t - m.pg[pid] // a backend opened meanwhile started from zero
		}
		b.ReportMetric(perOp(pg), "pg-cpu-ms/op")
	}
	if busy+idle > 0 {
		b.ReportMetric(perOp(max(busy-proc-pg, 0)), "other-cpu-ms/op")
		b.ReportMetric(100*idle.Seconds()/(busy+idle).Seconds(), "idle-%")
	}
}

// pgBackendCPU is the CPU time of each PostgreSQL backend connected to the
// database of db, by pid, read from /proc; nil when the server is not on
// this machine or the process table cannot be read.
func pgBackendCPU(db *pgxpool.Pool) map[int]time.Duration {
	if db == nil {
		return nil
	}
	rows, err := db.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	cpu := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		// Fields after the parenthesised command: state is the first,
		// utime the 12th and stime the 13th.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 {
			return nil
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return nil
		}
		cpu[int(pid)] = cputime.Ticks(ut + st)
	}
	return cpu
}

// newBenchEnv is newEnv for any testing.TB, without log capture: it starts
// the users service on a loopback port over a throwaway database and returns
// its base URL and a pool on its database.
func newBenchEnv(tb testing.TB, change ...func(*usersrv.Config)) (string, *pgxpool.Pool) {
	tb.Helper()
	dbURL, db := pgtest.New(tb, userdb.Migrations())
	smtp := mailtest.NewServer(tb)
	cfg := usersrv.Config{
		DatabaseURL: dbURL, Migrate: true, DataDir: tb.TempDir(),
		Issuer: "test-issuer", Audience: "test-audience", AccessTTL: 15 * time.Minute, SessionTTL: 30 * 24 * time.Hour,
		Argon: fastArgon, HashWorkers: 2, HashQueue: 256,
		AccountMaxFailures: 5, AddressMaxFailures: 50, FailureWindow: 15 * time.Minute,
		ResetTTL: 30 * time.Minute, ResetURL: "http://shop.test/reset-password?token=",
		Mail: mail.Config{Host: smtp.Host, Port: smtp.Port, From: "shop@test", TLS: "none"},
	}
	for _, f := range change {
		f(&cfg)
	}
	// Production logs at info; the lines are formatted and thrown away.
	log := observability.NewLogger(io.Discard, slog.LevelInfo)
	u, err := usersrv.New(context.Background(), cfg, server.Deps{Log: log})
	if err != nil {
		tb.Fatalf("start users service: %v", err)
	}
	srv := server.New(log, observability.NewRegistry(), 5*time.Second)
	addr, err := srv.Add(u.Module("127.0.0.1:0"))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("server shutdown: %v", err)
		}
	})
	return "http://" + addr.String(), db
}

func benchJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

// benchPost sends v as JSON and fails unless the answer has status want.
func benchPost(tb testing.TB, c *http.Client, url string, v any, want int) {
	tb.Helper()
	status, body, err := benchPostRaw(c, url, benchJSON(tb, v))
	if err != nil || status != want {
		tb.Fatalf("POST %s: status %d (want %d), err %v, body %s", url, status, want, err, body)
	}
}

// benchPostRaw sends a JSON body and reads the whole answer, so that the connection
// is reused.
func benchPostRaw(c *http.Client, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

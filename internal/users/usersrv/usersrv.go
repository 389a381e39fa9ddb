package usersrv

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/mail"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/users"
	"github.com/marketplace-go/marketplace/internal/users/password"
	"github.com/marketplace-go/marketplace/internal/users/tokens"
	"github.com/marketplace-go/marketplace/internal/users/userapi"
	"github.com/marketplace-go/marketplace/internal/users/userdb"
)

// Users is the assembled users service.
type Users struct {
	Service *users.Service
	pool    *pgxpool.Pool
	store   *userdb.Store
	hasher  *password.Pool
	mailer  *mail.Queue
	api     *userapi.API
	log     *slog.Logger
	stop    context.CancelFunc
	swept   chan struct{}
	// stopConsumers stops the order confirmation consumers, which consumers
	// waits for before the pool closes.
	stopConsumers context.CancelFunc
	consumers     sync.WaitGroup
	consumer      *events.Consumer
	// Confirmations mails the confirmations of placed orders; nil without
	// a broker.
	Confirmations *users.Confirmations
}

// Migrate applies the users database migrations and returns.
func Migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	pool, err := pg.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	defer pool.Close()
	return pg.Migrate(ctx, pool, userdb.Migrations(), log)
}

// New connects, migrates (when configured), loads keys and wires the service.
func New(ctx context.Context, cfg Config, deps server.Deps) (*Users, error) {
	log := deps.Log.With("service", "users")
	pool, err := pg.Open(ctx, cfg.DatabaseURL, pg.WithMetrics(deps.Registry, "users"), pg.WithTracer(deps.Tracer))
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	u, err := assemble(ctx, cfg, log, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	registerHasherMetrics(deps.Registry, u.hasher)
	if err := u.startConfirmations(cfg, deps, log); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

func assemble(ctx context.Context, cfg Config, log *slog.Logger, pool *pgxpool.Pool) (*Users, error) {
	if cfg.Migrate {
		if err := pg.Migrate(ctx, pool, userdb.Migrations(), log); err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
	}
	keys, generated, err := cfg.piiKeys()
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	if generated {
		log.Warn("USERS_PII_KEYS is not set: generated a local PII key in the data directory; configure keys in production")
	}
	keyring, err := fieldcrypt.NewKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("users: USERS_PII_KEYS: %w", err)
	}
	issuer, verifier, err := loadTokens(cfg, log)
	if err != nil {
		return nil, err
	}
	hasher, err := newHasher(cfg)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	u := &Users{pool: pool, store: userdb.New(pool, keyring), log: log, hasher: hasher,
		mailer: mail.NewQueue(sender(cfg.Mail, log), log, 1024, 4)}
	u.Service, err = users.NewService(ctx, users.Deps{Store: u.store, Hasher: u.hasher, Tokens: issuer, Mailer: u.mailer, Log: log}, users.Policy{
		SessionTTL: cfg.SessionTTL, ResetTTL: cfg.ResetTTL, ResetMaxMails: cfg.ResetMaxMails, ResetURL: cfg.ResetURL, FailureWindow: cfg.FailureWindow,
		AccountMaxFailures: cfg.AccountMaxFailures, AddressMaxFailures: cfg.AddressMaxFailures,
	})
	if err != nil {
		u.closeWorkers()
		return nil, fmt.Errorf("users: %w", err)
	}
	u.api = userapi.New(u.Service, issuer, verifier, log, cfg.TrustedProxies)
	u.startSweeper()
	return u, nil
}

// newHasher starts the password hashing pool where the configuration says:
// in child processes (the default) or in this one.
func newHasher(cfg Config) (*password.Pool, error) {
	limits := password.Limits{Workers: cfg.HashWorkers, Queue: cfg.HashQueue, Busy: cfg.HashBusy, Yield: cfg.HashYield,
		MaxWait: cfg.HashMaxWait}
	if cfg.Hasher == HasherProcess {
		return password.NewProcessPool(cfg.Argon, limits)
	}
	return password.NewPool(cfg.Argon, limits), nil
}

// registerHasherMetrics exports how many hashing jobs the pool's idle
// priority processes were starved of CPU for (ADR 35), and the share of
// their time they may now hash (ADR 68). A service restarted
// in one process (tests) keeps the first pool's series.
func registerHasherMetrics(reg prometheus.Registerer, hasher *password.Pool) {
	if reg == nil {
		return
	}
	_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "users_password_hashes_starved_total",
		Help: "Password hashes run in the serving process because the idle-priority hashing process had no CPU for a second: other work keeps every core busy.",
	}, func() float64 { return float64(hasher.Starved()) }))
	_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "users_password_hashing_share",
		Help: "The most of its time a password hashing worker now spends hashing: USERS_HASH_BUSY_PERCENT, less while other work keeps the machine busy (USERS_HASH_YIELD_PERCENT).",
	}, hasher.Share))
}

func loadTokens(cfg Config, log *slog.Logger) (*tokens.Issuer, *auth.Verifier, error) {
	set, generated, err := tokens.LoadKeys(tokens.KeysConfig{JSON: cfg.KeysJSON, File: cfg.KeysFile,
		GeneratedPath: filepath.Join(cfg.DataDir, "users", "jwt-keys.json")})
	if err != nil {
		return nil, nil, fmt.Errorf("users: signing keys: %w", err)
	}
	if generated {
		log.Warn("AUTH_SIGNING_KEYS(_FILE) is not set: generated a local signing key in the data directory; configure keys in production")
	}
	issuer, err := tokens.NewIssuer(set, tokens.Config{Issuer: cfg.Issuer, Audience: cfg.Audience, TTL: cfg.AccessTTL})
	if err != nil {
		return nil, nil, fmt.Errorf("users: %w", err)
	}
	// The service verifies its own tokens with its own public keys: no need
	// to fetch its JWKS over HTTP.
	static, err := auth.NewStaticKeys(issuer.PublicKeys())
	if err != nil {
		return nil, nil, fmt.Errorf("users: %w", err)
	}
	return issuer, auth.NewVerifier(static, auth.VerifierConfig{Issuer: cfg.Issuer, Audience: cfg.Audience}), nil
}

func sender(cfg mail.Config, log *slog.Logger) mail.Sender {
	if cfg.Host == "" {
		log.Warn("SMTP_HOST is not set: mail will be written to the log")
		return mail.NewLog(log)
	}
	return mail.NewSMTP(cfg)
}

// sweepEvery is how often dead sessions, resets and failure windows go.
const sweepEvery = 10 * time.Minute

func (u *Users) startSweeper() {
	ctx, stop := context.WithCancel(context.Background())
	u.stop, u.swept = stop, make(chan struct{})
	go func() {
		defer close(u.swept)
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if err := u.store.Sweep(ctx, now); err != nil && ctx.Err() == nil {
					u.log.Warn("sweep failed", "err", err)
				}
			}
		}
	}()
}

// Module returns the service as the server runs it.
func (u *Users) Module(addr string) server.Module {
	return server.Module{Name: "users", Addr: addr, Routes: u.Routes, Ready: u.Ready, Close: u.Close}
}

// Routes registers the HTTP endpoints.
func (u *Users) Routes(rt *httpx.Router) { u.api.Routes(rt) }

// Ready reports whether PostgreSQL answers.
func (u *Users) Ready(ctx context.Context) error { return u.pool.Ping(ctx) }

// FlushMail waits until every mail queued so far has been sent (or logged
// as failed), so a test can then assert what was not sent.
func (u *Users) FlushMail() { u.mailer.Flush() }

// Close stops background work, sends queued mail and closes the pool. Call
// it once requests have drained.
func (u *Users) Close() {
	u.stop()
	<-u.swept
	if u.stopConsumers != nil {
		u.stopConsumers()
	}
	u.consumers.Wait()
	u.closeWorkers()
	u.pool.Close()
}

func (u *Users) closeWorkers() {
	if u.Service != nil {
		u.Service.WaitResets()
	}
	u.mailer.Close()
	u.hasher.Close()
}

// Package usersrv assembles the users service from its parts (store,
// password hashing pool, token issuer, mailer, HTTP API) and hands it to
// the server as a module.
package usersrv

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	netmail "net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/mail"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/users/password"
)

// Config is the users service's configuration.
type Config struct {
	Addr           string
	DatabaseURL    string
	Migrate        bool
	DataDir        string
	TrustedProxies []netip.Prefix

	Issuer     string
	Audience   string
	AccessTTL  time.Duration
	SessionTTL time.Duration
	KeysJSON   string // secret
	KeysFile   string
	PIIKeys    []fieldcrypt.Key // secret

	Argon       password.Params
	HashWorkers int
	HashQueue   int

	AccountMaxFailures int
	AddressMaxFailures int
	FailureWindow      time.Duration

	ResetTTL      time.Duration
	ResetMaxMails int
	ResetURL      string
	Mail          mail.Config
}

// Shared are settings the users service takes from the root configuration.
type Shared struct {
	PostgresURL    string
	DataDir        string
	Migrate        bool
	PublicURL      string
	TrustedProxies []netip.Prefix
	Issuer         string
	Audience       string
}

// LoadConfig reads the USERS_*, AUTH_* and SMTP_* variables.
func LoadConfig(e *config.Env, sh Shared) Config {
	c := Config{
		Addr:           e.String("USERS_ADDR", ":8081"),
		DatabaseURL:    e.URL("USERS_DATABASE_URL", pg.WithDatabase(sh.PostgresURL, "users"), "postgres", "postgresql"),
		Migrate:        sh.Migrate,
		DataDir:        sh.DataDir,
		TrustedProxies: sh.TrustedProxies,
		Issuer:         sh.Issuer,
		Audience:       sh.Audience,
		AccessTTL:      e.Duration("AUTH_ACCESS_TOKEN_TTL", 15*time.Minute),
		SessionTTL:     e.Duration("AUTH_SESSION_TTL", 30*24*time.Hour),
		KeysJSON:       e.String("AUTH_SIGNING_KEYS", ""),
		KeysFile:       e.String("AUTH_SIGNING_KEYS_FILE", ""),
		Argon: password.Params{
			MemoryKiB: uint32(e.Int("USERS_ARGON2_MEMORY_KIB", int(password.OWASP.MemoryKiB), 19*1024, 4<<20)),
			Time:      uint32(e.Int("USERS_ARGON2_TIME", int(password.OWASP.Time), 2, 100)),
			Threads:   uint8(e.Int("USERS_ARGON2_THREADS", int(password.OWASP.Threads), 1, 64)),
		},
		HashWorkers:        e.Int("USERS_HASH_WORKERS", password.DefaultWorkers(), 1, 1024),
		HashQueue:          e.Int("USERS_HASH_QUEUE", 64, 1, 1<<16),
		AccountMaxFailures: e.Int("USERS_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5, 1, 1000),
		AddressMaxFailures: e.Int("USERS_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, 1, 100000),
		FailureWindow:      e.Duration("USERS_LOGIN_FAILURE_WINDOW", 15*time.Minute),
		ResetTTL:           e.Duration("USERS_PASSWORD_RESET_TTL", 30*time.Minute),
		ResetMaxMails:      e.Int("USERS_PASSWORD_RESET_MAX_MAILS", 3, 1, 1000),
		ResetURL:           strings.TrimRight(sh.PublicURL, "/") + "/reset-password?token=",
		Mail: mail.Config{
			Host:     e.String("SMTP_HOST", ""),
			Port:     e.Int("SMTP_PORT", 587, 1, 65535),
			Username: e.String("SMTP_USERNAME", ""),
			Password: e.String("SMTP_PASSWORD", ""),
			From:     e.String("SMTP_FROM", "Marketplace <no-reply@localhost>"),
			TLS:      e.String("SMTP_TLS", "starttls"),
		},
	}
	for _, k := range e.Keys("USERS_PII_KEYS", fieldcrypt.KeySize) {
		c.PIIKeys = append(c.PIIKeys, fieldcrypt.Key{ID: k.ID, Secret: k.Secret})
	}
	c.validate(e)
	return c
}

func (c *Config) validate(e *config.Env) {
	switch c.Mail.TLS {
	case "starttls", "tls", "none":
	default:
		e.Fail("SMTP_TLS", "want starttls, tls or none, got %q", c.Mail.TLS)
	}
	if _, err := netmail.ParseAddress(c.Mail.From); err != nil {
		e.Fail("SMTP_FROM", "want an address such as Shop <no-reply@shop.example>, got %q", c.Mail.From)
	}
	if c.KeysJSON != "" && c.KeysFile != "" {
		e.Fail("AUTH_SIGNING_KEYS", "set either AUTH_SIGNING_KEYS or AUTH_SIGNING_KEYS_FILE, not both")
	}
	if c.AccessTTL > time.Hour {
		e.Fail("AUTH_ACCESS_TOKEN_TTL", "access tokens must be short-lived: at most 1h")
	}
}

// piiKeys returns the configured keys, or for local runs a key generated
// once and kept in the data directory.
func (c *Config) piiKeys() ([]fieldcrypt.Key, bool, error) {
	if len(c.PIIKeys) > 0 {
		return c.PIIKeys, false, nil
	}
	path := filepath.Join(c.DataDir, "users", "pii-key")
	if b, err := os.ReadFile(path); err == nil {
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) != fieldcrypt.KeySize {
			return nil, false, fmt.Errorf("%s is not a base64 32-byte key", path)
		}
		return []fieldcrypt.Key{{ID: "local", Secret: secret}}, false, nil
	}
	secret := make([]byte, fieldcrypt.KeySize)
	_, _ = rand.Read(secret)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("persist PII key: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret)), 0o600); err != nil {
		return nil, false, fmt.Errorf("persist PII key: %w", err)
	}
	return []fieldcrypt.Key{{ID: "local", Secret: secret}}, true, nil
}

package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/config"
)

// TLS is how the server's listeners serve TLS. With no certificate every
// listener serves plain HTTP (a local run, or TLS ended by an ingress).
type TLS struct {
	// CertFile and KeyFile are PEM files: the certificate chain and its
	// private key. They are read again when they change (a renewal by
	// cert-manager or an operator), without a restart.
	CertFile, KeyFile string
	// Every makes every listener serve TLS (the services and the metrics
	// listener too), not only the public one (the gateway).
	Every bool
	// HSTSMaxAge is the Strict-Transport-Security max-age sent over TLS;
	// zero sends none.
	HSTSMaxAge time.Duration
}

// Enabled reports whether a certificate is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Serves reports whether a module's listener serves TLS.
func (t TLS) Serves(m Module) bool { return t.Enabled() && (m.Public || t.Every) }

// LoadTLS reads TLS_CERT_FILE, TLS_KEY_FILE, TLS_EVERY_LISTENER and
// HSTS_MAX_AGE.
func LoadTLS(e *config.Env) TLS {
	e.Describe(config.Docs{
		"TLS_CERT_FILE":      "PEM certificate chain: with `TLS_KEY_FILE`, the gateway serves HTTPS only (plain HTTP to its port gets 400); read again when the file changes",
		"TLS_KEY_FILE":       "PEM private key of `TLS_CERT_FILE`; secret",
		"TLS_EVERY_LISTENER": "with a certificate, every listener serves HTTPS (each service and the metrics listener), not only the gateway: callers then use `https://` URLs and trust the certificate's CA (`SSL_CERT_FILE`)",
		"HSTS_MAX_AGE":       "`Strict-Transport-Security` max-age sent on responses served over TLS (never over plain HTTP); 0 sends none",
	})
	t := TLS{
		CertFile:   e.String("TLS_CERT_FILE", ""),
		KeyFile:    e.String("TLS_KEY_FILE", ""),
		Every:      e.Bool("TLS_EVERY_LISTENER", false),
		HSTSMaxAge: e.DurationOrZero("HSTS_MAX_AGE", 365*24*time.Hour),
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		e.Fail("TLS_KEY_FILE", "needed with TLS_CERT_FILE")
	case t.CertFile == "" && t.KeyFile != "":
		e.Fail("TLS_CERT_FILE", "needed with TLS_KEY_FILE")
	case t.CertFile == "" && t.Every:
		e.Fail("TLS_EVERY_LISTENER", "needs TLS_CERT_FILE and TLS_KEY_FILE")
	}
	return t
}

// SetTLS makes the listeners added from now on serve TLS as t says. It
// reads the key pair at once, so that a bad file stops the program at
// start rather than at the first handshake.
func (s *Server) SetTLS(t TLS) error {
	if !t.Enabled() {
		s.tls, s.tlsConfig = t, nil
		return nil
	}
	kp := &keyPair{certFile: t.CertFile, keyFile: t.KeyFile, log: s.log, now: time.Now}
	if err := kp.load(); err != nil {
		return err
	}
	s.tls = t
	s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.get}
	return nil
}

// hsts adds Strict-Transport-Security to responses served over TLS: a
// browser that saw it over plain HTTP could be told it by anyone on the
// path, so it is never sent there.
func hsts(maxAge time.Duration, next http.Handler) http.Handler {
	value := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10) + "; includeSubDomains"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", value)
		}
		next.ServeHTTP(w, r)
	})
}

// keyPair is a certificate read from files, read again when they change:
// at most once every recheck, a handshake looks at the files' times.
type keyPair struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu       sync.Mutex
	cert     *tls.Certificate
	modified [2]time.Time // of the certificate and the key
	checked  time.Time
}

// recheck is how often a handshake may look at the files.
const recheck = 10 * time.Second

func (k *keyPair) load() error {
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
	}
	k.cert, k.modified, k.checked = &cert, k.times(), k.now()
	return nil
}

// times are the files' modification times (zero for one not readable).
func (k *keyPair) times() [2]time.Time {
	var t [2]time.Time
	for i, f := range []string{k.certFile, k.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			t[i] = fi.ModTime()
		}
	}
	return t
}

// get is tls.Config.GetCertificate: the pair last read, read again first
// if the files changed. A pair that fails to load (half written) is
// logged and the previous one kept.
func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := k.now(); now.Sub(k.checked) >= recheck {
		k.checked = now
		if k.times() != k.modified {
			old := k.cert
			if err := k.load(); err != nil {
				k.cert = old
				k.log.Warn("tls: keeping the certificate in use", "err", err)
			} else {
				k.log.Info("tls: certificate read again", "file", k.certFile)
			}
		}
	}
	return k.cert, nil
}

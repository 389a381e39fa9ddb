package cache

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/redis/go-redis/v9"
)

// The query parameters ParseURL takes beyond go-redis's own: what a Redis
// server with a private CA, or one that checks client certificates
// (tls-auth-clients, on by default), needs and redis.ParseURL has no
// parameter for.
const (
	paramCAFile   = "tls_ca_file"   // PEM CA certificates trusted instead of the system's
	paramCertFile = "tls_cert_file" // PEM client certificate
	paramKeyFile  = "tls_key_file"  // its PEM private key
)

// ParseURL reads a Redis URL (REDIS_URL, GATEWAY_REDIS_URL) as
// redis.ParseURL does, rediss:// meaning TLS verified against the host
// name, plus tls_ca_file, tls_cert_file and tls_key_file. The files are
// read here, so a wrong path fails at start rather than at the first
// command. Errors never repeat the URL: it may hold a password.
func ParseURL(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("redis URL: not a URL")
	}
	q := u.Query()
	ca, cert, key := q.Get(paramCAFile), q.Get(paramCertFile), q.Get(paramKeyFile)
	q.Del(paramCAFile)
	q.Del(paramCertFile)
	q.Del(paramKeyFile)
	u.RawQuery = q.Encode()
	opts, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	if ca == "" && cert == "" && key == "" {
		return opts, nil
	}
	if opts.TLSConfig == nil {
		return nil, fmt.Errorf("redis URL: %s, %s and %s need the rediss:// scheme", paramCAFile, paramCertFile, paramKeyFile)
	}
	if err := addTLSFiles(opts.TLSConfig, ca, cert, key); err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	return opts, nil
}

// addTLSFiles sets the trusted CAs and the client certificate of cfg
// from PEM files; empty names leave cfg as it is.
func addTLSFiles(cfg *tls.Config, caFile, certFile, keyFile string) error {
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("%s: %w", paramCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("%s: no PEM certificate in %s", paramCAFile, caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return fmt.Errorf("%s and %s go together", paramCertFile, paramKeyFile)
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", paramCertFile, paramKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return nil
}

// Package websrv wires the web storefront as a module of the binary: it
// reads the module's settings and serves the pages.
package websrv

import (
	"context"
	"crypto/rand"
	"net/http"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
	"github.com/marketplace-go/marketplace/internal/web/storefront"
)

// Config is the web module's settings.
type Config struct {
	APIURL     string
	CookieKeys [][]byte
	Timeout    time.Duration
}

// LoadConfig reads the WEB_* variables.
func LoadConfig(e *config.Env, _ config.Shared) Config {
	e.Describe(config.Docs{
		"WEB_API_URL":     "the gateway's base URL, which the pages call for every piece of data, as any client does",
		"WEB_COOKIE_KEYS": "keys that seal the session cookie (AES-256-GCM), current first, so that a key can be rotated; unset: a key made up at start, so sessions end with the process and instances cannot share them",
		"WEB_API_TIMEOUT": "how long the pages wait for one API call",
	})
	c := Config{
		APIURL:  e.URL("WEB_API_URL", "http://localhost:8080", "http", "https"),
		Timeout: e.Duration("WEB_API_TIMEOUT", 35*time.Second),
	}
	for _, k := range e.Keys("WEB_COOKIE_KEYS", 32) {
		c.CookieKeys = append(c.CookieKeys, k.Secret)
	}
	return c
}

// Web is the assembled module.
type Web struct {
	pages *storefront.Handler
}

// New builds the storefront. Without configured keys it makes one up.
func New(_ context.Context, cfg Config, deps server.Deps) (*Web, error) {
	log := deps.Log.With("service", "web")
	if len(cfg.CookieKeys) == 0 {
		k := make([]byte, 32)
		_, _ = rand.Read(k) // crypto/rand.Read never fails
		cfg.CookieKeys = [][]byte{k}
		log.Warn("WEB_COOKIE_KEYS is unset: sessions last as long as this process and are not shared with other instances")
	}
	h, err := storefront.New(storefront.Config{APIURL: cfg.APIURL, CookieKeys: cfg.CookieKeys, Timeout: cfg.Timeout,
		Transport: tracing.Transport(http.DefaultTransport, deps.Tracer)}, log)
	if err != nil {
		return nil, err
	}
	return &Web{pages: h}, nil
}

// Module is the storefront as a module of the server.
func (w *Web) Module(addr string) server.Module {
	return server.Module{Name: "web", Addr: addr, Routes: w.Routes}
}

// Routes registers the pages.
func (w *Web) Routes(rt *httpx.Router) { w.pages.Routes(rt) }

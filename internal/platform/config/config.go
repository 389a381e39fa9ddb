// Package config reads typed settings from environment variables.
//
// Each component declares its own Config struct and a Load function that reads
// it through an Env; errors are collected rather than returned one by one so
// that the program stops with a message naming the variable at fault. The
// Env also records every variable read (name, default, kind, bounds) with the
// one-line description its component gives with Describe: the configuration
// reference is generated from that record, so it cannot drift from the code.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Env reads environment variables, remembering every malformed value and
// every variable read.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
	vars   []Var
	seen   map[string]int // index in vars, by name
	docs   Docs
	shown  map[string]string // documented defaults, by name
}

// FromLookup returns an Env over a lookup function such as os.LookupEnv;
// tests pass their own instead of changing the process environment.
func FromLookup(lookup func(string) (string, bool)) *Env { return &Env{lookup: lookup} }

// Err reports every invalid variable seen so far, on one line.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Fail records a problem with a variable's value; Validate methods use it.
func (e *Env) Fail(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (e *Env) raw(name string) (string, bool) {
	v, ok := e.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// String returns the variable or def when it is unset or empty.
func (e *Env) String(name, def string) string {
	e.note(Var{Name: name, Default: def, Kind: "string"})
	return e.str(name, def)
}

func (e *Env) str(name, def string) string {
	if v, ok := e.raw(name); ok {
		return v
	}
	return def
}

// Int returns the variable as an integer within [lo, hi].
func (e *Env) Int(name string, def, lo, hi int) int {
	e.note(Var{Name: name, Default: strconv.Itoa(def), Kind: "integer", Bounds: fmt.Sprintf("%d to %d", lo, hi)})
	v, ok := e.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.Fail(name, "want an integer between %d and %d, got %q", lo, hi, v)
		return def
	}
	return n
}

// Bool returns the variable parsed by strconv.ParseBool.
func (e *Env) Bool(name string, def bool) bool {
	e.note(Var{Name: name, Default: strconv.FormatBool(def), Kind: "boolean"})
	v, ok := e.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.Fail(name, "want true or false, got %q", v)
		return def
	}
	return b
}

// Duration returns the variable as a positive Go duration such as "15m".
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	return e.duration(name, def, false)
}

// DurationOrZero is Duration that also accepts zero ("0s"), for delays that
// may be switched off.
func (e *Env) DurationOrZero(name string, def time.Duration) time.Duration {
	return e.duration(name, def, true)
}

func (e *Env) duration(name string, def time.Duration, zeroOK bool) time.Duration {
	bounds := "> 0"
	if zeroOK {
		bounds = ">= 0"
	}
	e.note(Var{Name: name, Default: formatDuration(def), Kind: "duration", Bounds: bounds})
	v, ok := e.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d == 0 && !zeroOK {
		e.Fail(name, "want a positive duration such as 30s or 15m, got %q", v)
		return def
	}
	return d
}

// URL returns the variable as an absolute URL with one of the given schemes.
func (e *Env) URL(name, def string, schemes ...string) string {
	e.note(Var{Name: name, Default: def, Kind: "URL", Bounds: strings.Join(schemes, ", ")})
	v := e.str(name, def)
	if v == "" {
		return v
	}
	u, err := url.Parse(socketHostAsLocalhost(v))
	if err != nil || u.Host == "" || !slices.Contains(schemes, u.Scheme) {
		// The value may hold a password, so it is not echoed.
		e.Fail(name, "want an absolute %s URL", strings.Join(schemes, " or "))
		return def
	}
	return v
}

// socketHostAsLocalhost returns a mongodb:// URL whose host is a Unix
// socket with localhost in its place, and any other value as it is.
// MongoDB's connection strings name a socket by its path, percent-encoded,
// as the host (mongodb://%2Ftmp%2Fmongodb.sock/), which net/url refuses:
// it allows escapes in a host only for non-ASCII bytes.
func socketHostAsLocalhost(v string) string {
	rest, ok := strings.CutPrefix(v, "mongodb://")
	if !ok {
		return v
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	at := strings.LastIndex(authority, "@") // -1 without credentials
	path, err := url.PathUnescape(authority[at+1:])
	if err != nil || !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, ".sock") {
		return v
	}
	return "mongodb://" + authority[:at+1] + "localhost" + rest[end:]
}

// Keys parses "id:base64,id:base64" lists of secret keys of the given byte
// length. The first key is the current one. Values are never echoed.
func (e *Env) Keys(name string, size int) []Key {
	e.note(Var{Name: name, Kind: "keys", Bounds: fmt.Sprintf("id:base64 of %d bytes, comma-separated", size)})
	v, ok := e.raw(name)
	if !ok {
		return nil
	}
	var keys []Key
	for i, part := range strings.Split(v, ",") {
		id, b64, found := strings.Cut(strings.TrimSpace(part), ":")
		secret, err := base64.StdEncoding.DecodeString(b64)
		if !found || id == "" || err != nil || len(secret) != size {
			e.Fail(name, "entry %d: want id:base64 of a %d-byte key", i+1, size)
			return nil
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return keys
}

// Key is a named secret key.
type Key struct {
	ID     string
	Secret []byte
}

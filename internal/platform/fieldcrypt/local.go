package fieldcrypt

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeysOrLocal returns configured when it holds keys, else the local key
// at path (see LocalKey): a service's PII keys, from its configuration in
// production and from its data directory in local runs. generated reports
// whether the local key was made now.
func KeysOrLocal(configured []Key, path string) (keys []Key, generated bool, err error) {
	if len(configured) > 0 {
		return configured, false, nil
	}
	key, generated, err := LocalKey(path)
	if err != nil {
		return nil, false, fmt.Errorf("PII key: %w", err)
	}
	return []Key{key}, generated, nil
}

// LocalKey returns the key kept at path (base64, as a file of its own),
// generating and keeping one there when there is none: local runs then
// seal from their first start without configuration, and keep opening
// what they sealed across restarts. Production configures its keys
// instead. generated reports whether the key was made now.
//
// Two processes starting at once on one data directory agree on one key:
// the new key is written aside and linked into place, which fails for the
// one that comes second, who then reads the first one's key.
func LocalKey(path string) (key Key, generated bool, err error) {
	if key, err := readLocalKey(path); !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	secret := make([]byte, KeySize)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Key{}, false, fmt.Errorf("persist local key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return Key{}, false, fmt.Errorf("persist local key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(secret))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Key{}, false, fmt.Errorf("persist local key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		key, err := readLocalKey(path)
		return key, false, err
	} else if err != nil {
		return Key{}, false, fmt.Errorf("persist local key: %w", err)
	}
	return Key{ID: "local", Secret: secret}, true, nil
}

func readLocalKey(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, err
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) != KeySize {
		return Key{}, fmt.Errorf("%s is not a base64 32-byte key", path)
	}
	return Key{ID: "local", Secret: secret}, nil
}

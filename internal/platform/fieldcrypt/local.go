package fieldcrypt

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LocalKey returns the key kept at path (base64, as a file of its own),
// generating and keeping one there when there is none: local runs then
// seal from their first start without configuration, and keep opening
// what they sealed across restarts. Production configures its keys
// instead. generated reports whether the key was made now.
func LocalKey(path string) (key Key, generated bool, err error) {
	if b, err := os.ReadFile(path); err == nil {
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) != KeySize {
			return Key{}, false, fmt.Errorf("%s is not a base64 32-byte key", path)
		}
		return Key{ID: "local", Secret: secret}, false, nil
	}
	secret := make([]byte, KeySize)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Key{}, false, fmt.Errorf("persist local key: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret)), 0o600); err != nil {
		return Key{}, false, fmt.Errorf("persist local key: %w", err)
	}
	return Key{ID: "local", Secret: secret}, true, nil
}

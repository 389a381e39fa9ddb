// Package fieldcrypt seals single database fields (PII such as phone numbers
// and addresses) with AES-256-GCM. Each sealed value names the key that
// sealed it, so keys can be rotated: new values use the first key, old ones
// still open with theirs.
package fieldcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

const version = "v1"

// Key is a named AES-256 key.
type Key struct {
	ID     string
	Secret []byte
}

// Keyring seals with its first key and opens with any.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewKeyring builds a keyring; keys[0] seals new values.
func NewKeyring(keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("fieldcrypt: no keys")
	}
	k := &Keyring{current: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, key := range keys {
		if len(key.Secret) != KeySize || key.ID == "" || strings.Contains(key.ID, ".") {
			return nil, fmt.Errorf("fieldcrypt: key %q: want a 32-byte secret and an id without dots", key.ID)
		}
		if _, dup := k.aeads[key.ID]; dup {
			// A later secret would silently replace the earlier one, and values
			// sealed with that one would no longer open.
			return nil, fmt.Errorf("fieldcrypt: key %q is listed twice", key.ID)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("fieldcrypt: key %q: %w", key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("fieldcrypt: key %q: %w", key.ID, err)
		}
		k.aeads[key.ID] = aead
	}
	return k, nil
}

// Seal encrypts plaintext bound to context (for example "users.phone:<id>"),
// so a sealed value copied to another row or column will not open.
func (k *Keyring) Seal(plaintext []byte, context string) string {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	sealed := aead.Seal(nonce, nonce, plaintext, []byte(context))
	return version + "." + k.current + "." + base64.RawURLEncoding.EncodeToString(sealed)
}

// ErrUnopenable means a value is malformed, names an unknown key, or was
// tampered with or moved.
var ErrUnopenable = errors.New("fieldcrypt: cannot open value")

// Open decrypts a value made by Seal with the same context.
func (k *Keyring) Open(value, context string) ([]byte, error) {
	parts := strings.SplitN(value, ".", 3)
	if len(parts) != 3 || parts[0] != version {
		return nil, ErrUnopenable
	}
	aead, ok := k.aeads[parts[1]]
	if !ok {
		return nil, fmt.Errorf("%w: unknown key %q", ErrUnopenable, parts[1])
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < aead.NonceSize() {
		return nil, ErrUnopenable
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return nil, ErrUnopenable
	}
	return plain, nil
}

package fieldcrypt_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
)

// newKey returns a random key called id.
func newKey(t *testing.T, id string) fieldcrypt.Key {
	t.Helper()
	secret := make([]byte, fieldcrypt.KeySize)
	if _, err := rand.Read(secret); err != nil {
		t.Fatalf("random key: %v", err)
	}
	return fieldcrypt.Key{ID: id, Secret: secret}
}

// mustKeyring builds a keyring from keys or fails the test.
func mustKeyring(t *testing.T, keys ...fieldcrypt.Key) *fieldcrypt.Keyring {
	t.Helper()
	k, err := fieldcrypt.NewKeyring(keys)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func TestSealThenOpenReturnsThePlaintext(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, newKey(t, "k1"))
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{name: "a phone number", plaintext: []byte("+49 30 1234567")},
		{name: "an empty value", plaintext: []byte{}},
		{name: "binary bytes", plaintext: []byte{0, 1, 2, 0xff, '.', 0}},
		{name: "a long address", plaintext: bytes.Repeat([]byte("Unter den Linden 1, "), 200)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed := k.Seal(tt.plaintext, "users.phone:1")
			if bytes.Contains([]byte(sealed), tt.plaintext) && len(tt.plaintext) > 0 {
				t.Errorf("sealed value %q shows the plaintext", sealed)
			}
			got, err := k.Open(sealed, "users.phone:1")
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealedValuesNameTheVersionAndKey(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, newKey(t, "2024-06"))
	sealed := k.Seal([]byte("x"), "ctx")
	if !strings.HasPrefix(sealed, "v1.2024-06.") {
		t.Errorf("sealed = %q, want prefix v1.2024-06.", sealed)
	}
	if strings.ContainsAny(sealed, "+/= ") {
		t.Errorf("sealed = %q, want URL-safe unpadded text", sealed)
	}
}

func TestSealingTwiceGivesDifferentValues(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, newKey(t, "k1"))
	a, b := k.Seal([]byte("same"), "ctx"), k.Seal([]byte("same"), "ctx")
	if a == b {
		t.Errorf("two seals of the same plaintext are equal (%q): the nonce is not random", a)
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	k := mustKeyring(t, newKey(t, "k1"))
	sealed := k.Seal([]byte("+49 30 1234567"), "users.phone:1")
	other := mustKeyring(t, newKey(t, "k1")).Seal([]byte("+49 30 1234567"), "users.phone:1")
	unknown := mustKeyring(t, newKey(t, "k9")).Seal([]byte("+49 30 1234567"), "users.phone:1")
	tests := []struct {
		name    string
		value   string
		context string
	}{
		{name: "a value bound to another row", value: sealed, context: "users.phone:2"},
		{name: "a value bound to another column", value: sealed, context: "users.address:1"},
		{name: "a value with a flipped ciphertext byte", value: flipLastByte(t, sealed), context: "users.phone:1"},
		{name: "a value sealed by another key of the same id", value: other, context: "users.phone:1"},
		{name: "a value naming an unknown key", value: unknown, context: "users.phone:1"},
		{name: "a value with another version", value: "v2" + strings.TrimPrefix(sealed, "v1"), context: "users.phone:1"},
		{name: "a value with its key id swapped", value: strings.Replace(sealed, ".k1.", ".k9.", 1), context: "users.phone:1"},
		{name: "a truncated value", value: sealed[:len(sealed)-4], context: "users.phone:1"},
		{name: "a value shorter than a nonce", value: "v1.k1.AAAA", context: "users.phone:1"},
		{name: "a value that is not base64", value: "v1.k1.@@@@", context: "users.phone:1"},
		{name: "a value without parts", value: "plaintext phone", context: "users.phone:1"},
		{name: "an empty value", value: "", context: "users.phone:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := k.Open(tt.value, tt.context)
			if !errors.Is(err, fieldcrypt.ErrUnopenable) {
				t.Errorf("Open = %q, %v; want ErrUnopenable", got, err)
			}
			if got != nil {
				t.Errorf("Open returned plaintext %q with the error", got)
			}
		})
	}
}

func TestUnknownKeyErrorNamesTheKey(t *testing.T) {
	t.Parallel()
	sealed := mustKeyring(t, newKey(t, "retired")).Seal([]byte("x"), "ctx")
	_, err := mustKeyring(t, newKey(t, "k1")).Open(sealed, "ctx")
	if err == nil || !strings.Contains(err.Error(), `"retired"`) {
		t.Errorf("Open error = %v, want it to name the key retired", err)
	}
}

func TestRotationKeepsOldValuesOpenable(t *testing.T) {
	t.Parallel()
	old, current := newKey(t, "2024"), newKey(t, "2025")
	before := mustKeyring(t, old).Seal([]byte("old phone"), "users.phone:1")

	rotated := mustKeyring(t, current, old)
	got, err := rotated.Open(before, "users.phone:1")
	if err != nil || string(got) != "old phone" {
		t.Errorf("open a value sealed before rotation = %q, %v; want old phone", got, err)
	}
	after := rotated.Seal([]byte("new phone"), "users.phone:1")
	if !strings.HasPrefix(after, "v1.2025.") {
		t.Errorf("value sealed after rotation = %q, want the new key id 2025", after)
	}
	if _, err := mustKeyring(t, old).Open(after, "users.phone:1"); !errors.Is(err, fieldcrypt.ErrUnopenable) {
		t.Errorf("a keyring without the new key opened a new value: %v", err)
	}
}

func TestNewKeyringRefusesBadKeys(t *testing.T) {
	t.Parallel()
	good := newKey(t, "k1")
	tests := []struct {
		name string
		keys []fieldcrypt.Key
	}{
		{name: "no keys", keys: nil},
		{name: "a 16-byte secret", keys: []fieldcrypt.Key{{ID: "k1", Secret: make([]byte, 16)}}},
		{name: "a 31-byte secret", keys: []fieldcrypt.Key{{ID: "k1", Secret: make([]byte, 31)}}},
		{name: "a 33-byte secret", keys: []fieldcrypt.Key{{ID: "k1", Secret: make([]byte, 33)}}},
		{name: "an empty id", keys: []fieldcrypt.Key{{ID: "", Secret: good.Secret}}},
		{name: "an id with a dot", keys: []fieldcrypt.Key{{ID: "2024.1", Secret: good.Secret}}},
		{name: "a bad key after a good one", keys: []fieldcrypt.Key{good, {ID: "k2", Secret: []byte("short")}}},
		{name: "two keys with the same id", keys: []fieldcrypt.Key{good, newKey(t, "k1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := fieldcrypt.NewKeyring(tt.keys)
			if err == nil {
				t.Fatalf("NewKeyring = %v, nil; want an error", k)
			}
			for _, key := range tt.keys {
				if len(key.Secret) > 0 && strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(key.Secret)) {
					t.Errorf("error %q echoes a secret", err)
				}
			}
		})
	}
}

// flipLastByte changes the last ciphertext byte of a sealed value.
func flipLastByte(t *testing.T, sealed string) string {
	t.Helper()
	i := strings.LastIndex(sealed, ".")
	raw, err := base64.RawURLEncoding.DecodeString(sealed[i+1:])
	if err != nil {
		t.Fatalf("decode sealed value: %v", err)
	}
	raw[len(raw)-1] ^= 0x01
	return sealed[:i+1] + base64.RawURLEncoding.EncodeToString(raw)
}

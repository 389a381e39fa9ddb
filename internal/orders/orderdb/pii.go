package orderdb

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
)

// An order's shipping address is personal data: it is sealed before it
// reaches the database, as the users service seals a profile's (ADR 0011),
// and bound to its order so a sealed value copied to another row does not
// open.

func addressContext(orderID string) string { return "orders.shipping_address:" + orderID }

// sealAddress returns the sealed address of an order, or nil for none.
func sealAddress(pii *fieldcrypt.Keyring, orderID string, a *orders.Address) *string {
	if a == nil {
		return nil
	}
	b, _ := json.Marshal(a) // a struct of strings always marshals
	v := pii.Seal(b, addressContext(orderID))
	return &v
}

// openAddress opens what sealAddress stored for an order.
func openAddress(pii *fieldcrypt.Keyring, orderID string, sealed *string) (*orders.Address, error) {
	if sealed == nil {
		return nil, nil
	}
	b, err := pii.Open(*sealed, addressContext(orderID))
	if err != nil {
		return nil, fmt.Errorf("open shipping address of order %s: %w", orderID, err)
	}
	var a orders.Address
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("open shipping address of order %s: %w", orderID, err)
	}
	return &a, nil
}

// An idempotent request's stored answer repeats what the request returned,
// an order with its shipping address among it: it is sealed too, bound to
// its user and key.

func answerContext(userID, key string) string {
	return "orders.idempotency_answer:" + userID + ":" + key
}

// sealedPrefix starts every value fieldcrypt seals; answers stored before
// they were sealed (JSON, so starting with "{") are read as they are until
// they are pruned.
const sealedPrefix = "v1."

func sealAnswer(pii *fieldcrypt.Keyring, userID, key string, body []byte) []byte {
	return []byte(pii.Seal(body, answerContext(userID, key)))
}

func openAnswer(pii *fieldcrypt.Keyring, userID, key string, stored []byte) ([]byte, error) {
	if !strings.HasPrefix(string(stored), sealedPrefix) {
		return stored, nil
	}
	b, err := pii.Open(string(stored), answerContext(userID, key))
	if err != nil {
		return nil, fmt.Errorf("open the stored answer of idempotency key %q: %w", key, err)
	}
	return b, nil
}

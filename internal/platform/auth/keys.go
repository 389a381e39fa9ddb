package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// StaticKeys is a KeySource over a fixed set of keys. The users service uses
// it with the keys it signs with; it only ever hands out their public halves,
// so a caller holding a verification key can never sign with it.
type StaticKeys struct {
	keys map[string]jwk.Key
}

// NewStaticKeys indexes set by kid, keeping only public keys (private keys are
// converted with jwk.PublicKeyOf). It fails on a key without a kid, on a
// duplicate kid and on a symmetric key, which has no public half to publish.
func NewStaticKeys(set jwk.Set) (*StaticKeys, error) {
	keys, err := publicKeysByID(set)
	if err != nil {
		return nil, fmt.Errorf("static keys: %w", err)
	}
	return &StaticKeys{keys: keys}, nil
}

// PublicKey returns the public key with id kid.
func (s *StaticKeys) PublicKey(_ context.Context, kid string) (jwk.Key, error) {
	key, ok := s.keys[kid]
	if !ok {
		return nil, fmt.Errorf("key %q: %w", kid, ErrUnknownKey)
	}
	return key, nil
}

// publicKeysByID converts every key of set to its public form and indexes it
// by kid. Both StaticKeys and JWKS use it, so a private or secret key can
// reach the verifier from neither.
func publicKeysByID(set jwk.Set) (map[string]jwk.Key, error) {
	if set == nil {
		return nil, errors.New("no key set")
	}
	keys := make(map[string]jwk.Key, set.Len())
	for i := range set.Len() {
		key, _ := set.Key(i)
		kid, _ := key.KeyID()
		if kid == "" {
			return nil, fmt.Errorf("key %d has no kid", i)
		}
		if _, dup := keys[kid]; dup {
			return nil, fmt.Errorf("duplicate kid %q", kid)
		}
		pub, err := publicOnly(key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", kid, err)
		}
		keys[kid] = pub
	}
	return keys, nil
}

// publicOnly returns the public half of an asymmetric key. Symmetric keys are
// refused: jwk.PublicKeyOf would return the secret itself.
func publicOnly(key jwk.Key) (jwk.Key, error) {
	if _, err := jwk.IsPrivateKey(key); err != nil {
		return nil, fmt.Errorf("key type %s has no public form: %w", key.KeyType(), err)
	}
	pub, err := jwk.PublicKeyOf(key)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if private, err := jwk.IsPrivateKey(pub); err != nil || private {
		return nil, errors.New("public key still holds private material")
	}
	return pub, nil
}

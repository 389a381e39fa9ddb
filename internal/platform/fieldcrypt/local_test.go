package fieldcrypt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
)

func TestALocalKeyIsMadeOnceAndKeptAcrossStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders", "pii-key")
	first, generated, err := fieldcrypt.LocalKey(path)
	if err != nil || !generated {
		t.Fatalf("first start: generated %v, %v; want a new key", generated, err)
	}
	again, generated, err := fieldcrypt.LocalKey(path)
	if err != nil || generated || !bytes.Equal(again.Secret, first.Secret) {
		t.Fatalf("second start: generated %v, %v; want the kept key", generated, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the key file: %v, %v; want it readable by its owner only", info, err)
	}
	if _, err := fieldcrypt.NewKeyring([]fieldcrypt.Key{first}); err != nil {
		t.Errorf("the local key makes no keyring: %v", err)
	}
}

func TestALocalKeyFileThatIsNotAKeyIsRefusedRatherThanReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pii-key")
	if err := os.WriteFile(path, []byte("c2hvcnQ="), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fieldcrypt.LocalKey(path); err == nil {
		t.Fatal("a file holding a short key was accepted")
	}
	if b, _ := os.ReadFile(path); string(b) != "c2hvcnQ=" {
		t.Errorf("the file was overwritten: %q", b)
	}
}

func TestProcessesStartingAtOnceAgreeOnOneLocalKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pii-key")
	keys := make([]fieldcrypt.Key, 8)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range keys {
		wg.Go(func() {
			<-start
			keys[i], _, errs[i] = fieldcrypt.LocalKey(path)
		})
	}
	close(start)
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || !bytes.Equal(keys[i].Secret, keys[0].Secret) {
			t.Fatalf("start %d: %v; the starts did not agree on one key", i, errs[i])
		}
	}
}

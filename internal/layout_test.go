// Package internal_test guards the layout rules of ARCHITECTURE.md: a
// service never imports another service, and the platform never imports a
// service. Services talk to each other only over HTTP and events.
package internal_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/marketplace-go/marketplace"

// area names the part of the tree a package path belongs to: "platform",
// a service name, or "" for anything outside internal/.
func area(pkgPath string) string {
	rest, ok := strings.CutPrefix(pkgPath, module+"/internal/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

// checkImport says why a package in area from may not import path, or nil.
func checkImport(from, path string) error {
	to := area(path)
	switch {
	case to == "" || to == from || to == "platform" && from != "":
		return nil
	case from == "platform":
		return fmt.Errorf("platform code imports service %q", to)
	default:
		return fmt.Errorf("service %q imports service %q", from, to)
	}
}

func TestCheckImportAppliesTheLayoutRules(t *testing.T) {
	p := module + "/internal/"
	tests := []struct {
		from, path string
		allowed    bool
	}{
		{"users", p + "users/userdb", true},
		{"users", p + "platform/httpx", true},
		{"users", "github.com/jackc/pgx/v5", true},
		{"users", p + "orders", false},
		{"orders", p + "products/catalog", false},
		{"platform", p + "platform/errs", true},
		{"platform", p + "users", false},
	}
	for _, tt := range tests {
		if err := checkImport(tt.from, tt.path); (err == nil) != tt.allowed {
			t.Errorf("checkImport(%q, %q) = %v, want allowed=%v", tt.from, tt.path, err, tt.allowed)
		}
	}
}

func TestNoServiceImportsAnotherAndPlatformImportsNoService(t *testing.T) {
	fset := token.NewFileSet()
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		from := area(module + "/internal/" + filepath.ToSlash(path))
		if from == "" || !strings.Contains(path, string(filepath.Separator)) {
			return nil // this file, at the root of internal/
		}
		seen[from] = true
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if err := checkImport(from, ip); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !seen["platform"] || !seen["users"] {
		t.Fatalf("walked %v; the walk missed the tree it guards", seen)
	}
}

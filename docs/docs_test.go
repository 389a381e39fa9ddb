// Package docs_test keeps the documentation navigable: every link between
// the README and the pages under docs/ leads to a file of the repository,
// and docs/README.md, the index, lists every page. A page renamed, removed
// or added without its index entry fails here rather than in a reader's
// browser.
package docs_test

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	// link is a Markdown link's target: [text](target).
	link = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// fence is a fenced code block, whose brackets are code, not links.
	fence = regexp.MustCompile("(?s)```.*?```")
	// scheme starts a link that leaves the repository (https:, mailto:).
	scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z+.-]*:`)
)

// links returns the repository-relative targets of the links in the
// Markdown file name (a path from the repository's root), without their
// #fragments; links to other sites and to places in the same page are left
// out.
func links(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range link.FindAllStringSubmatch(fence.ReplaceAllString(string(b), ""), -1) {
		target, _, _ := strings.Cut(m[1], "#")
		if target == "" || scheme.MatchString(target) {
			continue
		}
		out = append(out, path.Clean(path.Join(path.Dir(name), target)))
	}
	return out
}

// pages returns the Markdown files of the README and docs/, as paths from
// the repository's root.
func pages(t *testing.T) []string {
	t.Helper()
	found := []string{"README.md"}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			found = append(found, path.Join("docs", filepath.ToSlash(p)))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestEveryLinkOfTheDocsLeadsToAFileOfTheRepository(t *testing.T) {
	all := pages(t)
	if !slices.Contains(all, "docs/README.md") || !slices.Contains(all, "docs/adr/README.md") {
		t.Fatalf("found %q: the walk missed the pages it checks", all)
	}
	for _, page := range all {
		for _, target := range links(t, page) {
			if strings.HasPrefix(target, "../") {
				t.Errorf("%s links to %s, outside the repository", page, target)
			} else if _, err := os.Stat(filepath.Join("..", filepath.FromSlash(target))); err != nil {
				t.Errorf("%s links to %s, which is not in the repository", page, target)
			}
		}
	}
}

func TestTheIndexOfTheDocsListsEveryPage(t *testing.T) {
	listed := links(t, "docs/README.md")
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name := "docs/" + e.Name(); strings.HasSuffix(name, ".md") && name != "docs/README.md" && !slices.Contains(listed, name) {
			t.Errorf("docs/README.md does not list %s", name)
		}
	}
}

// TestTheLinkFinderSeesWhatAReaderFollows holds links to what it must
// find and leave out, so that the tests above cannot pass by finding
// nothing.
func TestTheLinkFinderSeesWhatAReaderFollows(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	page := "See [users](users.md#sessions), [the spec](../api/openapi.yaml), [up](#top),\n" +
		"[a site](https://example.com/x.md) and [mail](mailto:a@example.com).\n" +
		"```\nnot a [link](code.md)\n```\n"
	if err := os.WriteFile(filepath.Join(dir, "docs", "page.md"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(dir, "docs"))
	got := links(t, "docs/page.md")
	if want := []string{"docs/users.md", "api/openapi.yaml"}; !slices.Equal(got, want) {
		t.Errorf("links = %q, want %q", got, want)
	}
}

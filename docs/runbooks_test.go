package docs_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var (
	// alertRule is an alerting rule's name in deploy/prometheus/rules.yml.
	alertRule = regexp.MustCompile(`(?m)^\s*-\s*alert:\s*(\S+)\s*$`)
	// runbookURL is a rule's runbook_url annotation, up to its fragment.
	runbookURL = regexp.MustCompile(`(?m)runbook_url:\s*\S*/docs/runbooks\.md#(\S+?)["']?\s*$`)
	// heading is a second-level heading of docs/runbooks.md.
	heading = regexp.MustCompile(`(?m)^## (\S+)\s*$`)
)

// TestEveryAlertHasARunbookParagraph holds issue 15's rule that every alert
// has a runbook: each alerting rule of deploy/prometheus has a section of
// docs/runbooks.md under its name, its runbook_url leads to one, and no
// section is left for an alert that is gone.
func TestEveryAlertHasARunbookParagraph(t *testing.T) {
	rules, err := os.ReadFile("../deploy/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	runbooks, err := os.ReadFile("runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(string(runbooks), -1) {
		sections[m[1]] = true
	}
	anchors := map[string]bool{}
	for name := range sections {
		anchors[strings.ToLower(name)] = true
	}
	alerts := map[string]bool{}
	for _, m := range alertRule.FindAllStringSubmatch(string(rules), -1) {
		alerts[m[1]] = true
		if !sections[m[1]] {
			t.Errorf("alert %s has no section \"## %s\" in docs/runbooks.md", m[1], m[1])
		}
	}
	if len(alerts) == 0 {
		t.Fatal("no alerting rule found in deploy/prometheus/rules.yml")
	}
	urls := runbookURL.FindAllStringSubmatch(string(rules), -1)
	if len(urls) < len(alerts) {
		t.Errorf("%d runbook_url annotations for %d alerts", len(urls), len(alerts))
	}
	for _, m := range urls {
		if !anchors[m[1]] {
			t.Errorf("runbook_url #%s leads to no section of docs/runbooks.md", m[1])
		}
	}
	for name := range sections {
		if !alerts[name] {
			t.Errorf("docs/runbooks.md has a section %s for no alert of the rules", name)
		}
	}
}

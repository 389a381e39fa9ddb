package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/marketplace-go/marketplace/internal/platform/config"
)

// docs prints the configuration reference, or writes it and the README's
// list of targets (`make docs`, `go generate ./cmd/marketplace`).
func (b binary) docs(args []string) error {
	fs := flag.NewFlagSet("docs", flag.ContinueOnError)
	fs.SetOutput(b.out)
	configOut := fs.String("config-out", "", "write the configuration reference to this file instead of printing it")
	readme := fs.String("readme", "", "rewrite the list of targets in this README")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ref, err := configReference(b.modules)
	if err != nil {
		return err
	}
	switch {
	case *configOut == "" && *readme == "":
		_, err := b.out.Write(ref)
		return err
	case *configOut != "":
		if err := os.WriteFile(*configOut, ref, 0o644); err != nil {
			return err
		}
	}
	if *readme == "" {
		return nil
	}
	old, err := os.ReadFile(*readme)
	if err != nil {
		return err
	}
	updated, err := withTargets(old, b.modules)
	if err != nil {
		return fmt.Errorf("%s: %w", *readme, err)
	}
	return os.WriteFile(*readme, updated, 0o644)
}

const regenerate = "make docs"

// configReference is docs/configuration.md: every variable the code
// reads, grouped by the part that reads it, as read with no variable set
// (the defaults).
func configReference(mods []module) ([]byte, error) {
	mods, err := startOrder(mods)
	if err != nil {
		return nil, err
	}
	cfg, err := loadAll(func(string) (string, bool) { return "", false }, mods)
	if err != nil {
		return nil, err
	}
	if err := describedAndRead(cfg.env); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("<!-- Generated from the configuration code by `" + regenerate + "`: do not edit by hand. -->\n\n")
	b.WriteString(`Every setting is an environment variable with a working local default. A bad
value stops the program at start with one line naming the variable. Secrets
(marked) are never logged. The flags of ` + "`marketplace serve`" + ` set the variables
they name (` + "`--<module>-addr`, `--no-migrate`" + `).
`)
	section(&b, "The process", "Whatever modules the process runs.", cfg.vars["process"])
	section(&b, "Shared by the modules", "Servers the modules share, and how access tokens are checked.", cfg.vars["shared"])
	for _, m := range mods {
		section(&b, "Module `"+m.name+"`", capitalize(m.about)+".", cfg.vars[m.name])
	}
	b.WriteString(`
## Tests

Tests use ` + "`TEST_POSTGRES_URL`" + ` (default ` + "`postgres://postgres@localhost:5432/postgres?sslmode=disable`" + `),
` + "`TEST_REDIS_ADDR` (default `localhost:6379`), `TEST_AMQP_URL`" + ` (default
` + "`amqp://guest:guest@localhost:5672/`) and `MONGODB_URI`" + ` (unset: one embedded FerretDB
per test binary, on a throwaway PostgreSQL database of the test server) to reach
servers where they make throwaway databases, key prefixes and vhosts.
`)
	return b.Bytes(), nil
}

// describedAndRead fails unless every variable read has a description
// and every description is of a variable read.
func describedAndRead(e *config.Env) error {
	var problems []error
	read := map[string]bool{}
	for _, v := range e.Vars() {
		read[v.Name] = true
		if v.Doc == "" {
			problems = append(problems, fmt.Errorf("%s is read but has no description (config.Docs beside the code that reads it)", v.Name))
		}
	}
	described := e.Described()
	slices.Sort(described)
	for _, name := range described {
		if !read[name] {
			problems = append(problems, fmt.Errorf("%s is described but never read", name))
		}
	}
	return errors.Join(problems...)
}

func section(b *bytes.Buffer, title, intro string, vars []config.Var) {
	fmt.Fprintf(b, "\n## %s\n\n%s\n\n", title, intro)
	b.WriteString("| variable | default | kind | meaning |\n|---|---|---|---|\n")
	for _, v := range vars {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", v.Name, cell(defaultOf(v)), cell(kindOf(v)), cell(v.Doc))
	}
}

func defaultOf(v config.Var) string {
	switch {
	case v.DefaultText != "":
		return v.DefaultText
	case v.Default == "":
		return "(none)"
	}
	return "`" + v.Default + "`"
}

func kindOf(v config.Var) string {
	switch {
	case v.Bounds == "":
		return v.Kind
	case v.Kind == "URL":
		return "URL (" + v.Bounds + ")"
	case v.Kind == "duration":
		return "duration " + v.Bounds
	}
	return v.Kind + ", " + v.Bounds
}

// cell escapes what would end a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// The README's list of targets sits between these lines.
const (
	targetsBegin = "<!-- targets:begin -->"
	targetsEnd   = "<!-- targets:end -->"
)

// targetsList is the README's list of targets: one row per module, and all.
func targetsList(mods []module) (string, error) {
	mods, err := startOrder(mods)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| target | default address | what it serves |\n|---|---|---|\n")
	for _, m := range mods {
		fmt.Fprintf(&b, "| `%s` | `%s` (`--%s-addr`) | %s |\n", m.name, m.addr, m.name, cell(m.about))
	}
	b.WriteString("| `all` | all of the above | every target in one process |\n")
	return b.String(), nil
}

// withTargets returns readme with its list of targets made from mods.
func withTargets(readme []byte, mods []module) ([]byte, error) {
	list, err := targetsList(mods)
	if err != nil {
		return nil, err
	}
	s := string(readme)
	begin, end := strings.Index(s, targetsBegin), strings.Index(s, targetsEnd)
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("no list of targets between %q and %q", targetsBegin, targetsEnd)
	}
	return []byte(s[:begin] + targetsBegin + "\n" + list + s[end:]), nil
}

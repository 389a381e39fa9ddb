package config

import (
	"strings"
	"time"
)

// Var is a variable as read: what the configuration reference says of it.
type Var struct {
	Name string
	// Default is the value used when the variable is unset, as the reader
	// was given it; DefaultText, when set, describes it instead (see
	// ShowDefault).
	Default     string
	DefaultText string
	// Kind is what the value must be: string, integer, boolean, duration,
	// URL or keys; Bounds narrows it (a range, the URL schemes).
	Kind   string
	Bounds string
	// Doc is the one-line description given with Describe.
	Doc string
}

// Docs are one-line descriptions of variables, by name. Each component
// keeps them beside the code that reads the variables and hands them to
// Describe.
type Docs map[string]string

// Describe gives descriptions of variables: the reference shows them
// beside the variables read. A component calls it where it reads them.
func (e *Env) Describe(d Docs) {
	if e.docs == nil {
		e.docs = Docs{}
	}
	for name, text := range d {
		e.docs[name] = text
	}
}

// ShowDefault replaces the default the reference shows for a variable
// whose default is computed (from the machine, or from another variable):
// the reference must read the same on every machine.
func (e *Env) ShowDefault(name, text string) {
	if e.shown == nil {
		e.shown = map[string]string{}
	}
	e.shown[name] = text
}

// Vars returns every variable read so far, each once, in the order first
// read, with its description (empty when none was given).
func (e *Env) Vars() []Var {
	out := make([]Var, len(e.vars))
	for i, v := range e.vars {
		v.Doc = e.docs[v.Name]
		v.DefaultText = e.shown[v.Name]
		out[i] = v
	}
	return out
}

// Described returns the names given descriptions, so that a check can find
// descriptions of variables that are no longer read.
func (e *Env) Described() []string {
	names := make([]string, 0, len(e.docs))
	for name := range e.docs {
		names = append(names, name)
	}
	return names
}

// note records a variable the first time it is read.
func (e *Env) note(v Var) {
	if _, ok := e.seen[v.Name]; ok {
		return
	}
	if e.seen == nil {
		e.seen = map[string]int{}
	}
	e.seen[v.Name] = len(e.vars)
	e.vars = append(e.vars, v)
}

// formatDuration writes d as people write it: 15m rather than 15m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

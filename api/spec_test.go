// Package api_test checks that the API documents in this directory are valid
// and agree with the code: every route a service registers is documented,
// nothing is documented that no service serves, and every event type is
// described.
package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v4"
)

// Paths are relative to this package's directory, where `go test` runs.
const (
	openAPIFile  = "openapi.yaml"
	asyncAPIFile = "asyncapi.yaml"
	sourceRoot   = "../internal"
	// contractsDir holds the event payload types and their type names.
	contractsDir = "../internal/platform/contracts"
)

// servicesWithAPIs must each register at least one route; otherwise the
// route scan has gone blind (a moved package, a renamed method) and would
// pass vacuously.
var servicesWithAPIs = []string{"users", "products", "orders"}

var loadSpec = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	// The document is self-contained: no external $refs are followed.
	loader.IsExternalRefsAllowed = false
	return loader.LoadFromFile(openAPIFile)
})

func spec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := loadSpec()
	if err != nil {
		t.Fatalf("load %s: %v", openAPIFile, err)
	}
	return doc
}

func TestTheOpenAPIDocumentIsValidOpenAPI31(t *testing.T) {
	doc := spec(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("%s declares openapi %q, want 3.1.x", openAPIFile, doc.OpenAPI)
	}
	// Validate turns on JSON Schema 2020-12 by itself for a 3.1 document;
	// multi-error reports every problem at once rather than the first.
	// Media-type and parameter examples are validated against their
	// schemas by default.
	if err := doc.Validate(context.Background(), openapi3.EnableMultiError()); err != nil {
		var me openapi3.MultiError
		if errors.As(err, &me) {
			for _, e := range me {
				t.Error(e)
			}
			return
		}
		t.Fatal(err)
	}
}

// TestEverySchemaExampleMatchesItsSchema covers the `examples` keyword of
// JSON Schema 2020-12 on component schemas, which Validate does not check.
func TestEverySchemaExampleMatchesItsSchema(t *testing.T) {
	doc := spec(t)
	names := make([]string, 0, len(doc.Components.Schemas))
	for name := range doc.Components.Schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	checked := 0
	for _, name := range names {
		s := doc.Components.Schemas[name].Value
		for i, example := range s.Examples {
			checked++
			t.Run(fmt.Sprintf("%s example %d matches its schema", name, i+1), func(t *testing.T) {
				v, err := asJSON(example)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.EnableFormatValidation(), openapi3.MultiErrors()); err != nil {
					t.Error(err)
				}
			})
		}
	}
	if checked == 0 {
		t.Fatal("no schema examples found; the document or the loader changed")
	}
}

// asJSON turns a value decoded from YAML into what encoding/json would
// decode, which is what the schema validator expects.
func asJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

// route is one registration of a handler on a method and path.
type route struct {
	method, path string
	// where is the file and line of the registration.
	where string
	// service is the internal/<service> directory it lives in.
	service string
	// needsToken: the handler is wrapped in an Authed(...) call, which
	// refuses requests without a valid bearer token.
	needsToken bool
}

func (r route) key() string { return r.method + " " + normalize(r.path) }

var (
	routePattern = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (/\S*)$`)
	pathParam    = regexp.MustCompile(`\{[^}]*\}`)
)

// normalize makes paths comparable whatever their parameters are named:
// Go's "{id}" and "{rest...}" and OpenAPI's "{id}" all become "{}", and
// Go's end anchor "{$}" goes.
func normalize(path string) string {
	path = strings.ReplaceAll(path, "{$}", "")
	return pathParam.ReplaceAllString(path, "{}")
}

var scanRoutes = sync.OnceValues(func() ([]route, error) {
	var routes []route
	fset := token.NewFileSet()
	err := filepath.WalkDir(sourceRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if serviceOf(path) == "web" {
			return nil // the storefront's pages are for people, not the API the spec describes
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		found, err := routesIn(fset, f, serviceOf(path))
		routes = append(routes, found...)
		return err
	})
	return routes, err
})

// serviceOf names the internal/<service> directory of a source file.
func serviceOf(path string) string {
	rel, err := filepath.Rel(sourceRoot, path)
	if err != nil {
		return ""
	}
	return strings.Split(filepath.ToSlash(rel), "/")[0]
}

// routesIn finds the calls X.HandleFunc("METHOD /path", h) and
// X.Handle("METHOD /path", h) of a file. A registration whose pattern is a
// string literal but not "METHOD /path" is an error: the spec could not
// describe it.
func routesIn(fset *token.FileSet, f *ast.File, service string) ([]route, error) {
	var routes []route
	var bad error
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true // a pattern passed through, as in the router itself
		}
		pattern, err := strconv.Unquote(lit.Value)
		pos := fset.Position(lit.Pos())
		where := fmt.Sprintf("%s:%d", filepath.ToSlash(pos.Filename), pos.Line)
		m := routePattern.FindStringSubmatch(pattern)
		if err != nil || m == nil {
			bad = errors.Join(bad, fmt.Errorf("%s: route pattern %s is not \"METHOD /path\"", where, lit.Value))
			return true
		}
		if strings.HasPrefix(m[2], "/internal/") {
			return true // between services, never routed by the gateway: not the public API
		}
		routes = append(routes, route{method: m[1], path: m[2], where: where, service: service, needsToken: wrappedInAuthed(call.Args[1])})
		return true
	})
	return routes, bad
}

// wrappedInAuthed reports whether a handler expression is a call of a
// method named Authed: auth.Responder's wrapper, through which every
// service requires a token.
func wrappedInAuthed(h ast.Expr) bool {
	call, ok := h.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Authed"
}

func registeredRoutes(t *testing.T) []route {
	t.Helper()
	routes, err := scanRoutes()
	if err != nil {
		t.Fatalf("scan %s for routes: %v", sourceRoot, err)
	}
	for _, svc := range servicesWithAPIs {
		if !slices.ContainsFunc(routes, func(r route) bool { return r.service == svc }) {
			t.Fatalf("no route registrations found under %s/%s; the scan no longer sees them", sourceRoot, svc)
		}
	}
	return routes
}

// documented is one operation of the spec.
type documented struct {
	method, path string
	op           *openapi3.Operation
	item         *openapi3.PathItem
}

func (d documented) key() string   { return d.method + " " + normalize(d.path) }
func (d documented) name() string  { return d.method + " " + d.path }
func (d documented) label() string { return d.name() + " (" + d.op.OperationID + ")" }

func operations(doc *openapi3.T) []documented {
	var ops []documented
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		for method, op := range item.Operations() {
			ops = append(ops, documented{method: method, path: path, op: op, item: item})
		}
	}
	slices.SortFunc(ops, func(a, b documented) int { return strings.Compare(a.name(), b.name()) })
	return ops
}

func TestEveryRouteAServiceRegistersIsDocumented(t *testing.T) {
	doc := spec(t)
	inSpec := map[string]bool{}
	for _, op := range operations(doc) {
		inSpec[op.key()] = true
	}
	for _, r := range registeredRoutes(t) {
		t.Run(r.method+" "+r.path+" is in the spec", func(t *testing.T) {
			if !inSpec[r.key()] {
				t.Errorf("%s registers %s %s, which %s does not document", r.where, r.method, r.path, openAPIFile)
			}
		})
	}
}

func TestEveryDocumentedOperationIsServedBySomeService(t *testing.T) {
	registered := map[string]bool{}
	for _, r := range registeredRoutes(t) {
		registered[r.key()] = true
	}
	for _, op := range operations(spec(t)) {
		t.Run(op.name()+" is registered by a service", func(t *testing.T) {
			if !registered[op.key()] {
				t.Errorf("%s documents %s, which no service under %s registers", openAPIFile, op.label(), sourceRoot)
			}
		})
	}
}

// TestEveryOperationThatTakesInputDocumentsAClientError: an operation a
// client can get wrong (a token, a parameter, a body) must say how it
// answers when the client does. Operations without any input, such as
// /healthz or the key set, cannot fail by the client's fault (404 and 405
// for unknown routes and methods are described once, globally), so they are
// exempt, and listed in the test log.
func TestEveryOperationThatTakesInputDocumentsAClientError(t *testing.T) {
	doc := spec(t)
	for _, op := range operations(doc) {
		t.Run(op.name()+" documents a 4xx answer", func(t *testing.T) {
			if has4xx(op.op) {
				return
			}
			if inputs := inputsOf(doc, op); len(inputs) > 0 {
				t.Errorf("%s takes %s, yet documents no 4xx answer", op.label(), strings.Join(inputs, ", "))
				return
			}
			t.Logf("%s takes no input and documents no 4xx answer: exempt", op.label())
		})
	}
}

func has4xx(op *openapi3.Operation) bool {
	for status := range op.Responses.Map() {
		if strings.HasPrefix(status, "4") {
			return true
		}
	}
	return false
}

// inputsOf lists what a client sends an operation that it could get wrong:
// its parameters (except the optional X-Request-ID, which is never refused),
// its body, and a required or optional token.
func inputsOf(doc *openapi3.T, op documented) []string {
	var inputs []string
	for _, p := range slices.Concat(op.item.Parameters, op.op.Parameters) {
		if p.Value.In == openapi3.ParameterInHeader && p.Value.Name == "X-Request-ID" {
			continue
		}
		inputs = append(inputs, fmt.Sprintf("the %s parameter %s", p.Value.In, p.Value.Name))
	}
	if op.op.RequestBody != nil {
		inputs = append(inputs, "a request body")
	}
	security := doc.Security
	if op.op.Security != nil {
		security = *op.op.Security
	}
	for _, req := range security {
		if len(req) > 0 {
			inputs = append(inputs, "a token")
			break
		}
	}
	return inputs
}

// TestEveryRouteThatNeedsATokenSaysSo: a route wrapped in Authed(...) must
// require bearerAuth (not offer anonymous access) and document the 401;
// and an operation whose only security is bearerAuth must be such a route.
func TestEveryRouteThatNeedsATokenSaysSo(t *testing.T) {
	doc := spec(t)
	needsToken := map[string]route{}
	for _, r := range registeredRoutes(t) {
		if r.needsToken {
			needsToken[r.key()] = r
		}
	}
	for _, op := range operations(doc) {
		security := doc.Security
		if op.op.Security != nil {
			security = *op.op.Security
		}
		requiresBearer := len(security) > 0 && !slices.ContainsFunc(security, func(req openapi3.SecurityRequirement) bool {
			return len(req) == 0
		})
		r, authed := needsToken[op.key()]
		t.Run(op.name()+" documents its token as the code requires it", func(t *testing.T) {
			switch {
			case authed && !requiresBearer:
				t.Errorf("%s requires a token (%s), but %s does not require bearerAuth", op.label(), r.where, openAPIFile)
			case !authed && requiresBearer:
				t.Errorf("%s requires bearerAuth, but its route does not go through Authed(...)", op.label())
			}
			if authed && op.op.Responses.Value("401") == nil {
				t.Errorf("%s requires a token but does not document 401", op.label())
			}
		})
	}
}

// asyncAPI is the part of api/asyncapi.yaml the tests read.
type asyncAPI struct {
	Channels map[string]struct {
		Address  string         `yaml:"address"`
		Messages map[string]any `yaml:"messages"`
	} `yaml:"channels"`
	Components struct {
		Messages map[string]struct {
			Name string `yaml:"name"`
		} `yaml:"messages"`
	} `yaml:"components"`
}

func readAsyncAPI(t *testing.T) (doc asyncAPI, tree any) {
	t.Helper()
	b, err := os.ReadFile(asyncAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse %s: %v", asyncAPIFile, err)
	}
	if err := yaml.Unmarshal(b, &tree); err != nil {
		t.Fatalf("parse %s: %v", asyncAPIFile, err)
	}
	return doc, tree
}

// eventTypes reads the event type constants of the contracts package: the
// string constants whose value looks like "aggregate.happening".
func eventTypes(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(contractsDir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	eventType := regexp.MustCompile(`^[a-z_]+\.[a-z_]+$`)
	types := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					if err == nil && eventType.MatchString(s) {
						types[s] = vs.Names[i].Name
					}
				}
			}
		}
	}
	if len(types) == 0 {
		t.Fatalf("no event type constants found in %s", contractsDir)
	}
	return types
}

func TestEveryEventTypeHasAChannelAndAMessage(t *testing.T) {
	doc, _ := readAsyncAPI(t)
	channels := map[string]bool{}
	for _, ch := range doc.Channels {
		channels[ch.Address] = true
	}
	messages := map[string]bool{}
	for _, m := range doc.Components.Messages {
		messages[m.Name] = true
	}
	types := eventTypes(t)
	for _, typ := range slices.Sorted(maps.Keys(types)) {
		t.Run(typ+" is described", func(t *testing.T) {
			if !channels[typ] {
				t.Errorf("contracts.%s (%q) has no channel with that address in %s", types[typ], typ, asyncAPIFile)
			}
			if !messages[typ] {
				t.Errorf("contracts.%s (%q) has no message of that name in %s", types[typ], typ, asyncAPIFile)
			}
		})
	}
}

func TestEveryReferenceInTheAsyncAPIDocumentResolves(t *testing.T) {
	_, tree := readAsyncAPI(t)
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				refs = append(refs, ref)
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(tree)
	if len(refs) == 0 {
		t.Fatalf("no $ref found in %s", asyncAPIFile)
	}
	slices.Sort(refs)
	for _, ref := range slices.Compact(refs) {
		t.Run(ref+" resolves", func(t *testing.T) {
			if err := resolve(tree, ref); err != nil {
				t.Error(err)
			}
		})
	}
}

// resolve follows a local JSON pointer reference ("#/a/b") through tree.
func resolve(tree any, ref string) error {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return fmt.Errorf("%s is not a local reference", ref)
	}
	node := tree
	for _, part := range strings.Split(pointer, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := node.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %q is not inside an object", ref, part)
		}
		if node, ok = m[part]; !ok {
			return fmt.Errorf("%s: no %q", ref, part)
		}
	}
	return nil
}

// TestEveryEventExampleMatchesItsMessage validates the payload and headers
// of every message example against the message's schemas. AsyncAPI 3's
// default schema format is a superset of JSON Schema draft 7.
func TestEveryEventExampleMatchesItsMessage(t *testing.T) {
	_, tree := readAsyncAPI(t)
	doc, err := asJSON(tree)
	if err != nil {
		t.Fatal(err)
	}
	const base = "file:///asyncapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	if err := c.AddResource(base, doc); err != nil {
		t.Fatal(err)
	}
	messages, _ := lookup(doc, "components", "messages").(map[string]any)
	checked := 0
	for _, name := range slices.Sorted(maps.Keys(messages)) {
		msg, _ := messages[name].(map[string]any)
		examples, _ := msg["examples"].([]any)
		for i, ex := range examples {
			ex, _ := ex.(map[string]any)
			for _, part := range []string{"payload", "headers"} {
				value, ok := ex[part]
				if !ok {
					continue
				}
				checked++
				t.Run(fmt.Sprintf("%s example %d has a valid %s", name, i+1, part), func(t *testing.T) {
					if _, ok := msg[part]; !ok {
						t.Fatalf("the example has %s, but the message defines none", part)
					}
					sch, err := c.Compile(base + "#/components/messages/" + name + "/" + part)
					if err != nil {
						t.Fatal(err)
					}
					if err := sch.Validate(value); err != nil {
						t.Error(err)
					}
				})
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no message examples found in %s", asyncAPIFile)
	}
}

// lookup walks nested objects by key.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// specURL is where the gateway serves the raw description; the page links
// to it.
const specURL = "/api/openapi.yaml"

// maxDepth bounds how deep nested members are listed, so that a deep (or
// recursive) schema cannot blow the page up.
const maxDepth = 6

//go:embed reference.html.tmpl
var referenceHTML string

var referenceTemplate = template.Must(template.New("reference").Parse(referenceHTML))

var reference = sync.OnceValues(func() ([]byte, error) {
	loader := openapi3.NewLoader()
	// Positions let the page keep the document's order of paths and
	// properties, which Go maps lose.
	loader.IncludeOrigin = true
	doc, err := loader.LoadFromData(openAPI)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	return render(doc)
})

// Reference returns the HTML API reference rendered from api/openapi.yaml:
// one self-contained page (inline CSS, no scripts, nothing fetched from
// elsewhere) for the gateway to serve at GET /api/. It is rendered on the
// first call and the same bytes are returned afterwards, so callers must
// not modify them. The page needs a Content-Security-Policy that allows
// inline styles, such as "default-src 'none'; style-src 'unsafe-inline'".
func Reference() ([]byte, error) { return reference() }

// render turns doc into the reference page. Every string from doc reaches
// the page through html/template's escaping.
func render(doc *openapi3.T) ([]byte, error) {
	var buf bytes.Buffer
	if err := referenceTemplate.Execute(&buf, newPage(doc)); err != nil {
		return nil, fmt.Errorf("render API reference: %w", err)
	}
	return buf.Bytes(), nil
}

// page is what the template shows.
type page struct {
	Title, Version string
	Description    []block
	SpecURL        string
	Servers        []server
	Auth           []scheme
	Groups         []group
	Schemas        []namedSchema
}

type server struct {
	URL         string
	Description []block
}

// scheme is a security scheme of components.securitySchemes.
type scheme struct {
	ID, Name, Kind string
	Description    []block
}

// group is a tag, or for untagged operations a path prefix.
type group struct {
	ID, Name    string
	Description []block
	Operations  []operation
}

type operation struct {
	ID, Method, Path, Summary string
	Deprecated                bool
	Description               []block
	Auth                      access
	Servers                   []string
	Parameters                []parameter
	Body                      *requestBody
	Responses                 []response
}

// access says whether an operation needs credentials: Kind is "public",
// "optional" or "required".
type access struct {
	Kind, Text string
}

type parameter struct {
	Name, In    string
	Required    bool
	Deprecated  bool
	Type        []typePart
	Constraints []constraint
	Description []block
}

type requestBody struct {
	Required    bool
	Description []block
	Contents    []content
}

type response struct {
	Status, Class string
	Description   []block
	Headers       []string
	Contents      []content
}

// content is one media type of a body with its schema: the schema's type
// and the fields it lists.
type content struct {
	MediaType   string
	Problem     bool
	Type        []typePart
	Constraints []constraint
	Description []block
	Fields      []field
}

type namedSchema struct {
	ID, Name    string
	Type        []typePart
	Constraints []constraint
	Description []block
	Fields      []field
}

// field is one member of a schema, nested members named by path
// ("lines[].product_id").
type field struct {
	Name        string
	Depth       int
	Required    bool
	Recursive   bool
	Type        []typePart
	Constraints []constraint
	Description []block
}

// typePart is a piece of a type's text; Link is the anchor of the
// component schema it names, if any.
type typePart struct {
	Text, Link string
}

type constraint struct {
	Label, Value string
}

func newPage(doc *openapi3.T) page {
	p := page{SpecURL: specURL}
	if doc.Info != nil {
		p.Title, p.Version = doc.Info.Title, doc.Info.Version
		p.Description = blocks(doc.Info.Description)
	}
	if p.Title == "" {
		p.Title = "API reference"
	}
	for _, s := range doc.Servers {
		if s != nil {
			p.Servers = append(p.Servers, server{URL: s.URL, Description: blocks(s.Description)})
		}
	}
	p.Auth = schemes(doc)
	p.Groups = groups(doc)
	p.Schemas = componentSchemas(doc)
	return p
}

func schemes(doc *openapi3.T) []scheme {
	if doc.Components == nil {
		return nil
	}
	var out []scheme
	for _, name := range slices.Sorted(maps.Keys(doc.Components.SecuritySchemes)) {
		ref := doc.Components.SecuritySchemes[name]
		if ref == nil || ref.Value == nil {
			continue
		}
		out = append(out, scheme{
			ID:          anchor("auth", name),
			Name:        name,
			Kind:        schemeKind(ref.Value),
			Description: blocks(ref.Value.Description),
		})
	}
	return out
}

// schemeKind says in a few words what credentials a scheme takes.
func schemeKind(s *openapi3.SecurityScheme) string {
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		if s.BearerFormat != "" {
			return s.BearerFormat + " bearer token"
		}
		return "bearer token"
	case s.Type == "http":
		return "HTTP " + s.Scheme
	case s.Type == "apiKey":
		return "API key in " + s.In + " " + s.Name
	default:
		return s.Type
	}
}

// groups lists the operations by their first tag, tags in the order the
// document declares them, and untagged operations by path prefix.
func groups(doc *openapi3.T) []group {
	byName := map[string]*group{}
	var order []string
	for _, t := range doc.Tags {
		if t != nil && byName[t.Name] == nil {
			byName[t.Name] = &group{ID: anchor("tag", t.Name), Name: t.Name, Description: blocks(t.Description)}
			order = append(order, t.Name)
		}
	}
	ids := map[string]int{}
	for _, path := range paths(doc) {
		item := doc.Paths.Value(path)
		for _, method := range methods(item) {
			op := item.GetOperation(method)
			name := pathPrefix(path)
			if len(op.Tags) > 0 {
				name = op.Tags[0]
			}
			g := byName[name]
			if g == nil {
				g = &group{ID: anchor("tag", name), Name: name}
				byName[name] = g
				order = append(order, name)
			}
			o := newOperation(doc, path, item, method, op)
			o.ID = unique(ids, o.ID)
			g.Operations = append(g.Operations, o)
		}
	}
	var out []group
	for _, name := range order {
		if g := byName[name]; len(g.Operations) > 0 {
			out = append(out, *g)
		}
	}
	return out
}

// paths returns the document's paths in the order they are written, or
// sorted when positions were not recorded.
func paths(doc *openapi3.T) []string {
	if doc.Paths == nil {
		return nil
	}
	keys := doc.Paths.Keys()
	line := func(path string) int {
		if item := doc.Paths.Value(path); item != nil && item.Origin != nil && item.Origin.Key != nil {
			return item.Origin.Key.Line
		}
		return 0
	}
	slices.SortStableFunc(keys, func(a, b string) int {
		if c := line(a) - line(b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return keys
}

// methodOrder is how the methods of one path are listed.
var methodOrder = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect,
}

func methods(item *openapi3.PathItem) []string {
	if item == nil {
		return nil
	}
	ops := item.Operations()
	out := slices.Collect(maps.Keys(ops))
	rank := func(m string) int {
		if i := slices.Index(methodOrder, m); i >= 0 {
			return i
		}
		return len(methodOrder)
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := rank(a) - rank(b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return slices.DeleteFunc(out, func(m string) bool { return ops[m] == nil })
}

var versionSegment = regexp.MustCompile(`^v[0-9]+$`)

// pathPrefix names the group of an untagged operation: its first path
// segment, after a version segment such as v1.
func pathPrefix(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) > 1 && versionSegment.MatchString(segs[0]) {
		return "/" + segs[0] + "/" + segs[1]
	}
	return "/" + segs[0]
}

func newOperation(doc *openapi3.T, path string, item *openapi3.PathItem, method string, op *openapi3.Operation) operation {
	id := op.OperationID
	if id == "" {
		id = method + " " + path
	}
	o := operation{
		ID:          anchor("op", id),
		Method:      method,
		Path:        path,
		Summary:     op.Summary,
		Deprecated:  op.Deprecated,
		Description: blocks(op.Description),
		Auth:        accessOf(doc, op),
		Parameters:  parameters(item.Parameters, op.Parameters),
		Responses:   responses(op.Responses),
	}
	servers := item.Servers
	if op.Servers != nil {
		servers = *op.Servers
	}
	for _, s := range servers {
		if s != nil {
			o.Servers = append(o.Servers, s.URL)
		}
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		rb := op.RequestBody.Value
		o.Body = &requestBody{
			Required:    rb.Required,
			Description: blocks(rb.Description),
			Contents:    contents(rb.Content, true),
		}
	}
	return o
}

// accessOf reads an operation's security, or the document's when the
// operation sets none. An empty requirement ({}) makes the others optional.
func accessOf(doc *openapi3.T, op *openapi3.Operation) access {
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	var alternatives []string
	optional := false
	for _, req := range reqs {
		if len(req) == 0 {
			optional = true
			continue
		}
		var all []string
		for _, name := range slices.Sorted(maps.Keys(req)) {
			text := name
			if doc.Components != nil {
				if s := doc.Components.SecuritySchemes[name]; s != nil && s.Value != nil {
					text += " (" + schemeKind(s.Value) + ")"
				}
			}
			if scopes := req[name]; len(scopes) > 0 {
				text += " with " + strings.Join(scopes, ", ")
			}
			all = append(all, text)
		}
		alternatives = append(alternatives, strings.Join(all, " and "))
	}
	switch {
	case len(alternatives) == 0:
		return access{Kind: "public", Text: "No credentials needed."}
	case optional:
		return access{Kind: "optional", Text: "Optional: " + strings.Join(alternatives, " or ") + "."}
	default:
		return access{Kind: "required", Text: "Required: " + strings.Join(alternatives, " or ") + "."}
	}
}

// locationOrder is how parameters are listed: path, query, header, cookie.
var locationOrder = []string{"path", "query", "header", "cookie"}

// parameters merges the path item's parameters with the operation's, which
// override them by name and location.
func parameters(shared, own openapi3.Parameters) []parameter {
	var all []*openapi3.Parameter
	for _, ref := range slices.Concat(shared, own) {
		if ref == nil || ref.Value == nil {
			continue
		}
		p := ref.Value
		all = slices.DeleteFunc(all, func(q *openapi3.Parameter) bool { return q.Name == p.Name && q.In == p.In })
		all = append(all, p)
	}
	slices.SortStableFunc(all, func(a, b *openapi3.Parameter) int {
		return slices.Index(locationOrder, a.In) - slices.Index(locationOrder, b.In)
	})
	out := make([]parameter, 0, len(all))
	for _, p := range all {
		schema := p.Schema
		if schema == nil && len(p.Content) > 0 {
			if mt := p.Content[slices.Sorted(maps.Keys(p.Content))[0]]; mt != nil {
				schema = mt.Schema
			}
		}
		sh := describe(schema, 0)
		desc := p.Description
		if desc == "" {
			desc = sh.Description
		}
		out = append(out, parameter{
			Name:        p.Name,
			In:          p.In,
			Required:    p.Required,
			Deprecated:  p.Deprecated,
			Type:        sh.parts(),
			Constraints: sh.Constraints,
			Description: blocks(desc),
		})
	}
	return out
}

func responses(rs *openapi3.Responses) []response {
	m := rs.Map()
	codes := slices.Collect(maps.Keys(m))
	slices.SortFunc(codes, func(a, b string) int {
		if (a == "default") != (b == "default") {
			if a == "default" {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	var out []response
	for _, code := range codes {
		ref := m[code]
		if ref == nil || ref.Value == nil {
			continue
		}
		r := response{Status: code, Class: "s" + code[:1], Contents: contents(ref.Value.Content, false)}
		if ref.Value.Description != nil {
			r.Description = blocks(*ref.Value.Description)
		}
		r.Headers = slices.Sorted(maps.Keys(ref.Value.Headers))
		out = append(out, r)
	}
	return out
}

// contents describes each media type of a body. A request body's fields
// are listed in full, following references; a response names its schema
// and lists only the members of an inline one.
func contents(c openapi3.Content, follow bool) []content {
	var out []content
	for _, mediaType := range slices.Sorted(maps.Keys(c)) {
		mt := c[mediaType]
		if mt == nil {
			continue
		}
		sh := describe(mt.Schema, 0)
		cn := content{
			MediaType:   mediaType,
			Problem:     strings.HasPrefix(mediaType, "application/problem+"),
			Type:        sh.parts(),
			Constraints: sh.Constraints,
		}
		if follow || !sh.viaRef {
			cn.Description = blocks(sh.Description)
			cn.Fields = listFields(sh, follow)
		}
		out = append(out, cn)
	}
	return out
}

// componentSchemas lists components.schemas in document order, each with
// its own members; members that name another component link to it.
func componentSchemas(doc *openapi3.T) []namedSchema {
	if doc.Components == nil {
		return nil
	}
	names := slices.Sorted(maps.Keys(doc.Components.Schemas))
	slices.SortStableFunc(names, func(a, b string) int {
		return position(doc.Components.Schemas[a]) - position(doc.Components.Schemas[b])
	})
	out := make([]namedSchema, 0, len(names))
	for _, name := range names {
		sh := describe(doc.Components.Schemas[name], 0)
		out = append(out, namedSchema{
			ID:          anchor("schema", name),
			Name:        name,
			Type:        sh.parts(),
			Constraints: sh.Constraints,
			Description: blocks(sh.Description),
			Fields:      listFields(sh, false),
		})
	}
	return out
}

// position is the line a schema is written on, or 0 when unknown.
func position(ref *openapi3.SchemaRef) int {
	switch {
	case ref == nil:
		return 0
	case ref.Origin != nil && ref.Origin.Key != nil:
		return ref.Origin.Key.Line
	case ref.Value != nil && ref.Value.Origin != nil && ref.Value.Origin.Key != nil:
		return ref.Value.Origin.Key.Line
	}
	return 0
}

// anchor makes an id attribute of letters, digits, '-' and '_'.
func anchor(kind, name string) string {
	var b strings.Builder
	b.WriteString(kind + "-")
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// unique returns id, suffixed if it was handed out before.
func unique(seen map[string]int, id string) string {
	seen[id]++
	if n := seen[id]; n > 1 {
		return id + "-" + strconv.Itoa(n)
	}
	return id
}

// shape is a schema reduced to what a reader needs: its type, the
// component it is, its constraints and the object schemas whose
// properties are its members.
type shape struct {
	Type        []typePart
	Ref         string // component schema name
	Nullable    bool
	Constraints []constraint
	Description string
	// Members hold the properties listed under this schema, each named
	// with the schema's name followed by Sep.
	Members []*openapi3.Schema
	Sep     string
	// viaRef says the members belong to a component schema, which a
	// listing that does not follow references only links to; refDesc says
	// the same of the description.
	viaRef, refDesc bool
}

// parts is the type as shown: "string", "array of Money", or for a
// component its linked name and what it is ("Email (string)", "Money").
func (sh shape) parts() []typePart {
	out := slices.Clone(sh.Type)
	if sh.Ref != "" {
		out = []typePart{{Text: sh.Ref, Link: anchor("schema", sh.Ref)}}
		if len(sh.Type) != 1 || sh.Type[0] != (typePart{Text: "object"}) {
			out = append(out, typePart{Text: " ("})
			out = append(out, sh.Type...)
			out = append(out, typePart{Text: ")"})
		}
	}
	if sh.Nullable {
		out = append(out, typePart{Text: " | null"})
	}
	return out
}

// short is the type of a nested schema: just the component's name when
// it is one.
func (sh shape) short() []typePart {
	if sh.Ref != "" {
		out := []typePart{{Text: sh.Ref, Link: anchor("schema", sh.Ref)}}
		if sh.Nullable {
			out = append(out, typePart{Text: " | null"})
		}
		return out
	}
	return sh.parts()
}

func componentName(ref string) string {
	name, ok := strings.CutPrefix(ref, "#/components/schemas/")
	if !ok || strings.Contains(name, "/") {
		return ""
	}
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
}

// describe reduces ref to its shape. It unwraps allOf of one schema and
// anyOf/oneOf of a schema and null, as written for a $ref with a sibling
// description or a nullable $ref. depth stops runaway nesting.
func describe(ref *openapi3.SchemaRef, depth int) shape {
	if ref == nil || ref.Value == nil {
		return shape{Type: []typePart{{Text: "any"}}}
	}
	if depth > maxDepth {
		return shape{Type: []typePart{{Text: "…"}}}
	}
	s := ref.Value
	name := componentName(ref.Ref)
	if inner, nullable := wrapped(s); inner != nil {
		sh := describe(inner, depth+1)
		if name != "" {
			sh.Ref = name
		}
		sh.Nullable = sh.Nullable || nullable
		if s.Description != "" {
			sh.Description, sh.refDesc = s.Description, name != ""
		}
		sh.Constraints = append(sh.Constraints, constraints(s)...)
		sh.viaRef = sh.viaRef || sh.Ref != ""
		return sh
	}
	sh := shape{Ref: name, Description: s.Description, refDesc: name != "", Constraints: constraints(s), Sep: "."}
	types := s.Type.Slice()
	if slices.Contains(types, "null") {
		sh.Nullable = true
		types = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "null" })
	}
	switch {
	case len(s.AnyOf) > 0 || len(s.OneOf) > 0:
		for i, alt := range slices.Concat(s.AnyOf, s.OneOf) {
			if i > 0 {
				sh.Type = append(sh.Type, typePart{Text: " | "})
			}
			sh.Type = append(sh.Type, describe(alt, depth+1).short()...)
		}
	case len(s.AllOf) > 0:
		for i, part := range s.AllOf {
			if i > 0 {
				sh.Type = append(sh.Type, typePart{Text: " & "})
			}
			inner := describe(part, depth+1)
			sh.Type = append(sh.Type, inner.short()...)
			sh.Members = append(sh.Members, inner.Members...)
			sh.viaRef = sh.viaRef || inner.viaRef
		}
		if len(s.Properties) > 0 {
			sh.Members = append(sh.Members, s)
		}
	case len(types) == 1 && types[0] == "array":
		items := describe(s.Items, depth+1)
		sh.Type = append([]typePart{{Text: "array of "}}, items.short()...)
		sh.Members, sh.Sep, sh.viaRef = items.Members, "[]"+items.Sep, items.viaRef
		sh.Constraints = append(sh.Constraints, itemConstraints(items.Constraints)...)
	case len(s.Properties) > 0:
		sh.Type = []typePart{{Text: strings.Join(orDefault(types, "object"), " | ")}}
		sh.Members = []*openapi3.Schema{s}
	case s.AdditionalProperties.Schema != nil:
		values := describe(s.AdditionalProperties.Schema, depth+1)
		sh.Type = append([]typePart{{Text: "map of "}}, values.short()...)
		sh.Members, sh.Sep, sh.viaRef = values.Members, ".*"+values.Sep, values.viaRef
		sh.Constraints = append(sh.Constraints, itemConstraints(values.Constraints)...)
	default:
		sh.Type = []typePart{{Text: strings.Join(orDefault(types, "any"), " | ")}}
	}
	sh.viaRef = sh.viaRef || sh.Ref != ""
	return sh
}

// wrapped returns the one schema that s only wraps (allOf of one, or
// anyOf/oneOf of one and null), and whether null is allowed.
func wrapped(s *openapi3.Schema) (*openapi3.SchemaRef, bool) {
	if !s.Type.IsEmpty() || len(s.Properties) > 0 || s.Items != nil {
		return nil, false
	}
	alts := slices.Concat(s.AnyOf, s.OneOf)
	switch {
	case len(s.AllOf) == 1 && len(alts) == 0:
		return s.AllOf[0], false
	case len(s.AllOf) == 0 && len(alts) == 2:
		for i, alt := range alts {
			if alt != nil && alt.Value != nil && alt.Value.Type.Is("null") {
				return alts[1-i], true
			}
		}
	}
	return nil, false
}

func orDefault(types []string, def string) []string {
	if len(types) == 0 {
		return []string{def}
	}
	return types
}

// itemConstraints repeats the value constraints of an array's items (or a
// map's values) on the array, labelled as such.
func itemConstraints(cs []constraint) []constraint {
	var out []constraint
	for _, c := range cs {
		switch c.Label {
		case "one of", "format", "pattern", "length", "range", "always":
			out = append(out, constraint{Label: "each " + c.Label, Value: c.Value})
		}
	}
	return out
}

// constraints lists the validation keywords of s itself.
func constraints(s *openapi3.Schema) []constraint {
	var out []constraint
	add := func(label, value string) { out = append(out, constraint{Label: label, Value: value}) }
	if s.Const != nil {
		add("always", value(s.Const))
	}
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = value(v)
		}
		add("one of", strings.Join(vals, ", "))
	}
	if s.Format != "" {
		add("format", s.Format)
	}
	if r := bounds(s.MinLength, s.MaxLength); r != "" {
		add("length", r)
	}
	if r := numberRange(s); r != "" {
		add("range", r)
	}
	if s.MultipleOf != nil {
		add("multiple of", number(*s.MultipleOf))
	}
	if s.Pattern != "" {
		add("pattern", s.Pattern)
	}
	if r := bounds(s.MinItems, s.MaxItems); r != "" {
		add("items", r)
	}
	if s.UniqueItems {
		add("items", "unique")
	}
	if r := bounds(s.MinProps, s.MaxProps); r != "" {
		add("members", r)
	}
	if s.Default != nil {
		add("default", value(s.Default))
	}
	switch {
	case s.ReadOnly:
		add("read-only", "")
	case s.WriteOnly:
		add("write-only", "")
	}
	if s.Deprecated {
		add("deprecated", "")
	}
	return out
}

// bounds writes a minimum and an optional maximum count ("1–100", "≥ 1",
// "≤ 254"); a minimum of 0 is no bound.
func bounds(lo uint64, hi *uint64) string {
	switch {
	case lo > 0 && hi != nil:
		return fmt.Sprintf("%d–%d", lo, *hi)
	case lo > 0:
		return fmt.Sprintf("≥ %d", lo)
	case hi != nil:
		return fmt.Sprintf("≤ %d", *hi)
	}
	return ""
}

func numberRange(s *openapi3.Schema) string {
	var parts []string
	switch {
	case s.ExclusiveMin.Value != nil:
		parts = append(parts, "> "+number(*s.ExclusiveMin.Value))
	case s.Min != nil && s.ExclusiveMin.Bool != nil && *s.ExclusiveMin.Bool:
		parts = append(parts, "> "+number(*s.Min))
	case s.Min != nil:
		parts = append(parts, "≥ "+number(*s.Min))
	}
	switch {
	case s.ExclusiveMax.Value != nil:
		parts = append(parts, "< "+number(*s.ExclusiveMax.Value))
	case s.Max != nil && s.ExclusiveMax.Bool != nil && *s.ExclusiveMax.Bool:
		parts = append(parts, "< "+number(*s.Max))
	case s.Max != nil:
		parts = append(parts, "≤ "+number(*s.Max))
	}
	return strings.Join(parts, ", ")
}

func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// value writes a schema value: strings as they are, anything else as JSON.
func value(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// fieldLister collects the members of a schema, depth first.
type fieldLister struct {
	fields []field
	// follow lists the members of referenced components too, rather than
	// only linking to them.
	follow bool
	// open holds the schemas being listed, to stop at recursion.
	open []*openapi3.Schema
}

func listFields(sh shape, follow bool) []field {
	l := fieldLister{follow: follow}
	l.members(strings.TrimPrefix(sh.Sep, "."), sh, 0)
	return l.fields
}

// members lists the properties of sh's member schemas, named prefix+name.
func (l *fieldLister) members(prefix string, sh shape, depth int) {
	if depth > maxDepth {
		return
	}
	for _, s := range sh.Members {
		if slices.Contains(l.open, s) {
			continue
		}
		l.open = append(l.open, s)
		for _, name := range properties(s) {
			l.property(prefix+name, s.Properties[name], slices.Contains(s.Required, name), depth)
		}
		l.open = l.open[:len(l.open)-1]
	}
}

func (l *fieldLister) property(name string, ref *openapi3.SchemaRef, required bool, depth int) {
	sh := describe(ref, 0)
	f := field{
		Name:        name,
		Depth:       depth,
		Required:    required,
		Type:        sh.parts(),
		Constraints: sh.Constraints,
	}
	if !sh.refDesc || l.follow {
		f.Description = blocks(sh.Description)
	}
	expand := !sh.viaRef || l.follow
	for _, m := range sh.Members {
		f.Recursive = f.Recursive || expand && slices.Contains(l.open, m)
	}
	l.fields = append(l.fields, f)
	if expand {
		l.members(name+sh.Sep, sh, depth+1)
	}
}

// properties returns the property names of s in document order, or sorted
// when positions were not recorded.
func properties(s *openapi3.Schema) []string {
	names := slices.Sorted(maps.Keys(s.Properties))
	slices.SortStableFunc(names, func(a, b string) int {
		return position(s.Properties[a]) - position(s.Properties[b])
	})
	return names
}

// block is a piece of a description: a paragraph, a heading or a list.
// Descriptions are plain text with a little Markdown; only what the spec
// uses is recognised, and everything stays text for the template to
// escape.
type block struct {
	Kind  string // "p", "h" or "ul"
	Spans []span
	Items [][]span
}

// span is inline text, possibly `code` or **strong**.
type span struct {
	Text         string
	Code, Strong bool
}

var (
	bullet  = regexp.MustCompile(`^\s*[-*+] `)
	heading = regexp.MustCompile(`^#{1,6} +`)
)

// blocks splits a description into paragraphs at blank lines, "#"
// headings and "- " lists whose indented lines continue their item.
func blocks(text string) []block {
	var out []block
	var para, item []string
	var items [][]span
	flushPara := func() {
		if len(para) > 0 {
			out = append(out, block{Kind: "p", Spans: spans(strings.Join(para, " "))})
			para = nil
		}
	}
	flushItem := func() {
		if len(item) > 0 {
			items = append(items, spans(strings.Join(item, " ")))
			item = nil
		}
	}
	flushList := func() {
		flushItem()
		if len(items) > 0 {
			out = append(out, block{Kind: "ul", Items: items})
			items = nil
		}
	}
	for line := range strings.Lines(text) {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			flushPara()
			flushItem()
		case bullet.MatchString(line):
			flushPara()
			flushItem()
			item = []string{strings.TrimSpace(bullet.ReplaceAllString(line, ""))}
		case item != nil && line[0] == ' ':
			item = append(item, trimmed)
		case heading.MatchString(trimmed):
			flushPara()
			flushList()
			out = append(out, block{Kind: "h", Spans: spans(heading.ReplaceAllString(trimmed, ""))})
		default:
			flushList()
			para = append(para, trimmed)
		}
	}
	flushPara()
	flushList()
	return out
}

// spans splits a line into plain text, `code` and **strong** runs. An
// unclosed marker is plain text.
func spans(text string) []span {
	var out []span
	plain := func(s string) {
		if s == "" {
			return
		}
		if n := len(out); n > 0 && !out[n-1].Code && !out[n-1].Strong {
			out[n-1].Text += s
			return
		}
		out = append(out, span{Text: s})
	}
	for text != "" {
		i := strings.IndexAny(text, "`*")
		if i < 0 {
			plain(text)
			break
		}
		plain(text[:i])
		text = text[i:]
		marker := "`"
		if text[0] == '*' {
			marker = "**"
		}
		if !strings.HasPrefix(text, marker) {
			plain(text[:1])
			text = text[1:]
			continue
		}
		end := strings.Index(text[len(marker):], marker)
		if end <= 0 {
			plain(text[:len(marker)])
			text = text[len(marker):]
			continue
		}
		inner := text[len(marker) : len(marker)+end]
		out = append(out, span{Text: inner, Code: marker == "`", Strong: marker == "**"})
		text = text[2*len(marker)+end:]
	}
	return out
}

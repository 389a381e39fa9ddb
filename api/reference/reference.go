// Package reference renders the API reference page from api/openapi.yaml.
//
// The page is rendered when the spec changes (make docs, go generate
// ./api), not when the gateway serves it: the renderer needs kin-openapi's
// loader and goldmark, about 2 MB of the release binary for one page that
// only changes with the spec (docs/deploy.md, "Size"). api.Reference
// serves the committed page; a test checks it is the one Render makes.
package reference

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/util"
)

//go:embed reference.html.tmpl
var referenceHTML string

var referenceTemplate = template.Must(template.New("reference").Funcs(template.FuncMap{
	"md": markdown, "anchor": anchor, "contents": contents,
}).Parse(referenceHTML))

// Render returns the API reference page of spec, an OpenAPI document: one
// page with inline CSS, no scripts and nothing fetched from elsewhere, so
// that it works under the policy "default-src 'none'; style-src
// 'unsafe-inline'".
func Render(spec []byte) ([]byte, error) {
	loader := openapi3.NewLoader()
	loader.IncludeOrigin = true // positions keep the document's order, which Go maps lose
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	return render(doc)
}

// render turns doc into the reference page. Strings reach it through
// html/template's escaping, descriptions through markdown.
func render(doc *openapi3.T) ([]byte, error) {
	var b strings.Builder
	if err := referenceTemplate.Execute(&b, newPage(doc)); err != nil {
		return nil, fmt.Errorf("render API reference: %w", err)
	}
	return []byte(b.String()), nil
}

// descriptions renders CommonMark without its raw HTML: tags in a
// description stay text, which the renderer escapes. (An image would
// render, but the page's Content-Security-Policy loads none.)
var descriptions = goldmark.New(goldmark.WithParser(parser.NewParser(
	parser.WithBlockParsers(without(parser.DefaultBlockParsers(), parser.NewHTMLBlockParser())...),
	parser.WithInlineParsers(without(parser.DefaultInlineParsers(), parser.NewRawHTMLParser())...),
	parser.WithParagraphTransformers(parser.DefaultParagraphTransformers()...),
)))

func without(ps []util.PrioritizedValue, p any) []util.PrioritizedValue {
	return slices.DeleteFunc(ps, func(v util.PrioritizedValue) bool { return v.Value == p })
}

func markdown(text string) (template.HTML, error) {
	var b strings.Builder
	err := descriptions.Convert([]byte(text), &b)
	return template.HTML(b.String()), err
}

// page is the document with its operations grouped by first tag.
type page struct {
	*openapi3.T
	Groups  []*group
	Schemas []row
}

type group struct {
	Name, Description string
	Operations        []operation
}

// operation adds to the document's Operation what the template cannot
// read from it directly.
type operation struct {
	*openapi3.Operation
	ID, Method, Path, Access string // Access is "public", "optional" or "required"
	Params                   []row
}

// row is a parameter, a body's media type, a component schema, or one of
// their members, named by its path ("lines[].product_id").
type row struct {
	Name, In, Description string
	Depth                 int
	Required, Deprecated  bool
	Type                  template.HTML
	Constraints           [][2]string // label, value
	Fields                []row
}

func newPage(doc *openapi3.T) page {
	p := page{T: doc}
	byName := map[string]*group{}
	add := func(name, desc string) *group {
		if byName[name] == nil {
			byName[name] = &group{Name: name, Description: desc}
			p.Groups = append(p.Groups, byName[name])
		}
		return byName[name]
	}
	for _, t := range doc.Tags {
		add(t.Name, t.Description)
	}
	for _, path := range inDocumentOrder(doc.Paths.Map(), pathOrigin) {
		item := doc.Paths.Value(path)
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"} {
			if op := item.GetOperation(method); op != nil {
				g := add(append(slices.Clone(op.Tags), "other")[0], "")
				g.Operations = append(g.Operations, newOperation(doc, path, item, method, op))
			}
		}
	}
	p.Groups = slices.DeleteFunc(p.Groups, func(g *group) bool { return len(g.Operations) == 0 })
	if doc.Components != nil {
		for _, name := range inDocumentOrder(doc.Components.Schemas, schemaOrigin) {
			p.Schemas = append(p.Schemas, entry(name, doc.Components.Schemas[name], false))
		}
	}
	return p
}

// inDocumentOrder returns m's keys in the order they are written, or
// sorted when the loader recorded no positions.
func inDocumentOrder[V any](m map[string]V, origin func(V) *openapi3.Origin) []string {
	line := func(k string) int {
		if o := origin(m[k]); o != nil && o.Key != nil {
			return o.Key.Line
		}
		return 0
	}
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return line(a) - line(b) })
	return keys
}

func pathOrigin(p *openapi3.PathItem) *openapi3.Origin    { return p.Origin }
func schemaOrigin(r *openapi3.SchemaRef) *openapi3.Origin { return cmp.Or(r.Origin, r.Value.Origin) }

func newOperation(doc *openapi3.T, path string, item *openapi3.PathItem, method string, op *openapi3.Operation) operation {
	o := operation{Operation: op, ID: cmp.Or(op.OperationID, method+" "+path), Method: method, Path: path, Access: "public"}
	// An empty requirement ({}) makes the others optional.
	for _, req := range *cmp.Or(op.Security, &doc.Security) {
		if len(req) == 0 {
			o.Access = "optional"
		} else if o.Access == "public" {
			o.Access = "required"
		}
	}
	for _, ref := range slices.Concat(item.Parameters, op.Parameters) {
		p := ref.Value
		r := rowOf(p.Name, p.Schema, p.Required, 0, false)
		r.In, r.Deprecated, r.Description = p.In, p.Deprecated, cmp.Or(p.Description, r.Description)
		o.Params = append(o.Params, r)
	}
	return o
}

// contents describes each media type of a body. A request body lists the
// members of its schema (follow); a response those of an inline schema
// only, and links to a component.
func contents(c openapi3.Content, follow bool) []row {
	var out []row
	for _, mediaType := range slices.Sorted(maps.Keys(c)) {
		out = append(out, entry(mediaType, c[mediaType].Schema, follow))
	}
	return out
}

// entry is the row of a body or a component schema with its members.
func entry(name string, ref *openapi3.SchemaRef, follow bool) row {
	r := rowOf(name, ref, false, 0, follow)
	if ref != nil && ref.Value != nil && (ref.Ref == "" || follow) {
		r.Fields = fields("", ref.Value, 0)
	}
	return r
}

// rowOf describes a schema by its type and, unless it is a component
// (described in its own row) and follow is false, its constraints and
// description.
func rowOf(name string, ref *openapi3.SchemaRef, required bool, depth int, follow bool) row {
	r := row{Name: name, Depth: depth, Required: required, Type: typeOf(ref, false)}
	if ref != nil && ref.Value != nil && (ref.Ref == "" || follow) {
		r.Constraints, r.Description = constraints(ref.Value), ref.Value.Description
	}
	return r
}

// fields lists the members of an object schema depth first, each named by
// its path, down to members that are components: those link to their own.
func fields(path string, s *openapi3.Schema, depth int) []row {
	var out []row
	inline := func(ref *openapi3.SchemaRef) bool { return ref != nil && ref.Ref == "" && ref.Value != nil }
	switch {
	case inline(s.Items):
		return fields(path+"[]", s.Items.Value, depth)
	case inline(s.AdditionalProperties.Schema):
		out = fields(path+".*", s.AdditionalProperties.Schema.Value, depth)
	}
	for _, part := range s.AllOf {
		if inline(part) {
			out = append(out, fields(path, part.Value, depth)...)
		}
	}
	for _, name := range inDocumentOrder(s.Properties, schemaOrigin) {
		full, prop := strings.TrimPrefix(path+"."+name, "."), s.Properties[name]
		out = append(out, rowOf(full, prop, slices.Contains(s.Required, name), depth, false))
		if inline(prop) {
			out = append(out, fields(full, prop.Value, depth+1)...)
		}
	}
	return out
}

// typeOf is a schema's type as shown: "string", "array of Money" with
// Money linked, or for a component its linked name and, unless short or an
// object, what it is ("Email (string)"). Components are named, never
// expanded, so a recursive schema ends here.
func typeOf(ref *openapi3.SchemaRef, short bool) template.HTML {
	if ref == nil || ref.Value == nil {
		return "any"
	}
	s := ref.Value
	alts, sep := slices.Concat(s.AnyOf, s.OneOf), " | "
	if len(alts) == 0 {
		alts, sep = s.AllOf, " &amp; "
	}
	switch {
	case ref.Ref != "":
		name := strings.NewReplacer("~1", "/", "~0", "~").Replace(strings.TrimPrefix(ref.Ref, "#/components/schemas/"))
		link := template.HTML(`<a href="#` + anchor("schema", name) + `">` + template.HTMLEscapeString(name) + "</a>")
		if what := typeOf(&openapi3.SchemaRef{Value: s}, true); !short && what != "object" {
			return link + " (" + what + ")"
		}
		return link
	case len(alts) > 0:
		var parts []string
		for _, alt := range alts {
			parts = append(parts, string(typeOf(alt, true)))
		}
		return template.HTML(strings.Join(parts, sep))
	case s.Items != nil:
		return "array of " + typeOf(s.Items, true)
	case s.AdditionalProperties.Schema != nil && len(s.Properties) == 0:
		return "map of " + typeOf(s.AdditionalProperties.Schema, true)
	case !s.Type.IsEmpty():
		return template.HTML(template.HTMLEscapeString(strings.Join(s.Type.Slice(), " | ")))
	case len(s.Properties) > 0:
		return "object"
	}
	return "any"
}

// keywords are the validation keywords a row lists, by their OpenAPI names.
var keywords = []string{"const", "enum", "format", "minLength", "maxLength", "minimum", "exclusiveMinimum",
	"maximum", "exclusiveMaximum", "pattern", "minItems", "maxItems", "uniqueItems", "minProperties",
	"maxProperties", "default", "readOnly", "writeOnly", "deprecated"}

// constraints lists the validation keywords that s sets, with their values:
// a string as it is, anything else as JSON.
func constraints(s *openapi3.Schema) [][2]string {
	var set map[string]any
	b, _ := s.MarshalJSON() // a schema parsed from a document marshals
	_ = json.Unmarshal(b, &set)
	var out [][2]string
	for _, k := range keywords {
		if v, ok := set[k]; ok {
			text, isString := v.(string)
			if j, _ := json.Marshal(v); !isString || text == "" {
				text = string(j)
			}
			out = append(out, [2]string{k, text})
		}
	}
	return out
}

var notInID = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// anchor makes an id attribute of kind and name in letters, digits, '-' and '_'.
func anchor(kind, name string) string { return kind + "-" + notInID.ReplaceAllString(name, "-") }

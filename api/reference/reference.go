// Package reference renders the API reference page from api/openapi.yaml.
//
// The page is rendered when the spec changes (make docs, go generate
// ./api), not when the gateway serves it: the renderer needs kin-openapi's
// loader and goldmark, about 2 MB of the release binary for one page that
// only changes with the spec (docs/deploy.md, "Size"). api.Reference
// serves the committed page; a test checks it is the one Render makes.
//
// The markup is reference.html.tmpl; this file gathers what it shows.
package reference

import (
	"bytes"
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
	"md": markdown, "anchor": anchor, "entry": entry,
}).Parse(referenceHTML))

// Render returns the API reference page of spec, an OpenAPI document: one
// page with inline CSS, no scripts and nothing fetched from elsewhere, so
// that it works under the policy "default-src 'none'; style-src
// 'unsafe-inline'". Strings reach it through html/template's escaping,
// descriptions through markdown.
func Render(spec []byte) ([]byte, error) {
	loader := openapi3.NewLoader()
	loader.IncludeOrigin = true // positions keep the document's order, which Go maps lose
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	var b bytes.Buffer
	if err := referenceTemplate.Execute(&b, newPage(doc)); err != nil {
		return nil, fmt.Errorf("render API reference: %w", err)
	}
	return b.Bytes(), nil
}

// descriptions renders CommonMark without its raw-HTML parsers: tags in a
// description stay text, which the renderer escapes.
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
	*openapi3.Tag
	Operations []operation
}

// operation adds to an Operation what the template cannot read from it.
type operation struct {
	*openapi3.Operation
	ID, Method, Path, Access string // Access is "public", "optional" or "required"
	Params                   openapi3.Parameters
}

// row is a parameter's schema, a body's media type, a component schema or
// one of their members, named by its path ("lines[].product_id").
type row struct {
	Name, Description string
	Depth             int
	Required          bool
	Type              template.HTML
	Constraints       [][2]string // keyword, value
	Fields            []row
}

// newPage lists the operations in the order of the paths, grouped in the
// order of the document's tags, then of first use ("other" for none).
func newPage(doc *openapi3.T) page {
	p := page{T: doc}
	for _, tag := range doc.Tags {
		p.Groups = append(p.Groups, &group{Tag: tag})
	}
	for _, path := range inDocumentOrder(doc.Paths.Map(), func(i *openapi3.PathItem) *openapi3.Origin { return i.Origin }) {
		item := doc.Paths.Value(path)
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"} {
			if op := item.GetOperation(method); op != nil {
				tag := append(slices.Clone(op.Tags), "other")[0]
				i := slices.IndexFunc(p.Groups, func(g *group) bool { return g.Name == tag })
				if i < 0 {
					p.Groups, i = append(p.Groups, &group{Tag: &openapi3.Tag{Name: tag}}), len(p.Groups)
				}
				p.Groups[i].Operations = append(p.Groups[i].Operations, newOperation(doc, path, item, method, op))
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
// sorted where the loader recorded no positions.
func inDocumentOrder[V any](m map[string]V, origin func(V) *openapi3.Origin) []string {
	line := func(k string) int {
		if o := origin(m[k]); o != nil && o.Key != nil {
			return o.Key.Line
		}
		return 0
	}
	return slices.SortedStableFunc(slices.Values(slices.Sorted(maps.Keys(m))), func(a, b string) int { return line(a) - line(b) })
}

func schemaOrigin(r *openapi3.SchemaRef) *openapi3.Origin { return cmp.Or(r.Origin, r.Value.Origin) }

func newOperation(doc *openapi3.T, path string, item *openapi3.PathItem, method string, op *openapi3.Operation) operation {
	o := operation{Operation: op, ID: cmp.Or(op.OperationID, method+" "+path), Method: method, Path: path, Access: "public"}
	for _, req := range *cmp.Or(op.Security, &doc.Security) {
		if len(req) == 0 { // an empty requirement ({}) makes the others optional
			o.Access = "optional"
		} else if o.Access == "public" {
			o.Access = "required"
		}
	}
	o.Params = slices.Concat(item.Parameters, op.Parameters)
	return o
}

// entry is the row of a body's media type or of a component schema, with
// its members; a component in a body is followed (listed) only if follow.
func entry(name string, ref *openapi3.SchemaRef, follow bool) row {
	return describe(row{Name: name, Depth: -1}, "", ref, follow)
}

// describe completes r with ref's type and, unless ref is a component not
// followed (linked to its own row), its constraints, description and
// members, each named by its path below path.
func describe(r row, path string, ref *openapi3.SchemaRef, follow bool) row {
	r.Type = typeOf(ref, false)
	if ref != nil && ref.Value != nil && (ref.Ref == "" || follow) {
		r.Constraints, r.Description, r.Fields = constraints(ref.Value), ref.Value.Description, members(path, ref.Value, r.Depth+1)
	}
	return r
}

// members lists an object schema's properties (and those of its inline
// items, map values and allOf parts) in the document's order.
func members(path string, s *openapi3.Schema, depth int) (out []row) {
	inline := func(ref *openapi3.SchemaRef) bool { return ref != nil && ref.Ref == "" && ref.Value != nil }
	if inline(s.Items) {
		return members(path+"[]", s.Items.Value, depth)
	} else if inline(s.AdditionalProperties.Schema) {
		out = members(path+".*", s.AdditionalProperties.Schema.Value, depth)
	}
	for _, part := range s.AllOf {
		if inline(part) {
			out = append(out, members(path, part.Value, depth)...)
		}
	}
	for _, name := range inDocumentOrder(s.Properties, schemaOrigin) {
		full := strings.TrimPrefix(path+"."+name, ".")
		out = append(out, describe(row{Name: full, Depth: depth, Required: slices.Contains(s.Required, name)}, full, s.Properties[name], false))
	}
	return out
}

// typeOf is a schema's type as shown: "string", "array of Money" with
// Money linked, or for a component its linked name and, unless short or an
// object, what it is ("Email (string)"). A component is never expanded
// here, so a recursive schema ends.
func typeOf(ref *openapi3.SchemaRef, short bool) template.HTML {
	if ref == nil || ref.Value == nil {
		return "any"
	}
	s, alts, sep := ref.Value, slices.Concat(ref.Value.AnyOf, ref.Value.OneOf), " | "
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
		parts := make([]string, len(alts))
		for i, alt := range alts {
			parts[i] = string(typeOf(alt, true))
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
var keywords = []string{"const", "enum", "format", "minLength", "maxLength", "minimum", "exclusiveMinimum", "maximum",
	"exclusiveMaximum", "pattern", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "default",
	"readOnly", "writeOnly", "deprecated"}

// constraints lists the validation keywords that s sets with their values:
// a string as it is, anything else as JSON.
func constraints(s *openapi3.Schema) (out [][2]string) {
	var set map[string]any
	b, _ := s.MarshalJSON() // a schema parsed from a document marshals
	_ = json.Unmarshal(b, &set)
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

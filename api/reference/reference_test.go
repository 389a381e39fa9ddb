package reference

import (
	"html"
	"html/template"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/api"
)

// hostileSpec is a small document whose strings try to break out of the
// page, with a recursive schema and a request body built from $refs.
const hostileSpec = `
openapi: 3.1.0
info:
  title: "Evil <script>alert('title')</script>"
  version: "1 <b>bold</b>"
  description: |
    Intro with <script>alert(1)</script> and ` + "`<img src=x onerror=alert(2)>`" + `.

    - **<i>bold</i>** item
tags:
  - name: "<script>tag</script>"
    description: "</style><script>alert(3)</script>"
paths:
  /things/{id}:
    post:
      operationId: "make\"><script>alert(4)</script>"
      tags: ["<script>tag</script>"]
      summary: "<script>alert(5)</script>"
      security:
        - bearerAuth: []
      parameters:
        - name: id
          in: path
          required: true
          description: "<a href=\"https://evil.example/\">click</a>"
          schema:
            type: string
            pattern: "^<script>$"
            enum: ["<script>"]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/Thing'
      responses:
        '201':
          description: "<script>alert(6)</script>"
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Thing'
        '422':
          description: Not done.
          content:
            application/problem+json:
              schema:
                type: object
                properties:
                  code:
                    type: string
  /open:
    get:
      summary: Untagged and public.
      responses:
        '204':
          description: Done.
components:
  securitySchemes:
    bearerAuth:
      type: http
      scheme: bearer
  schemas:
    Money:
      type: object
      required: [amount]
      properties:
        amount:
          type: integer
          minimum: 0
          maximum: 1000
          description: In cents.
    Thing:
      type: object
      description: "<script>alert(7)</script>"
      required: [price]
      properties:
        price:
          $ref: '#/components/schemas/Money'
        tree:
          $ref: '#/components/schemas/Node'
    Node:
      type: object
      properties:
        name:
          type: string
        children:
          type: array
          items:
            $ref: '#/components/schemas/Node'
`

func loadSpec(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	return doc
}

func referencePage(t *testing.T) string {
	t.Helper()
	page, err := Render(api.OpenAPI())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return string(page)
}

func hostilePage(t *testing.T) string {
	t.Helper()
	page, err := Render([]byte(hostileSpec))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return string(page)
}

// escaped is s as html/template writes it in text.
func escaped(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("").Parse("{{.}}")).Execute(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var opArticle = regexp.MustCompile(`(?s)<article class="op" id="[^"]*">\s*<h3><span class="method[^"]*">([A-Z]+)</span><code class="path">([^<]*)</code>.*?</article>`)

// operations maps "METHOD path" to the article that documents it.
func operations(t *testing.T, page string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range opArticle.FindAllStringSubmatch(page, -1) {
		key := m[1] + " " + html.UnescapeString(m[2])
		if _, dup := out[key]; dup {
			t.Errorf("%s is documented twice", key)
		}
		out[key] = m[0]
	}
	return out
}

func TestThePageRenders(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t, api.OpenAPI())
	page := referencePage(t)
	for _, want := range []string{
		"<!doctype html>",
		"<title>" + escaped(t, doc.Info.Title+" "+doc.Info.Version),
		`<a href="/api/openapi.yaml">`,
		`id="schemas"`,
		"</html>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestTheServedPageIsTheOneTheSpecRendersTo catches an api/openapi.yaml
// changed without `make docs` (or `go generate ./api`).
func TestTheServedPageIsTheOneTheSpecRendersTo(t *testing.T) {
	t.Parallel()
	if page := referencePage(t); page != string(api.Reference()) {
		t.Error("api/reference.html is not the page api/openapi.yaml renders to: run `make docs`")
	}
}

func TestEveryOperationInTheSpecAppearsWithItsSummary(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t, api.OpenAPI())
	ops := operations(t, referencePage(t))
	want := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			want++
			article, ok := ops[method+" "+path]
			if !ok {
				t.Errorf("%s %s is missing", method, path)
				continue
			}
			if !strings.Contains(article, escaped(t, op.Summary)) {
				t.Errorf("%s %s lacks its summary %q", method, path, op.Summary)
			}
		}
	}
	if len(ops) != want {
		t.Errorf("page documents %d operations, spec has %d", len(ops), want)
	}
}

var statusCell = regexp.MustCompile(`<td class="status[^"]*">([^<]+)</td>`)

func TestEveryDocumentedStatusCodeOfAnOperationAppears(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t, api.OpenAPI())
	ops := operations(t, referencePage(t))
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			var got []string
			for _, m := range statusCell.FindAllStringSubmatch(ops[method+" "+path], -1) {
				got = append(got, m[1])
			}
			want := op.Responses.Keys()
			slices.Sort(got)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s %s status codes (-spec +page):\n%s", method, path, diff)
			}
		}
	}
}

func TestASpecStringContainingScriptIsEscaped(t *testing.T) {
	t.Parallel()
	page := hostilePage(t)
	lower := strings.ToLower(page)
	for _, bad := range []string{"<script", "<img", "<i>", "<b>", `<a href="https`} {
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
	if n := strings.Count(lower, "</style>"); n != 1 {
		t.Errorf("page has %d </style>, want only its own", n)
	}
	for _, want := range []string{
		"&lt;script&gt;alert(5)&lt;/script&gt;",
		"<code>&lt;img src=x onerror=alert(2)&gt;</code>",
		"<strong>&lt;i&gt;bold&lt;/i&gt;</strong>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks the escaped text %q", want)
		}
	}
}

var schemaArticle = regexp.MustCompile(`(?s)<article class="schema" id="schema-([^"]*)">.*?</article>`)

// schemas maps a component schema's name to the article that documents it.
func schemas(page string) map[string]string {
	out := map[string]string{}
	for _, m := range schemaArticle.FindAllStringSubmatch(page, -1) {
		out[m[1]] = m[0]
	}
	return out
}

func TestAnOperationOfASmallSpecIsRenderedInFull(t *testing.T) {
	t.Parallel()
	page := hostilePage(t)
	ops := operations(t, page)
	article := ops["POST /things/{id}"]
	for _, want := range []string{
		"auth required",
		// The request body lists its component's members; a member that
		// is a component links to it.
		"<code>price</code> <span class=\"req\">required</span>",
		`<a href="#schema-Money">Money</a>`,
		"application/problem&#43;json",
		"<code>code</code>",
	} {
		if !strings.Contains(article, want) {
			t.Errorf("operation lacks %q", want)
		}
	}
	if open := ops["GET /open"]; !strings.Contains(open, "public") {
		t.Errorf("untagged operation is not shown as public: %s", open)
	}
	money := schemas(page)["Money"]
	for _, want := range []string{"<code>amount</code> <span class=\"req\">required</span>", "minimum <code>0</code>", "maximum <code>1000</code>", "<p>In cents.</p>"} {
		if !strings.Contains(money, want) {
			t.Errorf("schema Money lacks %q", want)
		}
	}
}

func TestARecursiveSchemaLinksToItselfRatherThanExpanding(t *testing.T) {
	t.Parallel()
	page := hostilePage(t)
	node := schemas(page)["Node"]
	for _, want := range []string{"<code>name</code>", "<code>children</code>", `array of <a href="#schema-Node">Node</a>`} {
		if !strings.Contains(node, want) {
			t.Errorf("schema Node lacks %q", want)
		}
	}
	if strings.Contains(page, "children[].") || strings.Contains(page, "tree.") {
		t.Error("a component was expanded where it is used")
	}
}

func TestDescriptionsAreRenderedAsMarkdown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, text, want string }{
		{"a paragraph", "Plain words.", "<p>Plain words.</p>"},
		{"code and strong", "Send `If-Match` **always**.", "<p>Send <code>If-Match</code> <strong>always</strong>.</p>"},
		{"a list", "- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"},
		{"a heading", "## Orders in brief", "<h2>Orders in brief</h2>"},
		{"a link within the site", "[the spec](/api/openapi.yaml)", `<a href="/api/openapi.yaml">the spec</a>`},
		{"inline HTML as text", "a <b>bold</b> claim", "<p>a &lt;b&gt;bold&lt;/b&gt; claim</p>"},
		{"an HTML block as text", "<script>\nalert(1)\n</script>", "&lt;script&gt;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := markdown(tc.text)
			if err != nil || !strings.Contains(string(got), tc.want) {
				t.Errorf("markdown(%q) = %q, %v; want it to contain %q", tc.text, got, err, tc.want)
			}
		})
	}
}

var (
	linkAttr = regexp.MustCompile(`(?i)\s(href|src|srcset|action|formaction|poster|data|background|cite|manifest)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
	tag      = regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	inline   = regexp.MustCompile(`(?i)\s(on[a-z]+|style)\s*=`)
)

func TestThePageReferencesNoExternalResources(t *testing.T) {
	t.Parallel()
	for name, page := range map[string]string{"spec": referencePage(t), "small spec": hostilePage(t)} {
		lower := strings.ToLower(page)
		for _, bad := range []string{"<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url("} {
			if strings.Contains(lower, bad) {
				t.Errorf("%s: page contains %q", name, bad)
			}
		}
		// Escaped text has no '<', so every tag found is markup.
		for _, m := range linkAttr.FindAllStringSubmatch(strings.Join(tag.FindAllString(page, -1), ""), -1) {
			if m[1] != "href" {
				t.Errorf("%s: page loads %s", name, m[0])
				continue
			}
			url := strings.Trim(m[2], `"'`)
			if !strings.HasPrefix(url, "#") && (!strings.HasPrefix(url, "/") || strings.HasPrefix(url, "//")) {
				t.Errorf("%s: link %q leaves the site", name, url)
			}
		}
	}
}

func TestThePageHasNoInlineScriptsOrStyleAttributes(t *testing.T) {
	t.Parallel()
	for name, page := range map[string]string{"spec": referencePage(t), "small spec": hostilePage(t)} {
		for _, tg := range tag.FindAllString(page, -1) {
			if inline.MatchString(tg) {
				t.Errorf("%s: tag %s needs a laxer Content-Security-Policy", name, tg)
			}
		}
		if strings.Contains(strings.ToLower(page), "javascript:") {
			t.Errorf("%s: page has a javascript: URL", name)
		}
	}
}

var anchorLink = regexp.MustCompile(`href="#([^"]*)"`)

func TestEveryLinkWithinThePageLeadsToAnElement(t *testing.T) {
	t.Parallel()
	page := referencePage(t)
	for _, m := range anchorLink.FindAllStringSubmatch(page, -1) {
		if !strings.Contains(page, ` id="`+m[1]+`"`) {
			t.Errorf("link to #%s leads nowhere", m[1])
		}
	}
}

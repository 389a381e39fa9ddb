package httpx

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Text from clients is checked here, once, before any handler sees it: the
// stores refuse what is not valid UTF-8 or holds a NUL (PostgreSQL text and
// jsonb both do), so a request carrying either must be refused as the
// caller's fault before it has any effect, not fail as ours half-way.
const (
	// MaxText is the longest string, in characters, a body field may be
	// unless its field says otherwise with a `text` tag.
	MaxText = 1024
	// MaxPathValue is the longest path segment a route's {wildcard} takes:
	// every id we issue is far shorter.
	MaxPathValue = 200
	// MaxQueryValue is the longest query value (or key) taken. It only
	// bounds the work; each parameter's own, tighter rules (a cursor's, a
	// search's) answer with their own codes below it.
	MaxQueryValue = 4096
	// maxTextProblems bounds the reasons one answer lists.
	maxTextProblems = 10
)

// textRule is what a string field accepts. A struct field widens the
// default with a tag such as `text:"max=5000,multiline"`; the rule applies
// to every string inside the field (elements, map keys and values).
type textRule struct {
	max       int
	multiline bool // newlines and tabs allowed
}

var defaultText = textRule{max: MaxText}

// checkText says what is wrong with s under rule, or "" if nothing is.
func checkText(s string, rule textRule) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if n := utf8.RuneCountInString(s); n > rule.max {
		return fmt.Sprintf("must be at most %d characters", rule.max)
	}
	for _, c := range s {
		switch {
		case c == 0:
			return "must not contain NUL characters"
		case rule.multiline && (c == '\n' || c == '\r' || c == '\t'):
		case unicode.IsControl(c):
			return "must not contain control characters"
		}
	}
	return ""
}

// parseTextTag reads a `text:"max=N,multiline"` tag over the default.
func parseTextTag(tag string, rule textRule) textRule {
	for _, part := range strings.Split(tag, ",") {
		switch {
		case part == "multiline":
			rule.multiline = true
		case strings.HasPrefix(part, "max="):
			if n, err := strconv.Atoi(strings.TrimPrefix(part, "max=")); err == nil && n > 0 {
				rule.max = n
			}
		}
	}
	return rule
}

// textChecker walks a decoded value and collects a reason per bad field.
type textChecker struct {
	fields map[string]string
}

// checkDecoded checks every string inside v (a pointer to a decoded
// request) and returns a validation error naming the bad fields.
func checkDecoded(v any) error {
	tc := textChecker{fields: map[string]string{}}
	tc.walk(reflect.ValueOf(v), "", defaultText)
	if len(tc.fields) > 0 {
		return errs.Validation(tc.fields)
	}
	return nil
}

var rawMessageType = reflect.TypeOf(json.RawMessage(nil))

// optionalValue lets the walk see through Optional[T] to its value.
type optionalValue interface{ optionalValue() any }

func (tc *textChecker) walk(v reflect.Value, path string, rule textRule) {
	if len(tc.fields) >= maxTextProblems || !v.IsValid() {
		return
	}
	if v.CanInterface() {
		if o, ok := v.Interface().(optionalValue); ok {
			tc.walk(reflect.ValueOf(o.optionalValue()), path, rule)
			return
		}
	}
	switch v.Kind() {
	case reflect.String:
		tc.check(v.String(), path, rule)
	case reflect.Pointer, reflect.Interface:
		tc.walk(v.Elem(), path, rule)
	case reflect.Struct:
		tc.walkStruct(v, path, rule)
	case reflect.Slice, reflect.Array:
		tc.walkList(v, path, rule)
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			if k.Kind() == reflect.String {
				tc.check(k.String(), join(path, "(key)"), rule)
			}
			tc.walk(iter.Value(), join(path, fmt.Sprint(k.Interface())), rule)
		}
	}
}

func (tc *textChecker) walkStruct(v reflect.Value, path string, rule textRule) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fieldPath := join(path, name)
		if f.Anonymous && f.Tag.Get("json") == "" {
			fieldPath = path
		}
		tc.walk(v.Field(i), fieldPath, parseTextTag(f.Tag.Get("text"), rule))
	}
}

func (tc *textChecker) walkList(v reflect.Value, path string, rule textRule) {
	if v.Type() == rawMessageType {
		// Free-form JSON kept as it came: its strings reach the store too,
		// and so do its escapes.
		if unpairedSurrogate(v.Bytes()) {
			tc.fields[orBody(path)] = "must not contain half of a UTF-16 surrogate pair"
			return
		}
		var doc any
		if v.Len() > 0 && json.Unmarshal(v.Bytes(), &doc) == nil {
			tc.walk(reflect.ValueOf(doc), path, rule)
		}
		return
	}
	if v.Type().Elem().Kind() == reflect.Uint8 {
		return // bytes, not text
	}
	for i := 0; i < v.Len(); i++ {
		tc.walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), rule)
	}
}

func (tc *textChecker) check(s, path string, rule textRule) {
	if reason := checkText(s, rule); reason != "" {
		tc.fields[orBody(path)] = reason
	}
}

// orBody names the body itself where a reason has no field to name.
func orBody(path string) string {
	if path == "" {
		return "(body)"
	}
	return path
}

// unpairedSurrogate reports whether raw, valid JSON holds a \u escape of
// half a UTF-16 surrogate pair without the other half. Go's decoder reads
// one as U+FFFD, so the decoded strings look fine, but free-form JSON is
// stored as it came and PostgreSQL's jsonb refuses the escape (SQLSTATE
// 22P02): a 500 where the client's input is at fault. A backslash occurs
// only inside strings in valid JSON, so no string state is needed.
func unpairedSurrogate(raw []byte) bool {
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character: a second backslash is skipped with it
		if raw[i] != 'u' {
			continue
		}
		switch r := hexRune(raw[i+1:]); {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true // a low half first
		case r >= 0xD800 && r <= 0xDBFF:
			next := raw[i+5:]
			if len(next) < 6 || next[0] != '\\' || next[1] != 'u' {
				return true
			}
			if low := hexRune(next[2:]); low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 10
		default:
			i += 4
		}
	}
	return false
}

// hexRune reads the four hex digits of a \u escape, or -1.
func hexRune(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	if err != nil {
		return -1
	}
	return rune(n)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// wildcards finds the names of a route pattern's {wildcards}; a final
// {name...} takes the rest of the path and so may be longer.
var wildcards = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// checkRequestText answers 400 and returns false when a path value named
// in names or a query value is not text we accept. The router runs it
// before the handler, so no handler acts on such input.
func checkRequestText(names [][]string, w http.ResponseWriter, r *http.Request) bool {
	fields := map[string]string{}
	for _, m := range names {
		rule := textRule{max: MaxPathValue}
		if m[2] != "" {
			rule.max = MaxText
		}
		if reason := checkText(r.PathValue(m[1]), rule); reason != "" {
			fields[m[1]] = reason
		}
	}
	if len(fields) > 0 {
		WriteProblem(w, r, http.StatusBadRequest, &errs.Error{Kind: errs.Invalid, Code: "invalid_path",
			Message: "a path segment is not acceptable text", Fields: fields})
		return false
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		WriteProblem(w, r, http.StatusBadRequest, errs.New(errs.Invalid, "invalid_query", "the query string is malformed"))
		return false
	}
	queryText := textRule{max: MaxQueryValue}
	for k, vs := range query {
		if reason := checkText(k, queryText); reason != "" {
			fields["(query key)"] = reason
		}
		for _, v := range vs {
			if reason := checkText(v, queryText); reason != "" {
				fields[k] = reason
			}
		}
	}
	if len(fields) > 0 {
		WriteProblem(w, r, http.StatusBadRequest, &errs.Error{Kind: errs.Invalid, Code: "invalid_query",
			Message: "a query value is not acceptable text", Fields: fields})
		return false
	}
	return true
}

// textChecked wraps h so that it runs only with acceptable path and query
// text.
func textChecked(h http.Handler, pattern string) http.Handler {
	names := wildcards.FindAllStringSubmatch(pattern, -1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if checkRequestText(names, w, r) {
			h.ServeHTTP(w, r)
		}
	})
}

package products

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// validDraft returns a draft that passes, changed by change.
func validDraft(change func(*Draft)) Draft {
	d := Draft{Title: "Desk Lamp", Description: "A lamp.", Category: "lamps", Price: Money{Amount: 1999, Currency: "EUR"},
		Images: []string{"https://img.example.com/a.jpg"}, Attributes: map[string]any{"colour": "red", "watts": 40.0, "dimmable": true}}
	if change != nil {
		change(&d)
	}
	return d
}

func attrs(n, valueLen int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("a%d", i)] = strings.Repeat("v", valueLen)
	}
	return m
}

// fieldsOf returns the fields a validation error names, or nil for nil.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	e, ok := errs.As(err)
	if !ok || e.Code != "validation_failed" {
		t.Fatalf("error %v is not a validation error", err)
	}
	return slices.Sorted(maps.Keys(e.Fields))
}

func TestDraftValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Draft)
		fields []string // nil: valid
	}{
		{"a complete draft is valid", nil, nil},
		{"status defaults to draft", func(d *Draft) { d.Status = "" }, nil},
		{"an active product is valid", func(d *Draft) { d.Status = StatusActive }, nil},
		{"a free product is valid", func(d *Draft) { d.Price.Amount = 0 }, nil},
		{"the maximum price is valid", func(d *Draft) { d.Price.Amount = MaxPrice }, nil},
		{"200 characters of title are valid", func(d *Draft) { d.Title = strings.Repeat("ü", MaxTitleLen) }, nil},
		{"5000 characters of description are valid", func(d *Draft) { d.Description = strings.Repeat("d", MaxDescriptionLen) }, nil},
		{"a description may hold lines and tabs", func(d *Draft) { d.Description = "one\n\ttwo" }, nil},
		{"no images or attributes are valid", func(d *Draft) { d.Images, d.Attributes = nil, nil }, nil},
		{"ten images are valid", func(d *Draft) { d.Images = slices.Repeat([]string{"http://img.example.com/a.jpg"}, MaxImages) }, nil},
		{"30 attributes are valid", func(d *Draft) { d.Attributes = attrs(MaxAttributes, 10) }, nil},
		{"a 200-character attribute string is valid", func(d *Draft) { d.Attributes = map[string]any{"isbn": strings.Repeat("9", MaxAttrValueLen)} }, nil},
		{"a 40-character attribute name is valid", func(d *Draft) { d.Attributes = map[string]any{"a" + strings.Repeat("b", 39): 1.0} }, nil},

		{"a blank title", func(d *Draft) { d.Title = " \t " }, []string{"title"}},
		{"201 characters of title", func(d *Draft) { d.Title = strings.Repeat("ü", MaxTitleLen+1) }, []string{"title"}},
		{"a control character in the title", func(d *Draft) { d.Title = "Lamp\u0007" }, []string{"title"}},
		{"a line break in the title", func(d *Draft) { d.Title = "Lamp\r\nLamp" }, []string{"title"}},
		{"invalid UTF-8 in the title", func(d *Draft) { d.Title = "Lamp\xff" }, []string{"title"}},
		{"5001 characters of description", func(d *Draft) { d.Description = strings.Repeat("d", MaxDescriptionLen+1) }, []string{"description"}},
		{"no category", func(d *Draft) { d.Category = "" }, []string{"category"}},
		{"a category with spaces", func(d *Draft) { d.Category = "desk lamps" }, []string{"category"}},
		{"a negative price", func(d *Draft) { d.Price.Amount = -1 }, []string{"price.amount"}},
		{"a price above the maximum", func(d *Draft) { d.Price.Amount = MaxPrice + 1 }, []string{"price.amount"}},
		{"no currency", func(d *Draft) { d.Price.Currency = "" }, []string{"price.currency"}},
		{"a lower-case currency", func(d *Draft) { d.Price.Currency = "eur" }, []string{"price.currency"}},
		{"a two-letter currency", func(d *Draft) { d.Price.Currency = "EU" }, []string{"price.currency"}},
		{"eleven images", func(d *Draft) { d.Images = slices.Repeat([]string{"https://img.example.com/a.jpg"}, MaxImages+1) }, []string{"images"}},
		{"an image without a scheme", func(d *Draft) { d.Images = []string{"img.example.com/a.jpg"} }, []string{"images[0]"}},
		{"a data URL", func(d *Draft) { d.Images = []string{"data:image/png;base64,AAAA"} }, []string{"images[0]"}},
		{"an image URL with a password", func(d *Draft) { d.Images = []string{"https://a:b@img.example.com/x.jpg"} }, []string{"images[0]"}},
		{"an image URL too long", func(d *Draft) { d.Images = []string{"https://img.example.com/" + strings.Repeat("a", MaxImageURLLen)} }, []string{"images[0]"}},
		{"31 attributes", func(d *Draft) { d.Attributes = attrs(MaxAttributes+1, 1) }, []string{"attributes"}},
		{"attributes over 4 KiB", func(d *Draft) { d.Attributes = attrs(25, 180) }, []string{"attributes"}},
		{"an empty attribute string", func(d *Draft) { d.Attributes = map[string]any{"size": ""} }, []string{"attributes.size"}},
		{"a 201-character attribute string", func(d *Draft) { d.Attributes = map[string]any{"size": strings.Repeat("s", MaxAttrValueLen+1)} }, []string{"attributes.size"}},
		{"an object attribute", func(d *Draft) { d.Attributes = map[string]any{"size": map[string]any{"w": 1.0}} }, []string{"attributes.size"}},
		{"a list attribute", func(d *Draft) { d.Attributes = map[string]any{"size": []any{1.0}} }, []string{"attributes.size"}},
		{"a null attribute", func(d *Draft) { d.Attributes = map[string]any{"size": nil} }, []string{"attributes.size"}},
		{"an attribute name with a capital", func(d *Draft) { d.Attributes = map[string]any{"Size": "M"} }, []string{"attributes.Size"}},
		{"an attribute name with a dollar", func(d *Draft) { d.Attributes = map[string]any{"$gt": "M"} }, []string{"attributes.$gt"}},
		{"an attribute name with a dot", func(d *Draft) { d.Attributes = map[string]any{"a.b": "M"} }, []string{"attributes.a.b"}},
		{"a 41-character attribute name", func(d *Draft) { d.Attributes = map[string]any{"a" + strings.Repeat("b", 40): 1.0} }, []string{"attributes.a" + strings.Repeat("b", 40)}},
		{"the archived status", func(d *Draft) { d.Status = StatusArchived }, []string{"status"}},
		{"an unknown status", func(d *Draft) { d.Status = "sold" }, []string{"status"}},
		{"every problem at once is reported", func(d *Draft) {
			*d = Draft{Title: "", Category: "X", Price: Money{Amount: -5}, Images: []string{"x"}, Attributes: map[string]any{"A": 1.0}, Status: "gone"}
		}, []string{"attributes.A", "category", "images[0]", "price.amount", "price.currency", "status", "title"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDraft(tt.change)
			got := fieldsOf(t, d.validate())
			if !slices.Equal(got, tt.fields) {
				t.Errorf("invalid fields %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestDraftValidationNormalises(t *testing.T) {
	d := validDraft(func(d *Draft) {
		d.Title, d.Status = "  Desk Lamp \n", ""
		d.Attributes = map[string]any{"watts": json.Number("40")}
	})
	if err := d.validate(); err != nil {
		t.Fatal(err)
	}
	if d.Title != "Desk Lamp" || d.Status != StatusDraft || d.Attributes["watts"] != 40.0 {
		t.Errorf("normalised to title %q status %q watts %#v", d.Title, d.Status, d.Attributes["watts"])
	}
}

func TestPatchValidation(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name   string
		patch  Patch
		fields []string
	}{
		{"an empty patch is valid", Patch{}, nil},
		{"a new title is valid", Patch{Title: str("New")}, nil},
		{"an empty description is valid", Patch{Description: str("")}, nil},
		{"status active is valid", Patch{Status: str(StatusActive)}, nil},
		{"status draft is valid", Patch{Status: str(StatusDraft)}, nil},
		{"empty images and attributes are valid", Patch{Images: &[]string{}, Attributes: &map[string]any{}}, nil},
		{"a blank title", Patch{Title: str(" ")}, []string{"title"}},
		{"status archived is for the archive action", Patch{Status: str(StatusArchived)}, []string{"status"}},
		{"an unknown status", Patch{Status: str("deleted")}, []string{"status"}},
		{"a bad category", Patch{Category: str("No Such")}, []string{"category"}},
		{"a negative price", Patch{Price: &Money{Amount: -1, Currency: "EUR"}}, []string{"price.amount"}},
		{"a price without currency", Patch{Price: &Money{Amount: 1}}, []string{"price.currency"}},
		{"a bad image", Patch{Images: &[]string{"ftp://x/y"}}, []string{"images[0]"}},
		{"a nested attribute", Patch{Attributes: &map[string]any{"a": map[string]any{}}}, []string{"attributes.a"}},
		{"too many attributes", Patch{Attributes: new(attrs(MaxAttributes+1, 1))}, []string{"attributes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fieldsOf(t, tt.patch.validate()); !slices.Equal(got, tt.fields) {
				t.Errorf("invalid fields %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestCategoryValidation(t *testing.T) {
	tests := []struct {
		name   string
		cat    Category
		fields []string
	}{
		{"a root category is valid", Category{ID: "books", Name: "Books", Facets: []string{"format"}}, nil},
		{"a child category is valid", Category{ID: "sci-fi", Name: "Science fiction", Parent: "books"}, nil},
		{"an id with capitals", Category{ID: "Books", Name: "Books"}, []string{"id"}},
		{"an id starting with a dash", Category{ID: "-books", Name: "Books"}, []string{"id"}},
		{"an id of 64 characters", Category{ID: strings.Repeat("b", 64), Name: "Books"}, []string{"id"}},
		{"no name", Category{ID: "books"}, []string{"name"}},
		{"a parent that is not an id", Category{ID: "books", Name: "Books", Parent: "All Things"}, []string{"parent"}},
		{"a facet that is not an attribute name", Category{ID: "books", Name: "Books", Facets: []string{"format", "Bad Name"}}, []string{"facets[1]"}},
		{"31 facets", Category{ID: "books", Name: "Books", Facets: slices.Repeat([]string{"f"}, MaxAttributes+1)}, []string{"facets"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fieldsOf(t, tt.cat.validate()); !slices.Equal(got, tt.fields) {
				t.Errorf("invalid fields %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestCategoryParentsMustExistAndFormATree(t *testing.T) {
	tree := []Category{{ID: "a"}, {ID: "b", Parent: "a"}, {ID: "c", Parent: "b"}}
	tests := []struct {
		name string
		cat  Category
		code string
	}{
		{"a new root", Category{ID: "d"}, ""},
		{"a new leaf", Category{ID: "d", Parent: "c"}, ""},
		{"moving a subtree elsewhere", Category{ID: "b"}, ""},
		{"an unknown parent", Category{ID: "d", Parent: "zzz"}, "validation_failed"},
		{"its own parent", Category{ID: "a", Parent: "a"}, "category_cycle"},
		{"below its own descendant", Category{ID: "a", Parent: "c"}, "category_cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkParent(tree, tt.cat)
			if tt.code == "" && err != nil || tt.code != "" && !errs.Is(err, tt.code) {
				t.Errorf("checkParent(%+v) = %v, want %q", tt.cat, err, tt.code)
			}
		})
	}
}

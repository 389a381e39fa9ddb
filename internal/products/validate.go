package products

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/weblink"
)

// Limits on what a product may hold.
const (
	MaxTitleLen       = 200
	MaxDescriptionLen = 5000
	MaxImages         = 10
	MaxImageURLLen    = 2048
	MaxAttributes     = 30
	MaxAttrValueLen   = 200
	MaxAttributeBytes = 4096
	MaxPrice          = 1_000_000_000_00 // one billion in major units
)

var (
	attrNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	categoryPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

func validAttrName(s string) bool { return attrNamePattern.MatchString(s) }

// checker collects per-field problems.
type checker map[string]string

func (c checker) text(field, s string, min, max int) string {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		c[field] = "must be valid UTF-8"
	case n < min:
		c[field] = "is required"
	case n > max:
		c[field] = fmt.Sprintf("must be at most %d characters", max)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		c[field] = "must not contain control characters"
	}
	return s
}

func (c checker) price(m Money) {
	if m.Amount < 0 {
		c["price.amount"] = "must not be negative"
	} else if m.Amount > MaxPrice {
		c["price.amount"] = "is too large"
	}
	if !currencyPattern.MatchString(m.Currency) {
		c["price.currency"] = "must be an ISO 4217 code such as EUR"
	}
}

func (c checker) images(list []string) {
	if len(list) > MaxImages {
		c["images"] = fmt.Sprintf("at most %d images", MaxImages)
		return
	}
	for i, s := range list {
		if len(s) > MaxImageURLLen || !weblink.Valid(s) {
			c[fmt.Sprintf("images[%d]", i)] = "must be an absolute http(s) URL without credentials"
		}
	}
}

// attributes checks names and values and normalises numbers to float64.
func (c checker) attributes(attrs map[string]any) {
	if len(attrs) > MaxAttributes {
		c["attributes"] = fmt.Sprintf("at most %d attributes", MaxAttributes)
		return
	}
	if b, _ := json.Marshal(attrs); len(b) > MaxAttributeBytes {
		c["attributes"] = fmt.Sprintf("at most %d bytes of JSON", MaxAttributeBytes)
		return
	}
	for name, v := range attrs {
		field := "attributes." + name
		if !validAttrName(name) {
			c[field] = "names are lower-case letters, digits and _ (at most 40), starting with a letter"
			continue
		}
		switch x := v.(type) {
		case string:
			if utf8.RuneCountInString(x) > MaxAttrValueLen || x == "" {
				c[field] = fmt.Sprintf("strings must have 1 to %d characters", MaxAttrValueLen)
			}
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				c[field] = "must be a finite number"
			}
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				c[field] = "must be a finite number"
			}
			attrs[name] = f
		case bool:
		default:
			c[field] = "must be a string, number or boolean"
		}
	}
}

func (c checker) err() error {
	if len(c) == 0 {
		return nil
	}
	return errs.Validation(c)
}

func (d *Draft) validate() error {
	c := checker{}
	d.Title = c.text("title", d.Title, 1, MaxTitleLen)
	d.Description = c.text("description", d.Description, 0, MaxDescriptionLen)
	if !categoryPattern.MatchString(d.Category) {
		c["category"] = "must be a category id"
	}
	c.price(d.Price)
	c.images(d.Images)
	c.attributes(d.Attributes)
	if d.Status == "" {
		d.Status = StatusDraft
	}
	if !slices.Contains([]string{StatusDraft, StatusActive}, d.Status) {
		c["status"] = "must be draft or active"
	}
	return c.err()
}

func (p *Patch) validate() error {
	c := checker{}
	if p.Title != nil {
		*p.Title = c.text("title", *p.Title, 1, MaxTitleLen)
	}
	if p.Description != nil {
		*p.Description = c.text("description", *p.Description, 0, MaxDescriptionLen)
	}
	if p.Category != nil && !categoryPattern.MatchString(*p.Category) {
		c["category"] = "must be a category id"
	}
	if p.Price != nil {
		c.price(*p.Price)
	}
	if p.Images != nil {
		c.images(*p.Images)
	}
	if p.Attributes != nil {
		c.attributes(*p.Attributes)
	}
	if p.Status != nil && !slices.Contains([]string{StatusDraft, StatusActive}, *p.Status) {
		c["status"] = "must be draft or active; archive with the archive action"
	}
	return c.err()
}

func (cat *Category) validate() error {
	c := checker{}
	if !categoryPattern.MatchString(cat.ID) {
		c["id"] = "must be a slug: lower-case letters, digits and -"
	}
	cat.Name = c.text("name", cat.Name, 1, 100)
	if cat.Parent != "" && !categoryPattern.MatchString(cat.Parent) {
		c["parent"] = "must be a category id"
	}
	if len(cat.Facets) > MaxAttributes {
		c["facets"] = fmt.Sprintf("at most %d", MaxAttributes)
	}
	for i, f := range cat.Facets {
		if !validAttrName(f) {
			c[fmt.Sprintf("facets[%d]", i)] = "must be an attribute name"
		}
	}
	return c.err()
}

package orders

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/language"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

var errAdminOnly = errs.New(errs.Forbidden, "admin_only", "listing everyone's orders needs the admin role")

func fieldError(field, reason string) error {
	return errs.Validation(map[string]string{field: reason})
}

// checkID accepts the canonical form of a UUID only, so that one id has
// one spelling in the database.
func checkID(field, id string) error {
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return fieldError(field, "must be a UUID in lower-case canonical form")
	}
	return nil
}

// CheckOrderID answers as a lookup of orderID would when orderID cannot
// name an order, so that a handler can refuse it before any side effect.
func CheckOrderID(orderID string) error {
	if checkID("id", orderID) != nil {
		return errOrderNotFound
	}
	return nil
}

func checkQuantity(field string, q int) error {
	if q < 1 || q > maxQuantity {
		return fieldError(field, fmt.Sprintf("must be between 1 and %d", maxQuantity))
	}
	return nil
}

// checkItems rejects an order that is empty, too long, names a product
// twice or asks for a silly quantity.
func checkItems(items []Item) error {
	if len(items) == 0 {
		return errEmptyCart
	}
	if len(items) > maxLines {
		return fieldError("items", fmt.Sprintf("at most %d lines", maxLines))
	}
	seen := make(map[string]bool, len(items))
	fields := map[string]string{}
	for i, it := range items {
		name := fmt.Sprintf("items[%d]", i)
		if err := checkID(name+".product_id", it.ProductID); err != nil {
			fields[name+".product_id"] = "must be a UUID in lower-case canonical form"
		} else if seen[it.ProductID] {
			fields[name+".product_id"] = "appears twice; put the whole quantity on one line"
		}
		seen[it.ProductID] = true
		if checkQuantity(name, it.Quantity) != nil {
			fields[name+".quantity"] = fmt.Sprintf("must be between 1 and %d", maxQuantity)
		}
	}
	if len(fields) > 0 {
		return errs.Validation(fields)
	}
	return nil
}

// checkText accepts a non-empty string of at most max characters, none
// of them control characters (which could forge lines in logs and mails).
func checkText(field, s string, max int) error {
	if s == "" || utf8.RuneCountInString(s) > max || !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fieldError(field, fmt.Sprintf("must be 1 to %d characters, none of them control characters", max))
	}
	return nil
}

// maxAddressField is the longest text an address field may hold, as the
// users service allows in a profile's address.
const maxAddressField = 200

// shippingAddress checks an order's address, required since ADR 0041, and
// returns it cleaned: trimmed on a copy, so the caller's stays as sent.
func shippingAddress(a *Address) (*Address, error) {
	if a == nil {
		return nil, fieldError("shipping_address", "is required: where the order is to be delivered")
	}
	clean := *a
	if err := cleanAddress(&clean); err != nil {
		return nil, err
	}
	return &clean, nil
}

// cleanAddress trims a's fields in place and reports every field that is
// missing, too long, holds control characters, or (the country) is not an
// assigned ISO 3166-1 alpha-2 code, named as shipping_address.<field>.
func cleanAddress(a *Address) error {
	fields := map[string]string{}
	check := func(name string, v *string, required bool) {
		*v = strings.TrimSpace(*v)
		if *v == "" && !required {
			return
		}
		if checkText(name, *v, maxAddressField) != nil {
			fields["shipping_address."+name] = fmt.Sprintf("must be 1 to %d characters, none of them control characters", maxAddressField)
		}
	}
	check("name", &a.Name, true)
	check("line1", &a.Line1, true)
	check("line2", &a.Line2, false)
	check("city", &a.City, true)
	check("region", &a.Region, false)
	check("postal_code", &a.PostalCode, true)
	if !isCountry(a.Country) {
		fields["shipping_address.country"] = "must be an ISO 3166-1 alpha-2 country code in upper case, such as DE"
	}
	if len(fields) > 0 {
		return errs.Validation(fields)
	}
	return nil
}

// isCountry accepts the upper-case alpha-2 code of a country or territory
// ISO 3166-1 assigns: not a reserved or private-use code (ZZ, QO, XA), not
// a grouping (EU), not a code withdrawn and replaced (DD, UK). Codes
// CLDR still counts as countries (XK for Kosovo, and a few withdrawn ones
// it has no single successor for, such as YU) pass: refusing a real
// address would be worse than accepting an old one.
func isCountry(code string) bool {
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return false
	}
	r, err := language.ParseRegion(code)
	return err == nil && r.Canonicalize().String() == code && r.IsCountry()
}

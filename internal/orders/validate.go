package orders

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

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

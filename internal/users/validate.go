package users

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Limits on what users may store.
const (
	MinPasswordLen  = 12
	MaxPasswordLen  = 256 // argon2 hashes any length; this bounds the work a request can ask for
	MaxEmailLen     = 254
	MaxNameLen      = 100
	MaxPreferences  = 4 << 10
	maxAddressField = 200
)

// NormalizeEmail trims and lower-cases an address and checks that it is a
// bare addr-spec. Emails are unique regardless of letter case.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", errors.New("is required")
	}
	if len(s) > MaxEmailLen {
		return "", errors.New("is too long")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "", errors.New("is not a valid email address")
	}
	return s, nil
}

// CheckPassword applies the password policy: long enough, not absurdly long,
// not a well-known password and not the email itself.
func CheckPassword(pw, email string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return errors.New("must be at least 12 characters")
	case len(pw) > MaxPasswordLen:
		return errors.New("must be at most 256 bytes")
	case commonPasswords[strings.ToLower(pw)]:
		return errors.New("is too common; choose another")
	case email != "" && strings.EqualFold(pw, email):
		return errors.New("must not be your email")
	}
	return nil
}

func cleanDisplayName(s string) (string, error) { return cleanText(s, MaxNameLen) }
func cleanShopName(s string) (string, error)    { return cleanText(s, MaxNameLen) }

// cleanText trims s and requires 1..max printable characters.
func cleanText(s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("is required")
	case !utf8.ValidString(s):
		return "", errors.New("must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		return "", errors.New("is too long")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", errors.New("must not contain control characters")
	}
	return s, nil
}

var (
	phonePattern   = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`) // E.164
	countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)
)

func (p *ProfileUpdate) validate() error {
	fields := map[string]string{}
	if p.DisplayName != nil {
		name, err := cleanDisplayName(*p.DisplayName)
		if err != nil {
			fields["display_name"] = err.Error()
		}
		p.DisplayName = &name
	}
	if p.Phone != nil && !phonePattern.MatchString(*p.Phone) {
		fields["phone"] = "must be in E.164 form, such as +14155550123"
	}
	if p.Address != nil {
		p.Address.validate(fields)
	}
	if p.Preferences != nil {
		validatePreferences(p.Preferences, fields)
	}
	if len(fields) > 0 {
		return errs.Validation(fields)
	}
	return nil
}

func (a *Address) validate(fields map[string]string) {
	for name, v := range map[string]*string{"name": &a.Name, "line1": &a.Line1, "city": &a.City, "postal_code": &a.PostalCode} {
		clean, err := cleanText(*v, maxAddressField)
		if err != nil {
			fields["shipping_address."+name] = err.Error()
		}
		*v = clean
	}
	for name, v := range map[string]*string{"line2": &a.Line2, "region": &a.Region} {
		if *v = strings.TrimSpace(*v); *v == "" {
			continue
		}
		if _, err := cleanText(*v, maxAddressField); err != nil {
			fields["shipping_address."+name] = err.Error()
		}
	}
	if !countryPattern.MatchString(a.Country) {
		fields["shipping_address.country"] = "must be an ISO 3166-1 alpha-2 code such as DE"
	}
}

func validatePreferences(raw json.RawMessage, fields map[string]string) {
	var obj map[string]any
	switch {
	case len(raw) > MaxPreferences:
		fields["preferences"] = "must be at most 4096 bytes of JSON"
	case !json.Valid(raw):
		fields["preferences"] = "must be a JSON object"
	// Before the decoding below, which refuses numbers past float64 with
	// a message that would not say why.
	case !exponentsWithin(raw, maxExponent):
		fields["preferences"] = fmt.Sprintf("must hold no number with an exponent beyond ±%d", maxExponent)
	case json.Unmarshal(raw, &obj) != nil || obj == nil:
		fields["preferences"] = "must be a JSON object"
	}
}

// maxExponent bounds the exponent of a number in preferences. PostgreSQL
// keeps jsonb numbers as numeric, which holds at most 131072 digits before
// the decimal point and 16383 after, and refuses the whole document past
// either; Go reads 1e-20000 as 0 without complaint, so the request would
// fail in the store. Within MaxPreferences bytes, an exponent of at most
// 1000 either way keeps every number far inside both limits.
const maxExponent = 1000

// exponentsWithin reports whether every number in raw, which is valid
// JSON, has an exponent of at most max either way.
func exponentsWithin(raw json.RawMessage, max int) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // the number's text, exponent included, not a float64 it may have become 0 in
	for {
		tok, err := dec.Token()
		if err != nil {
			return errors.Is(err, io.EOF)
		}
		if n, ok := tok.(json.Number); ok && !exponentWithin(string(n), max) {
			return false
		}
	}
}

// exponentWithin reports whether the JSON number n has an exponent of at
// most max either way (none counts as 0).
func exponentWithin(n string, max int) bool {
	i := strings.IndexAny(n, "eE")
	if i < 0 {
		return true
	}
	// The digits are read as text first: an exponent of any length must
	// not overflow the integer it is parsed into.
	digits := strings.TrimLeft(strings.TrimLeft(n[i+1:], "+-"), "0")
	if digits == "" {
		return true
	}
	if len(digits) > len(strconv.Itoa(max)) {
		return false
	}
	e, err := strconv.Atoi(digits)
	return err == nil && e <= max
}

// commonPasswords is a short list of the passwords most often found in
// breaches that are long enough to pass the length rule.
var commonPasswords = wordSet(`
		123456789012 1234567890123 12345678901234 123456789123 password1234
		password12345 password123456 passwordpassword qwertyuiop12 qwertyuiopasdf
		qwerty123456 qwertyqwerty 1q2w3e4r5t6y 1qaz2wsx3edc iloveyou1234
		abcdefghijkl abc123abc123 letmeinletmein welcome12345 administrator
		adminadmin123 changeme1234 trustno1trustno1 baseball1234 football1234
		superman1234 sunshine1234 princess1234 starwars1234 monkeymonkey
		dragondragon 111111111111 000000000000 aaaaaaaaaaaa 987654321098
		zxcvbnm12345 asdfghjkl123 passw0rd1234 p@ssw0rd1234 p@ssword1234
		correcthorsebatterystaple mypassword123 secretsecret opensesame12
		masterpassword`)

func wordSet(words string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(words) {
		set[w] = true
	}
	return set
}

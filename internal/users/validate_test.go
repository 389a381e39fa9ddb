package users_test

import (
	"strings"
	"testing"

	"github.com/marketplace-go/marketplace/internal/users"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"a plain address is kept", "ada@example.com", "ada@example.com", true},
		{"letters are lower-cased", "Ada.Lovelace@Example.COM", "ada.lovelace@example.com", true},
		{"surrounding space is trimmed", "  ada@example.com\t\n", "ada@example.com", true},
		{"plus tags and subdomains are kept", "ada+shop@mail.example.co.uk", "ada+shop@mail.example.co.uk", true},
		{"an empty string is refused", "", "", false},
		{"only space is refused", "   ", "", false},
		{"a missing @ is refused", "ada.example.com", "", false},
		{"a domain without a dot is refused", "ada@localhost", "", false},
		{"a display name is refused", "Ada <ada@example.com>", "", false},
		{"two addresses are refused", "ada@example.com, bob@example.com", "", false},
		{"an inner line break is refused", "ada@example.com\r\nBcc: eve@example.com", "", false},
		{"an inner space is refused", "ada lovelace@example.com", "", false},
		{"a double @ is refused", "ada@@example.com", "", false},
		{"an address over 254 bytes is refused", strings.Repeat("a", 243) + "@example.com", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := users.NormalizeEmail(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	const email = "ada.lovelace@example.com"
	tests := []struct {
		name, password string
		ok             bool
	}{
		{"a long uncommon password passes", "plum-kettle-orbit-42", true},
		{"exactly 12 characters pass", "abcdefghij1!", true},
		{"12 multi-byte characters pass", "ééééééééééé1", true},
		{"256 bytes pass", strings.Repeat("x", 256), true},
		{"an empty password fails", "", false},
		{"11 characters fail", "abcdefghij1", false},
		{"11 multi-byte characters fail although they are 22 bytes", "ééééééééééé", false},
		{"257 bytes fail", strings.Repeat("x", 257), false},
		{"a common password fails", "password1234", false},
		{"a common password in capitals fails", "PASSWORD1234", false},
		{"another common password fails", "qwertyuiop12", false},
		{"the email fails", email, false},
		{"the email in other letter case fails", "Ada.Lovelace@Example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := users.CheckPassword(tt.password, email); (err == nil) != tt.ok {
				t.Errorf("CheckPassword(%q) = %v, want ok %v", tt.password, err, tt.ok)
			}
		})
	}
	if err := users.CheckPassword("plum-kettle-orbit-42", ""); err != nil {
		t.Errorf("without an email to compare: %v", err)
	}
}

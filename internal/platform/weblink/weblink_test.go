package weblink_test

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/weblink"
)

func TestValidTakesOnlyFetchableHTTPLinks(t *testing.T) {
	tests := []struct {
		link string
		want bool
	}{
		{"https://img.example.com/a.jpg", true},
		{"http://img.example.com/a.jpg?size=2", true},
		{"", false},
		{"/a.jpg", false},
		{"img.example.com/a.jpg", false},
		{"https://", false},
		{"ftp://img.example.com/a.jpg", false},
		{"javascript:alert(1)", false},
		{"data:image/png;base64,AAAA", false},
		{"https://user:pw@img.example.com/a.jpg", false},
		{"https://user@img.example.com/a.jpg", false},
		{"https://img.example.com/a\x7f.jpg", false},
	}
	for _, tt := range tests {
		if got := weblink.Valid(tt.link); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.link, got, tt.want)
		}
	}
}

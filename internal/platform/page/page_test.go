package page_test

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

func TestLimitTakesOneToTheCapAndDefaultsWhenAbsent(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"", page.DefaultLimit, true},
		{"1", 1, true},
		{"37", 37, true},
		{strconv.Itoa(page.MaxLimit), page.MaxLimit, true},
		{"0", 0, false},
		{"-5", 0, false},
		{strconv.Itoa(page.MaxLimit + 1), 0, false},
		{"1.5", 0, false},
		{"ten", 0, false},
		{" 5", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := page.Limit(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("Limit(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if e, isErr := errs.As(err); !tt.ok && (!isErr || e.Code != "validation_failed" || e.Fields["limit"] == "") {
			t.Errorf("Limit(%q) = %d, %v; want validation_failed naming limit", tt.in, got, err)
		}
	}
}

type key struct {
	At int64  `json:"t"`
	ID string `json:"i"`
}

func TestACursorDecodesToTheKeyItWasMadeFrom(t *testing.T) {
	want := key{At: 1_700_000_000_000_000, ID: "0195-id"}
	c := page.Encode(want)
	if strings.ContainsAny(c, "+/=?&") {
		t.Errorf("cursor %q needs escaping in a query string", c)
	}
	var got key
	if err := page.Decode(c, &got); err != nil || got != want {
		t.Errorf("Decode(Encode(%+v)) = %+v, %v", want, got, err)
	}
}

func TestDecodeRefusesWhatEncodeNeverMakes(t *testing.T) {
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		cursor string
	}{
		{"not base64url", "!!not-a-cursor!!"},
		{"padded base64", base64.URLEncoding.EncodeToString([]byte(`{"t":1}`))},
		{"base64 that is not JSON", raw("not json")},
		{"a JSON array", raw("[1,2]")},
		{"a field of the wrong type", raw(`{"t":"soon"}`)},
		{"an unknown field", raw(`{"t":1,"x":2}`)},
		{"two values", raw(`{"t":1}{"t":2}`)},
		{"more than a kilobyte", raw(`{"i":"` + strings.Repeat("x", 1100) + `"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k key
			if err := page.Decode(tt.cursor, &k); !errs.Is(err, "invalid_cursor") {
				t.Errorf("Decode(%q) = %v, want invalid_cursor", tt.cursor, err)
			}
		})
	}
}

func TestOfKeepsAPageAndPointsPastItsLastItemOnlyWhenMoreFollow(t *testing.T) {
	const limit = 3
	keyOf := func(n int) any { return key{At: int64(n)} }
	tests := []struct {
		name     string
		read     []int // what the list read, with page.Fetch(limit)
		want     []int
		nextAt   int64
		wantNext bool
	}{
		{"an empty list is an empty page, not null", nil, []int{}, 0, false},
		{"a short list is the last page", []int{1, 2}, []int{1, 2}, 0, false},
		{"a list of exactly a page is the last page", []int{1, 2, 3}, []int{1, 2, 3}, 0, false},
		{"one more than a page continues after the last kept", []int{1, 2, 3, 4}, []int{1, 2, 3}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.read) > page.Fetch(limit) {
				t.Fatalf("the row reads %d items, more than Fetch(%d)", len(tt.read), limit)
			}
			p := page.Of(tt.read, limit, keyOf)
			if diff := cmp.Diff(tt.want, p.Items); diff != "" || p.Items == nil {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if (p.Next != "") != tt.wantNext {
				t.Fatalf("next cursor %q, want one: %v", p.Next, tt.wantNext)
			}
			var k key
			if tt.wantNext && (page.Decode(p.Next, &k) != nil || k.At != tt.nextAt) {
				t.Errorf("next cursor decodes to %+v, want the key of item %d", k, tt.nextAt)
			}
		})
	}
}

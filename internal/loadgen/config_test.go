package loadgen

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Weight
		wantErr string
	}{
		{"the default mix reads in order", DefaultMix,
			[]Weight{{Browse, 60}, {Search, 14}, {Cart, 21}, {Checkout, 5}}, ""},
		{"spaces around parts are allowed", " login=1 , browse=3", []Weight{{Login, 1}, {Browse, 3}}, ""},
		{"an unknown scenario is refused", "browse=1,shop=2", nil, `unknown scenario "shop"`},
		{"a part without a weight is refused", "browse", nil, "not scenario=weight"},
		{"a zero weight is refused", "browse=0", nil, "positive integer"},
		{"a fractional weight is refused", "browse=1.5", nil, "positive integer"},
		{"a scenario named twice is refused", "cart=1,cart=2", nil, "named twice"},
		{"mixed cannot be in a mix", "mixed=1", nil, "unknown scenario"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMix(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mix (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMixForOneScenarioIsThatScenarioAlone(t *testing.T) {
	got, err := MixFor(Checkout, "ignored")
	if err != nil || !cmp.Equal(got, []Weight{{Checkout, 1}}) {
		t.Errorf("MixFor(checkout) = %v, %v", got, err)
	}
	if _, err := MixFor("wishlist", DefaultMix); err == nil {
		t.Error("an unknown scenario was accepted")
	}
}

func TestOnlyAMixThatCartsOrBuysListsProductsOfItsOwn(t *testing.T) {
	tests := []struct {
		mix  string
		want int
	}{
		{"browse=1", 0},
		{"login=1", 0},
		{"browse=60,search=14,login=5", 0},
		{"search=1", 0},
		{"detail=1", 0},
		{"browse=1,buy=1", 7},
		{"cart=1", 7},
		{"checkout=1", 7},
		{"buy=1", 7},
		{DefaultMix, 7},
	}
	for _, tt := range tests {
		mix, err := ParseMix(tt.mix)
		if err != nil {
			t.Fatal(err)
		}
		if got := (Config{Mix: mix, Products: 7}).OwnProducts(); got != tt.want {
			t.Errorf("mix %s lists %d products of its own; want %d", tt.mix, got, tt.want)
		}
	}
}

func TestParseRamp(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		rates   []int
		wantErr bool
	}{
		{"steps go from start to max by step", "10:40:10", []int{10, 20, 30, 40}, false},
		{"a max between steps is not passed", "10:35:10", []int{10, 20, 30}, false},
		{"one step when start is max", "50:50:5", []int{50}, false},
		{"two parts are refused", "10:400", nil, true},
		{"a zero step is refused", "10:400:0", nil, true},
		{"a max below start is refused", "100:10:5", nil, true},
		{"words are refused", "a:b:c", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRamp(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.rates, r.Rates()); diff != "" {
				t.Errorf("rates (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoundRobinGivesEachScenarioItsExactShareInterleaved(t *testing.T) {
	mix, err := ParseMix(DefaultMix)
	if err != nil {
		t.Fatal(err)
	}
	rr := newRoundRobin(mix)
	got := map[string]int{}
	longest, run, prev := 0, 0, ""
	for range 100 {
		s := rr.next()
		got[s]++
		if s == prev {
			run++
		} else {
			run, prev = 1, s
		}
		longest = max(longest, run)
	}
	want := map[string]int{Browse: 60, Search: 14, Cart: 21, Checkout: 5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shares in 100 requests (-want +got):\n%s", diff)
	}
	if longest > 3 {
		t.Errorf("%d requests of one scenario in a row; the mix should interleave", longest)
	}
}

func TestTagsSurviveTheRoundTripThroughAURL(t *testing.T) {
	tg := tag{Scenario: Checkout, Op: opPlaceOrder, Flow: 42}
	got, ok := parseTag("http://gw:8080/v1/orders?x=1#" + tg.fragment())
	if !ok || got != tg {
		t.Errorf("parseTag = %+v, %v; want %+v", got, ok, tg)
	}
	if _, ok := parseTag("http://gw:8080/v1/orders"); ok {
		t.Error("a URL without a fragment gave a tag")
	}
}

func TestTitleWordsSplitAsTheCatalogSearchDoes(t *testing.T) {
	got := titleWords("Brass Desk-Lamp, 40W (No. 7) für Café")
	want := []string{"brass", "desk", "lamp", "40w", "für", "café"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("words (-want +got):\n%s", diff)
	}
}

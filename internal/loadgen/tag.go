package loadgen

import (
	"net/url"
	"strconv"
	"strings"
)

// tag names what a request was for: its scenario, its operation and, in
// multi-step scenarios, the flow (one shopper's journey) it belongs to.
//
// The tag travels in the URL's fragment: vegeta copies a target's URL into
// its result, and HTTP never sends the fragment, so the result can be told
// apart without the server's help (a connection error has no response).
type tag struct {
	Scenario, Op string
	Flow         uint64
}

func (t tag) fragment() string {
	return t.Scenario + "." + t.Op + "." + strconv.FormatUint(t.Flow, 10)
}

// parseTag reads the tag from a result's URL.
func parseTag(raw string) (tag, bool) {
	_, frag, ok := strings.Cut(raw, "#")
	if !ok {
		return tag{}, false
	}
	parts := strings.Split(frag, ".")
	if len(parts) != 3 {
		return tag{}, false
	}
	flow, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return tag{}, false
	}
	return tag{Scenario: parts[0], Op: parts[1], Flow: flow}, true
}

// withoutFragment is a result's URL as it was sent.
func withoutFragment(raw string) string {
	u, _, _ := strings.Cut(raw, "#")
	return u
}

// queryOf is the query of a result's URL.
func queryOf(raw string) url.Values {
	u, err := url.Parse(withoutFragment(raw))
	if err != nil {
		return url.Values{}
	}
	return u.Query()
}

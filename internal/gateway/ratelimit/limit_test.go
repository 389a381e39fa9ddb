package ratelimit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/gateway/ratelimit"
)

func TestParseLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    ratelimit.Limit
		wantErr string // a part of the message; "" for none
	}{
		{name: "a rate per minute has a burst of the same size", in: "100/1m", want: ratelimit.Limit{Rate: 100, Burst: 100, Period: time.Minute}},
		{name: "a bare unit means one of it", in: "10/s", want: ratelimit.Limit{Rate: 10, Burst: 10, Period: time.Second}},
		{name: "a burst may exceed the rate", in: "10/s burst 20", want: ratelimit.Limit{Rate: 10, Burst: 20, Period: time.Second}},
		{name: "a burst may be below the rate", in: "60/h burst 5", want: ratelimit.Limit{Rate: 60, Burst: 5, Period: time.Hour}},
		{name: "a period may be any whole number of seconds", in: "5/15m", want: ratelimit.Limit{Rate: 5, Burst: 5, Period: 15 * time.Minute}},
		{name: "case and extra spaces do not matter", in: "  10/S  BURST  20 ", want: ratelimit.Limit{Rate: 10, Burst: 20, Period: time.Second}},
		{name: "off is unlimited", in: "off", want: ratelimit.Limit{}},
		{name: "empty is unlimited", in: "", want: ratelimit.Limit{}},
		{name: "a rate alone is refused", in: "100", wantErr: `want "<rate>/<period>"`},
		{name: "a misspelt burst is refused", in: "10/s brust 20", wantErr: `want "<rate>/<period>"`},
		{name: "a burst without a number is refused", in: "10/s burst", wantErr: `want "<rate>/<period>"`},
		{name: "a zero rate is refused in favour of off", in: "0/s", wantErr: `rate "0": want a whole number above 0 (use "off"`},
		{name: "a negative rate is refused", in: "-1/s", wantErr: `rate "-1"`},
		{name: "a fractional rate is refused", in: "1.5/s", wantErr: `rate "1.5"`},
		{name: "a zero burst is refused", in: "10/s burst 0", wantErr: `burst "0"`},
		{name: "an unknown unit is refused", in: "10/fortnight", wantErr: `period "fortnight": want s, m, h or a duration`},
		{name: "a sub-second period is refused", in: "10/500ms", wantErr: `period "500ms": want a whole number of seconds`},
		{name: "a period of fractional seconds is refused", in: "10/1500ms", wantErr: `period "1500ms": want a whole number of seconds`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ratelimit.ParseLimit(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseLimit(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q does not quote the input %q", err, tt.in)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseLimit(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestLimitStringIsReadBackByParseLimit(t *testing.T) {
	t.Parallel()
	for _, l := range []ratelimit.Limit{
		{},
		{Rate: 100, Burst: 100, Period: time.Minute},
		{Rate: 10, Burst: 20, Period: time.Second},
		{Rate: 5, Burst: 5, Period: 15 * time.Minute},
	} {
		got, err := ratelimit.ParseLimit(l.String())
		if err != nil || got != l {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", l.String(), got, err, l)
		}
	}
}

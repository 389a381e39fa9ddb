package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEnvRecordsEveryVariableReadOnceWithItsDefaultKindAndBounds(t *testing.T) {
	t.Parallel()
	e := envOf(t, map[string]string{"PORT": "99", "NAME": "set"})
	e.Describe(Docs{"NAME": "a name", "PORT": "a port"})
	e.String("NAME", "anon")
	e.Int("PORT", 80, 1, 65535)
	e.Bool("ON", true)
	e.Duration("WAIT", 90*time.Minute)
	e.DurationOrZero("DELAY", 0)
	e.URL("DB_URL", "postgres://localhost/db", "postgres", "postgresql")
	e.Keys("KEYS", 32)
	e.String("NAME", "other default") // read again: recorded once, as first read
	e.ShowDefault("DB_URL", "the server's, with database db")
	want := []Var{
		{Name: "NAME", Default: "anon", Kind: "string", Doc: "a name"},
		{Name: "PORT", Default: "80", Kind: "integer", Bounds: "1 to 65535", Doc: "a port"},
		{Name: "ON", Default: "true", Kind: "boolean"},
		{Name: "WAIT", Default: "1h30m", Kind: "duration", Bounds: "> 0"},
		{Name: "DELAY", Default: "0s", Kind: "duration", Bounds: ">= 0"},
		{Name: "DB_URL", Default: "postgres://localhost/db", DefaultText: "the server's, with database db", Kind: "URL", Bounds: "postgres, postgresql"},
		{Name: "KEYS", Kind: "keys", Bounds: "id:base64 of 32 bytes, comma-separated"},
	}
	if diff := cmp.Diff(want, e.Vars()); diff != "" {
		t.Errorf("Vars() (-want +got):\n%s", diff)
	}
	wantNoErr(t, e)
}

func TestFormatDurationWritesDurationsAsPeopleDo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {500 * time.Millisecond, "500ms"}, {10 * time.Second, "10s"}, {15 * time.Minute, "15m"},
		{720 * time.Hour, "720h"}, {90 * time.Second, "1m30s"}, {time.Hour + time.Minute, "1h1m"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

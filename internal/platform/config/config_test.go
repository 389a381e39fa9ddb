package config

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// envOf returns an Env reading only vars, the way tests stand in for the
// process environment.
func envOf(t *testing.T, vars map[string]string) *Env {
	t.Helper()
	return FromLookup(func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
}

// wantErr checks that env recorded exactly one problem and that it names
// the variable.
func wantErr(t *testing.T, env *Env, name string) {
	t.Helper()
	err := env.Err()
	if err == nil {
		t.Fatalf("Err() = nil, want an error naming %s", name)
	}
	if !strings.HasPrefix(err.Error(), name+": ") {
		t.Errorf("Err() = %q, want it to start with %q", err, name+": ")
	}
	if strings.Contains(err.Error(), ";") {
		t.Errorf("Err() = %q, want a single problem", err)
	}
}

// wantNoErr checks that env recorded no problem.
func wantNoErr(t *testing.T, env *Env) {
	t.Helper()
	if err := env.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil", err)
	}
}

func TestStringReturnsTheValueOrTheDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{name: "unset gives the default", vars: nil, want: "def"},
		{name: "empty gives the default", vars: map[string]string{"X": ""}, want: "def"},
		{name: "blank gives the default", vars: map[string]string{"X": "  \t"}, want: "def"},
		{name: "a value is returned trimmed", vars: map[string]string{"X": "  value "}, want: "value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := envOf(t, tt.vars)
			if got := env.String("X", "def"); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
			wantNoErr(t, env)
		})
	}
}

func TestIntParsesWithinBoundsAndRecordsBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   *string
		want    int
		wantBad bool
	}{
		{name: "unset gives the default", want: 7},
		{name: "a value in range is returned", value: ptr("42"), want: 42},
		{name: "the lower bound is allowed", value: ptr("1"), want: 1},
		{name: "the upper bound is allowed", value: ptr("100"), want: 100},
		{name: "below the range is refused", value: ptr("0"), want: 7, wantBad: true},
		{name: "above the range is refused", value: ptr("101"), want: 7, wantBad: true},
		{name: "a word is refused", value: ptr("many"), want: 7, wantBad: true},
		{name: "a fraction is refused", value: ptr("1.5"), want: 7, wantBad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := envOf(t, varsOf("WORKERS", tt.value))
			if got := env.Int("WORKERS", 7, 1, 100); got != tt.want {
				t.Errorf("Int = %d, want %d", got, tt.want)
			}
			if tt.wantBad {
				wantErr(t, env, "WORKERS")
				if !strings.Contains(env.Err().Error(), "between 1 and 100") {
					t.Errorf("Err() = %q, want it to state the range", env.Err())
				}
				return
			}
			wantNoErr(t, env)
		})
	}
}

func TestBoolParsesAndRecordsBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   *string
		def     bool
		want    bool
		wantBad bool
	}{
		{name: "unset gives the default", def: true, want: true},
		{name: "true is true", value: ptr("true"), want: true},
		{name: "1 is true", value: ptr("1"), want: true},
		{name: "false is false", value: ptr("false"), def: true, want: false},
		{name: "yes is refused", value: ptr("yes"), def: true, want: true, wantBad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := envOf(t, varsOf("MIGRATE", tt.value))
			if got := env.Bool("MIGRATE", tt.def); got != tt.want {
				t.Errorf("Bool = %v, want %v", got, tt.want)
			}
			if tt.wantBad {
				wantErr(t, env, "MIGRATE")
				return
			}
			wantNoErr(t, env)
		})
	}
}

func TestDurationParsesPositiveDurationsAndRecordsBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   *string
		want    time.Duration
		wantBad bool
	}{
		{name: "unset gives the default", want: time.Minute},
		{name: "a Go duration is parsed", value: ptr("15m"), want: 15 * time.Minute},
		{name: "a compound duration is parsed", value: ptr("1h30m"), want: 90 * time.Minute},
		{name: "zero is refused", value: ptr("0s"), want: time.Minute, wantBad: true},
		{name: "a negative duration is refused", value: ptr("-5s"), want: time.Minute, wantBad: true},
		{name: "a bare number is refused", value: ptr("30"), want: time.Minute, wantBad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := envOf(t, varsOf("TTL", tt.value))
			if got := env.Duration("TTL", time.Minute); got != tt.want {
				t.Errorf("Duration = %v, want %v", got, tt.want)
			}
			if tt.wantBad {
				wantErr(t, env, "TTL")
				return
			}
			wantNoErr(t, env)
		})
	}
}

func TestURLAcceptsAbsoluteURLsWithAllowedSchemes(t *testing.T) {
	t.Parallel()
	const def = "postgres://localhost/db"
	tests := []struct {
		name    string
		value   *string
		want    string
		wantBad bool
	}{
		{name: "unset gives the default", want: def},
		{name: "an allowed scheme is accepted", value: ptr("postgresql://user:pw@db:5432/app"), want: "postgresql://user:pw@db:5432/app"},
		{name: "a disallowed scheme is refused", value: ptr("mysql://user:hunter2@db/app"), want: def, wantBad: true},
		{name: "a relative URL is refused", value: ptr("/just/a/path"), want: def, wantBad: true},
		{name: "an unparsable URL is refused", value: ptr("postgres://user:hunter2@db:port/%zz"), want: def, wantBad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := envOf(t, varsOf("DATABASE_URL", tt.value))
			if got := env.URL("DATABASE_URL", def, "postgres", "postgresql"); got != tt.want {
				t.Errorf("URL = %q, want %q", got, tt.want)
			}
			if !tt.wantBad {
				wantNoErr(t, env)
				return
			}
			wantErr(t, env, "DATABASE_URL")
			if msg := env.Err().Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "user:") {
				t.Errorf("Err() = %q echoes the URL, which may hold a password", msg)
			}
		})
	}
}

func TestAMongoDBURLMayNameAUnixSocketAsItsHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   string
		wantBad bool
	}{
		{name: "a socket path", value: "mongodb://%2Ftmp%2Fferretdb-1%2Fmongodb.sock/"},
		{name: "a socket path with credentials and options", value: "mongodb://u:pw@%2Ftmp%2Fmongodb.sock/?authSource=admin"},
		{name: "a host and port", value: "mongodb://db:27017/?tls=true"},
		{name: "an escape that is not a socket path", value: "mongodb://%2Fnot-a-socket/", wantBad: true},
		{name: "a socket path in another scheme", value: "postgres://%2Ftmp%2Fmongodb.sock/", wantBad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := envOf(t, map[string]string{"MONGODB_URI": tt.value})
			got := env.URL("MONGODB_URI", "", "mongodb", "mongodb+srv", "postgres")
			if tt.wantBad {
				wantErr(t, env, "MONGODB_URI")
				return
			}
			wantNoErr(t, env)
			if got != tt.value {
				t.Errorf("URL = %q, want it as given, %q", got, tt.value)
			}
		})
	}
}

func TestURLWithAnEmptyDefaultIsOptional(t *testing.T) {
	t.Parallel()
	env := envOf(t, nil)
	if got := env.URL("SMTP_URL", "", "smtp"); got != "" {
		t.Errorf("URL = %q, want empty", got)
	}
	wantNoErr(t, env)
}

func TestKeysParsesIDAndBase64Pairs(t *testing.T) {
	t.Parallel()
	k1, k2 := secret(16, 1), secret(16, 2)
	env := envOf(t, map[string]string{"PII_KEYS": " new:" + b64(k2) + " , old:" + b64(k1)})
	got := env.Keys("PII_KEYS", 16)
	wantNoErr(t, env)
	want := []Key{{ID: "new", Secret: k2}, {ID: "old", Secret: k1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Keys mismatch (-want +got):\n%s", diff)
	}
}

func TestKeysUnsetGivesNone(t *testing.T) {
	t.Parallel()
	env := envOf(t, nil)
	if got := env.Keys("PII_KEYS", 16); got != nil {
		t.Errorf("Keys = %v, want nil", got)
	}
	wantNoErr(t, env)
}

func TestKeysRefusesBadEntriesWithoutEchoingSecrets(t *testing.T) {
	t.Parallel()
	good := b64(secret(16, 3))
	short := b64(secret(15, 4))
	tests := []struct {
		name      string
		value     string
		wantEntry string
		secrets   []string // material the error must not contain
	}{
		{name: "an entry without a colon", value: good, wantEntry: "entry 1", secrets: []string{good}},
		{name: "an entry without an id", value: ":" + good, wantEntry: "entry 1", secrets: []string{good}},
		{name: "a secret of the wrong size", value: "k1:" + good + ",k2:" + short, wantEntry: "entry 2", secrets: []string{good, short}},
		{name: "a secret that is not base64", value: "k1:not*base64*S3cr3t", wantEntry: "entry 1", secrets: []string{"S3cr3t"}},
		{name: "an empty entry after a comma", value: "k1:" + good + ",", wantEntry: "entry 2", secrets: []string{good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := envOf(t, map[string]string{"PII_KEYS": tt.value})
			if got := env.Keys("PII_KEYS", 16); got != nil {
				t.Errorf("Keys = %v, want nil", got)
			}
			wantErr(t, env, "PII_KEYS")
			msg := env.Err().Error()
			if !strings.Contains(msg, tt.wantEntry) || !strings.Contains(msg, "16-byte") {
				t.Errorf("Err() = %q, want it to name %q and the key size", msg, tt.wantEntry)
			}
			for _, s := range tt.secrets {
				if strings.Contains(msg, s) {
					t.Errorf("Err() = %q echoes secret material %q", msg, s)
				}
			}
		})
	}
}

func TestErrNamesEveryBadVariableOnOneLine(t *testing.T) {
	t.Parallel()
	env := envOf(t, map[string]string{
		"PORT":    "eighty",
		"DEBUG":   "maybe",
		"TIMEOUT": "soon",
		"NAME":    "fine",
	})
	env.Int("PORT", 8080, 1, 65535)
	env.Bool("DEBUG", false)
	env.Duration("TIMEOUT", time.Second)
	env.String("NAME", "")
	env.Fail("NAME", "must not be %s", "fine")

	err := env.Err()
	if err == nil {
		t.Fatal("Err() = nil, want an error")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("Err() = %q, want one line", msg)
	}
	var names []string
	for part := range strings.SplitSeq(msg, "; ") {
		name, _, _ := strings.Cut(part, ":")
		names = append(names, name)
	}
	if diff := cmp.Diff([]string{"PORT", "DEBUG", "TIMEOUT", "NAME"}, names); diff != "" {
		t.Errorf("variables named in %q (-want +got):\n%s", msg, diff)
	}
}

func TestErrIsNilWhenEverythingIsValid(t *testing.T) {
	t.Parallel()
	env := envOf(t, map[string]string{"PORT": "8080", "DEBUG": "true"})
	env.Int("PORT", 1, 1, 65535)
	env.Bool("DEBUG", false)
	wantNoErr(t, env)
}

func ptr(s string) *string { return &s }

// varsOf returns an environment holding name=*value, or nothing when value
// is nil.
func varsOf(name string, value *string) map[string]string {
	if value == nil {
		return nil
	}
	return map[string]string{name: *value}
}

// secret returns size bytes filled with b.
func secret(size int, b byte) []byte {
	s := make([]byte, size)
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

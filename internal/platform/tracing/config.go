package tracing

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/config"
)

// Samplers are the values OTEL_TRACES_SAMPLER accepts, as the OpenTelemetry
// specification names them.
var samplers = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// Config is where spans go and how many are kept, read from the standard
// OTEL_* variables so that an operator configures the platform as any
// other OpenTelemetry program.
type Config struct {
	// Endpoint is the full URL spans are POSTed to (".../v1/traces"); ""
	// turns tracing off.
	Endpoint string
	// Headers are sent with every export (an API key, say).
	Headers map[string]string
	// Timeout bounds one export.
	Timeout time.Duration
	// Gzip compresses exports.
	Gzip bool
	// Sampler is one of the specification's sampler names; SamplerArg is
	// the ratio of the traceidratio samplers, from 0 to 1.
	Sampler    string
	SamplerArg float64
	// BatchDelay is the longest a finished span waits before it is sent.
	BatchDelay time.Duration
	// Attributes are added to every service's resource
	// (OTEL_RESOURCE_ATTRIBUTES, such as deployment.environment=prod).
	Attributes map[string]string
}

// Enabled reports whether spans are exported at all.
func (c Config) Enabled() bool { return c.Endpoint != "" }

// LoadConfig reads the OTEL_* variables the platform supports. Tracing is
// off unless an endpoint is set, and OTEL_SDK_DISABLED turns it off
// whatever else is set.
func LoadConfig(e *config.Env) Config {
	e.Describe(docs())
	base := e.URL("OTEL_EXPORTER_OTLP_ENDPOINT", "", "http", "https")
	c := Config{
		Endpoint:   e.URL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "http", "https"),
		Headers:    pairs(e, "OTEL_EXPORTER_OTLP_HEADERS"),
		Timeout:    time.Duration(e.Int("OTEL_EXPORTER_OTLP_TIMEOUT", 10000, 1, 600000)) * time.Millisecond,
		Sampler:    e.String("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
		BatchDelay: time.Duration(e.Int("OTEL_BSP_SCHEDULE_DELAY", 5000, 1, 600000)) * time.Millisecond,
		Attributes: pairs(e, "OTEL_RESOURCE_ATTRIBUTES"),
	}
	if c.Endpoint == "" && base != "" {
		c.Endpoint = strings.TrimRight(base, "/") + "/v1/traces"
	}
	switch v := e.String("OTEL_EXPORTER_OTLP_COMPRESSION", "none"); v {
	case "gzip":
		c.Gzip = true
	case "none":
	default:
		e.Fail("OTEL_EXPORTER_OTLP_COMPRESSION", "want gzip or none, got %q", v)
	}
	if !slices.Contains(samplers, c.Sampler) {
		e.Fail("OTEL_TRACES_SAMPLER", "want one of %s, got %q", strings.Join(samplers, ", "), c.Sampler)
	}
	c.SamplerArg = ratio(e, "OTEL_TRACES_SAMPLER_ARG")
	if e.Bool("OTEL_SDK_DISABLED", false) {
		c.Endpoint = ""
	}
	return c
}

func docs() config.Docs {
	return config.Docs{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "OTLP/HTTP collector base URL (spans go to `$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces`); unset: tracing is off and costs nothing",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "full OTLP/HTTP URL for spans, taking precedence over `OTEL_EXPORTER_OTLP_ENDPOINT`",
		"OTEL_EXPORTER_OTLP_HEADERS":         "headers sent with every export, `key=value,key=value` (an API key); secret",
		"OTEL_EXPORTER_OTLP_TIMEOUT":         "milliseconds one export may take",
		"OTEL_EXPORTER_OTLP_COMPRESSION":     "`gzip` or `none`",
		"OTEL_TRACES_SAMPLER":                "which traces are kept: `parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG=0.1` keeps one in ten and follows the caller's decision; also `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`",
		"OTEL_TRACES_SAMPLER_ARG":            "the ratio of the `traceidratio` samplers, 0 to 1",
		"OTEL_BSP_SCHEDULE_DELAY":            "milliseconds a finished span may wait to be exported with others",
		"OTEL_RESOURCE_ATTRIBUTES":           "attributes of every service's resource, `key=value,...` (such as `deployment.environment=prod`); `service.name` is the module's name",
		"OTEL_SDK_DISABLED":                  "`true` turns tracing off whatever else is set",
	}
}

// ratio reads a sampling ratio; Env has no floats, the only one being this.
func ratio(e *config.Env, name string) float64 {
	v := e.String(name, "1")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		e.Fail(name, "want a ratio from 0 to 1, got %q", v)
		return 1
	}
	return f
}

// pairs reads a "key=value,key=value" list, as the specification writes
// headers and resource attributes. Values are not echoed: headers carry
// secrets.
func pairs(e *config.Env, name string) map[string]string {
	v := e.String(name, "")
	if v == "" {
		return nil
	}
	m := map[string]string{}
	for i, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			e.Fail(name, "entry %d: want key=value", i+1)
			return nil
		}
		m[k] = strings.TrimSpace(val)
	}
	return m
}

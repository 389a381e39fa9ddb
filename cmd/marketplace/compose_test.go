//go:build deploycheck

// The compose file's test builds only with the deploycheck tag (make
// deploy-check): compose-go and its dependencies stay out of make test.

package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeFile = "../../deploy/compose.yaml"
	composeEnv  = "../../deploy/.env.example"
)

// loadCompose loads and validates deploy/compose.yaml with compose-go, as
// `docker compose` does, with every profile on and the example env file.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithEnvFiles(composeEnv), cli.WithDotEnv, cli.WithProfiles([]string{"*"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go rejects %s: %v", composeFile, err)
	}
	return p
}

// ours are the services run from the marketplace image.
func ours(p *types.Project) map[string]types.ServiceConfig {
	out := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		if strings.HasPrefix(s.Image, "localhost/marketplace:") {
			out[name] = s
		}
	}
	return out
}

// declaredVariables are every variable the binary's configuration reads
// or describes, from the code, as `marketplace docs` finds them.
func declaredVariables(t *testing.T) map[string]bool {
	t.Helper()
	mods, err := startOrder(table())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadAll(func(string) (string, bool) { return "", false }, mods)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, v := range cfg.env.Vars() {
		vars[v.Name] = true
	}
	for _, name := range cfg.env.Described() {
		vars[name] = true
	}
	return vars
}

func TestComposeRunsEveryPieceOfThePlatform(t *testing.T) {
	p := loadCompose(t)
	want := []string{
		"postgres", "mongo", "redis", "rabbitmq", "etcd", // datastores and registry
		"migrate", "seed", // one-shots
		"prometheus", "grafana", "jaeger", "elasticsearch", "kibana", "fluent-bit", // profiles
	}
	for _, m := range table() {
		want = append(want, m.name) // one container per module
	}
	for _, name := range want {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("compose has no service %q", name)
		}
	}
	profiles := map[string]string{"seed": "seed", "prometheus": "observability", "grafana": "observability",
		"jaeger": "observability", "elasticsearch": "elk", "kibana": "elk", "fluent-bit": "elk"}
	for name, profile := range profiles {
		if s := p.Services[name]; !slices.Contains(s.Profiles, profile) {
			t.Errorf("%s has profiles %v, want %s", name, s.Profiles, profile)
		}
	}
	gw := p.Services["gateway"]
	if len(gw.Ports) != 1 || gw.Ports[0].Published != "8080" || gw.Ports[0].Target != 8080 {
		t.Errorf("gateway publishes %+v, want 8080:8080", gw.Ports)
	}
}

func TestComposeRunsEachModuleFromTheImageAsItsOwnTarget(t *testing.T) {
	p := loadCompose(t)
	services := ours(p)
	for _, m := range table() {
		s, ok := services[m.name]
		if !ok {
			t.Errorf("module %s has no container from the marketplace image", m.name)
			continue
		}
		if !slices.Equal(s.Command, []string{"serve", "--target=" + m.name, "--no-migrate"}) {
			t.Errorf("%s runs %v, want serve --target=%s --no-migrate", m.name, s.Command, m.name)
		}
		if !s.ReadOnly {
			t.Errorf("%s: the root filesystem is not read-only", m.name)
		}
		// The health check asks the module's own port, with the binary.
		hc := s.HealthCheck
		if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/marketplace" || hc.Test[2] != "healthcheck" {
			t.Errorf("%s: health check %+v, want [CMD /marketplace healthcheck --url=...]", m.name, hc)
			continue
		}
		_, port, _ := net.SplitHostPort(m.addr)
		if url := strings.Join(hc.Test[3:], " "); !strings.Contains(url, ":"+port+"/readyz") {
			t.Errorf("%s: health check asks %q, want its port %s's /readyz", m.name, url, port)
		}
		for dep, d := range s.DependsOn {
			if d.Condition != types.ServiceConditionHealthy && d.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("%s depends on %s with condition %q, want service_healthy (or the migrate job's completion)", m.name, dep, d.Condition)
			}
		}
	}
	if d, ok := p.Services["users"].DependsOn["migrate"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("users does not wait for the migrate job to complete: %+v", p.Services["users"].DependsOn)
	}
}

func TestComposeCommandsUseOnlyFlagsTheBinaryHas(t *testing.T) {
	p := loadCompose(t)
	mods, err := startOrder(table())
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range ours(p) {
		commands := [][]string{s.Command}
		if hc := s.HealthCheck; hc != nil && len(hc.Test) > 2 && hc.Test[1] == "/marketplace" {
			commands = append(commands, hc.Test[2:])
		}
		for _, args := range commands {
			if len(args) == 0 {
				t.Errorf("%s: no command", name)
				continue
			}
			// The binary parses the flags and stops at -h: an unknown flag
			// or a bad value fails before it.
			err := run(context.Background(), append(slices.Clone(args), "-h"), lookup(nil), io.Discard, nil)
			if !errors.Is(err, flag.ErrHelp) {
				t.Errorf("%s: marketplace %s: %v", name, strings.Join(args, " "), err)
			}
			for _, a := range args {
				if target, ok := strings.CutPrefix(a, "--target="); ok {
					if _, err := parseTargets(target, mods); err != nil {
						t.Errorf("%s: %v", name, err)
					}
				}
			}
		}
	}
}

func TestComposeSetsOnlyVariablesTheBinaryReadsAndValuesItAccepts(t *testing.T) {
	p := loadCompose(t)
	declared := declaredVariables(t)
	mods, err := startOrder(table())
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range ours(p) {
		env := map[string]string{}
		for k, v := range s.Environment {
			if !declared[k] {
				t.Errorf("%s sets %s, which the binary does not read", name, k)
			}
			if v != nil {
				env[k] = *v
			}
		}
		if _, err := loadAll(lookup(env), mods); err != nil {
			t.Errorf("%s: the binary refuses its environment: %v", name, err)
		}
		for _, k := range slices.Sorted(maps.Keys(env)) {
			if strings.Contains(k, "PASSWORD") || strings.Contains(k, "SECRET") {
				t.Errorf("%s sets %s in the compose file: secrets belong in deploy/.env", name, k)
			}
		}
	}
}

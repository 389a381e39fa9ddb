package helm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	release   = "shop"
	namespace = "shop"
	fullname  = "shop-marketplace"
)

// services are the platform's services, one Deployment each.
var services = []string{"users", "products", "orders", "search", "web", "gateway"}

// valueSets are the value sets the chart is checked with: what a first
// `helm install` gets, a production-like one on managed datastores, and TLS on.
var valueSets = []struct {
	name  string
	files []string
	// hook is when the migrations Job runs: after the install when the
	// release brings its datastores, before it when they are external.
	hook string
}{
	{"the defaults", nil, "post-install,pre-upgrade"},
	{"external datastores", []string{"testdata/values-external.yaml"}, "pre-install,pre-upgrade"},
	{"TLS on", []string{"testdata/values-tls.yaml"}, "pre-install,pre-upgrade"},
}

// A rendered set is a value set's objects, decoded strictly.
type renderedSet struct {
	hook    string
	objects []Object
	typed   []runtime.Object // nil for custom resources
	err     error
}

var (
	renderOnce sync.Once
	rendered   map[string]renderedSet
)

// renderAll renders and decodes every value set once for the whole test
// binary (rendering is the slow part).
func renderAll(t *testing.T) map[string]renderedSet {
	t.Helper()
	renderOnce.Do(func() {
		rendered = map[string]renderedSet{}
		dec, err := NewDecoder(crdFiles(t)...)
		for _, vs := range valueSets {
			if err != nil {
				rendered[vs.name] = renderedSet{err: err}
				continue
			}
			r, rerr := Render(context.Background(), ChartDir, Options{Release: release, Namespace: namespace, ValueFiles: vs.files})
			set := renderedSet{hook: vs.hook, objects: r.Objects, err: rerr}
			for _, o := range r.Objects {
				typed, derr := dec.Decode(o)
				set.err = errors.Join(set.err, derr)
				set.typed = append(set.typed, typed)
			}
			rendered[vs.name] = set
		}
	})
	return rendered
}

func crdFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/crds/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs under testdata/crds: %v", err)
	}
	return files
}

// eachSet runs check on every value set's rendering, as subtests.
func eachSet(t *testing.T, check func(t *testing.T, set renderedSet)) {
	t.Helper()
	all := renderAll(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			set := all[vs.name]
			if set.err != nil {
				t.Fatalf("rendering or strict decoding failed:\n%v", set.err)
			}
			check(t, set)
		})
	}
}

func TestEveryRenderedObjectDecodesStrictly(t *testing.T) {
	eachSet(t, func(t *testing.T, set renderedSet) {
		if len(set.objects) == 0 {
			t.Fatal("the chart rendered nothing")
		}
		for i, o := range set.objects {
			if o.Obj.GetNamespace() != namespace && o.Obj.GetKind() != "Namespace" {
				t.Errorf("%s: namespace %q, want the release's %q", o.Name(), o.Obj.GetNamespace(), namespace)
			}
			if set.typed[i] == nil && !slices.Contains([]string{"ServiceMonitor", "PrometheusRule", "HTTPRoute"}, o.Obj.GetKind()) {
				t.Errorf("%s: not decoded by client-go's scheme", o.Name())
			}
		}
	})
}

func TestTheStrictDecoderRefusesUnknownFields(t *testing.T) {
	dec, err := NewDecoder(crdFiles(t)...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
	}{
		{"a Deployment with a misspelt field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: x, image: x:1}]}}\n"},
		{"a Service with a field given twice", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  type: ClusterIP\n  type: NodePort\n"},
		{"a ServiceMonitor with a field its CRD lacks", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec:\n  selector: {}\n  endpoints: [{port: metrics, intervall: 30s}]\n"},
		{"a PrometheusRule whose rule lacks its expression", "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\nspec:\n  groups: [{name: g, rules: [{alert: A}]}]\n"},
		{"a ServiceMonitor with unknown metadata", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x, label: {a: b}}\nspec:\n  selector: {}\n  endpoints: [{port: metrics}]\n"},
		{"a kind nobody knows", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := split("# Source: test\n" + tt.yaml)
			if err != nil || len(objs) != 1 {
				t.Fatalf("split: %v (%d objects)", err, len(objs))
			}
			if _, err := dec.Decode(objs[0]); err == nil {
				t.Error("decoded without an error")
			}
		})
	}
}

func TestTheChartRendersEveryPieceTheIssueAsksFor(t *testing.T) {
	eachSet(t, func(t *testing.T, set renderedSet) {
		have := map[string]bool{}
		for _, o := range set.objects {
			have[o.Obj.GetKind()+"/"+o.Obj.GetName()] = true
		}
		var want []string
		for _, s := range services {
			want = append(want, "Deployment/"+fullname+"-"+s, "Service/"+fullname+"-"+s, "PodDisruptionBudget/"+fullname+"-"+s,
				"NetworkPolicy/"+fullname+"-"+s)
			if s != "gateway" {
				want = append(want, "Service/"+fullname+"-"+s+"-headless")
			}
		}
		for _, s := range []string{"gateway", "products", "search", "web"} {
			want = append(want, "HorizontalPodAutoscaler/"+fullname+"-"+s)
		}
		want = append(want, "Job/"+fullname+"-migrations", "NetworkPolicy/"+fullname+"-migrations", "Ingress/"+fullname)
		for _, w := range want {
			if !have[w] {
				t.Errorf("no %s", w)
			}
		}
	})
}

func TestContainersRunAsNonRootOnAReadOnlyRootWithLimitsAndProbes(t *testing.T) {
	eachSet(t, func(t *testing.T, set renderedSet) {
		n := 0
		for i, obj := range set.typed {
			name := set.objects[i].Name()
			spec, long := podSpec(obj)
			if spec == nil {
				continue
			}
			n++
			for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
				for _, p := range containerProblems(spec, c, long) {
					t.Errorf("%s, container %s: %s", name, c.Name, p)
				}
			}
		}
		if n == 0 {
			t.Fatal("no workloads rendered")
		}
	})
}

// podSpec is the pod template of a workload, and whether it runs for good
// (and so needs probes) rather than to completion.
func podSpec(obj runtime.Object) (*corev1.PodSpec, bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec, true
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec, true
	case *appsv1.DaemonSet:
		return &o.Spec.Template.Spec, true
	case *batchv1.Job:
		return &o.Spec.Template.Spec, false
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec, false
	case *corev1.Pod:
		return &o.Spec, false
	}
	return nil, false
}

// containerProblems lists how a container breaks the policy: non-root,
// read-only root, no privilege escalation, every capability dropped, the
// runtime's seccomp profile, requests and limits of CPU and memory, and
// (for what runs for good) startup, liveness and readiness probes.
func containerProblems(pod *corev1.PodSpec, c corev1.Container, long bool) []string {
	var p []string
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		p = append(p, "runAsNonRoot is not true")
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if uid == nil || *uid == 0 {
		p = append(p, "no non-zero runAsUser")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p = append(p, "the root filesystem is writable")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p = append(p, "allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		p = append(p, "privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		p = append(p, "capabilities: want drop [ALL] and nothing added")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p = append(p, "seccomp profile is not RuntimeDefault")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Limits[r]; !ok || q.IsZero() {
			p = append(p, "no "+string(r)+" limit")
		}
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			p = append(p, "no "+string(r)+" request")
		}
	}
	if long {
		if c.StartupProbe == nil {
			p = append(p, "no startup probe")
		}
		if c.LivenessProbe == nil {
			p = append(p, "no liveness probe")
		}
		if c.ReadinessProbe == nil {
			p = append(p, "no readiness probe")
		}
	}
	return p
}

func TestTheServicesProbeHealthzAndReadyzAndDrainOnShutdown(t *testing.T) {
	eachSet(t, func(t *testing.T, set renderedSet) {
		for _, d := range deployments(set) {
			c := d.Spec.Template.Spec.Containers[0]
			for probe, want := range map[*corev1.Probe]string{c.StartupProbe: "/healthz", c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "http" {
					t.Errorf("%s: a probe is not an HTTP GET of %s on the service's port", d.Name, want)
				}
			}
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
				t.Errorf("%s: no preStop sleep", d.Name)
			}
			if env(c, "SHUTDOWN_DELAY") == "" || env(c, "SHUTDOWN_DELAY") == "0s" {
				t.Errorf("%s: no SHUTDOWN_DELAY", d.Name)
			}
			if !slices.Contains(c.Args, "--no-migrate") || !slices.Contains(c.Args, "serve") {
				t.Errorf("%s: args %v, want serve ... --no-migrate", d.Name, c.Args)
			}
		}
	})
}

func TestEveryWorkloadIsSelectedByANetworkPolicy(t *testing.T) {
	eachSet(t, func(t *testing.T, set renderedSet) {
		var policies []*networkingv1.NetworkPolicy
		for _, obj := range set.typed {
			if np, ok := obj.(*networkingv1.NetworkPolicy); ok {
				policies = append(policies, np)
			}
		}
		for i, obj := range set.typed {
			spec, _ := podSpec(obj)
			if spec == nil {
				continue
			}
			labels := podLabels(obj)
			ingress, egress := false, false
			for _, np := range policies {
				if selects(t, np.Spec.PodSelector, labels) {
					ingress = ingress || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
					egress = egress || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
				}
			}
			if !ingress || !egress {
				t.Errorf("%s: selected for ingress %v, for egress %v; want both", set.objects[i].Name(), ingress, egress)
			}
		}
	})
}

func TestOnlyTheGatewayTakesTrafficFromOutsideTheRelease(t *testing.T) {
	eachSet(t, func(t *testing.T, set renderedSet) {
		for _, obj := range set.typed {
			np, ok := obj.(*networkingv1.NetworkPolicy)
			if !ok {
				continue
			}
			gateway := np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] == "gateway"
			for _, rule := range np.Spec.Ingress {
				metricsOnly := len(rule.Ports) == 1 && rule.Ports[0].Port != nil && rule.Ports[0].Port.String() == "metrics"
				if len(rule.From) == 0 && !gateway && !metricsOnly {
					t.Errorf("%s: an ingress rule open to any source", np.Name)
				}
				for _, peer := range rule.From {
					if peer.IPBlock != nil && !gateway {
						t.Errorf("%s: takes traffic from addresses %s", np.Name, peer.IPBlock.CIDR)
					}
				}
			}
		}
	})
}

func TestTheImageIsPinned(t *testing.T) {
	eachSet(t, func(t *testing.T, set renderedSet) {
		for i, obj := range set.typed {
			spec, _ := podSpec(obj)
			if spec == nil {
				continue
			}
			for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
				if problem := imageProblem(c.Image); problem != "" {
					t.Errorf("%s, container %s: image %q: %s", set.objects[i].Name(), c.Name, c.Image, problem)
				}
			}
		}
	})
}

// imageProblem says why an image reference is not pinned: no tag, or latest.
func imageProblem(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash {
		return "no tag"
	}
	switch tag := ref[colon+1:]; tag {
	case "":
		return "empty tag"
	case "latest":
		return "latest"
	}
	return ""
}

func TestTheChartRefusesWhatWouldBreakTheRelease(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]any
		want string
	}{
		{"an image tagged latest", map[string]any{"image": map[string]any{"tag": "latest"}}, "latest"},
		{"two users replicas without signing keys", map[string]any{"services": map[string]any{"users": map[string]any{"replicas": 2}}}, "authSigningKeys"},
		{"an external PostgreSQL without its URL", map[string]any{"postgresql": map[string]any{"bundled": false}}, "postgresql.url"},
		{"gateway TLS without a certificate", map[string]any{"tls": map[string]any{"gateway": map[string]any{"enabled": true}}}, "tls.gateway.secretName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(context.Background(), ChartDir, Options{Release: release, Namespace: namespace, Set: tt.set})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("render error %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestTheImageDefaultsToTheChartsAppVersion(t *testing.T) {
	set := renderAll(t)["the defaults"]
	if set.err != nil {
		t.Fatal(set.err)
	}
	for _, d := range deployments(set) {
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "ghcr.io/marketplace-go/marketplace:0.1.0" {
			t.Errorf("%s: image %s, want the appVersion's tag", d.Name, got)
		}
	}
}

func TestTheGatewayFindsEachServiceThroughItsHeadlessService(t *testing.T) {
	eachSet(t, func(t *testing.T, set renderedSet) {
		headless := map[string]*corev1.Service{}
		for _, obj := range set.typed {
			if s, ok := obj.(*corev1.Service); ok && s.Spec.ClusterIP == corev1.ClusterIPNone {
				headless[s.Name] = s
			}
		}
		gw := deployment(t, set, "gateway").Spec.Template.Spec.Containers[0]
		for _, s := range services[:5] {
			v := env(gw, "GATEWAY_"+strings.ToUpper(s)+"_URLS")
			name := fullname + "-" + s + "-headless"
			svc, ok := headless[name]
			if !ok {
				t.Errorf("no headless Service %s", name)
				continue
			}
			port := deployment(t, set, s).Spec.Template.Spec.Containers[0].Ports[0].ContainerPort
			want := "dns+http://" + name + "." + namespace + ".svc:" + strconv.Itoa(int(port))
			if v != want || svc.Spec.Ports[0].Port != port {
				t.Errorf("GATEWAY_%s_URLS = %q, want %q (the Service's port %d)", strings.ToUpper(s), v, want, svc.Spec.Ports[0].Port)
			}
		}
	})
}

func TestTheMigrationsRunAsAHookBeforeTheServices(t *testing.T) {
	eachSet(t, func(t *testing.T, set renderedSet) {
		for _, o := range set.objects {
			if o.Obj.GetKind() == "Job" && o.Obj.GetName() == fullname+"-migrations" {
				if o.Hook != set.hook {
					t.Errorf("hook %q, want %q", o.Hook, set.hook)
				}
				return
			}
		}
		t.Error("no migrations Job")
	})
}

func TestEveryVariableTheChartSetsIsOneTheBinaryReads(t *testing.T) {
	known := configVariables(t)
	// Read by Go's crypto/x509 rather than the configuration code.
	known["SSL_CERT_DIR"] = true
	// The gateway's certificate and key: the names agreed with the image
	// and TLS work, which declares them in the configuration code.
	known["TLS_CERT_FILE"] = true
	known["TLS_KEY_FILE"] = true
	eachSet(t, func(t *testing.T, set renderedSet) {
		for i, obj := range set.typed {
			spec, _ := podSpec(obj)
			if spec == nil || set.objects[i].Obj.GetLabels()["app.kubernetes.io/part-of"] != "marketplace" || isDatastore(set.objects[i]) {
				continue
			}
			for _, c := range spec.Containers {
				for _, e := range c.Env {
					if !known[e.Name] {
						t.Errorf("%s: %s is not in docs/configuration.md", set.objects[i].Name(), e.Name)
					}
				}
			}
		}
	})
}

func TestTheChartsRulesAndDashboardsAreCopiesOfTheSources(t *testing.T) {
	tests := []struct{ name, src, dst, pattern string }{
		{"Prometheus rules", "../prometheus", "marketplace/files/prometheus", "*.yml"},
		{"Grafana dashboards", "../grafana", "marketplace/files/grafana", "*.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diffs, err := SameFiles(tt.src, tt.dst, tt.pattern)
			if errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s is missing: the chart copies it (make chart-sync)", tt.src)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffs {
				t.Errorf("%s (run make chart-sync)", d)
			}
		})
	}
}

func TestThePolicyChecksCatchAnInsecureChart(t *testing.T) {
	dec, err := NewDecoder(crdFiles(t)...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Render(context.Background(), ChartDir, Options{Release: release, Namespace: namespace, Set: map[string]any{
		"containerSecurityContext": map[string]any{"readOnlyRootFilesystem": false, "allowPrivilegeEscalation": true},
		"services":                 map[string]any{"web": map[string]any{"resources": map[string]any{"limits": nil}}},
		"networkPolicy":            map[string]any{"enabled": false},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, o := range r.Objects {
		obj, err := dec.Decode(o)
		if err != nil {
			t.Fatal(err)
		}
		if o.Obj.GetKind() == "NetworkPolicy" {
			t.Errorf("%s rendered with the policies off", o.Name())
		}
		if d, ok := obj.(*appsv1.Deployment); ok && d.Name == fullname+"-web" {
			problems = containerProblems(&d.Spec.Template.Spec, d.Spec.Template.Spec.Containers[0], true)
		}
	}
	for _, want := range []string{"the root filesystem is writable", "allowPrivilegeEscalation is not false", "no cpu limit", "no memory limit"} {
		if !slices.Contains(problems, want) {
			t.Errorf("problems %q lack %q", problems, want)
		}
	}
}

// TestEachServiceThatUsesTheBrokerIsGivenItsURL: products and orders
// publish events, orders, search and users (the order confirmations, ADR
// 40) consume them; web and the gateway never reach the broker.
func TestEachServiceThatUsesTheBrokerIsGivenItsURL(t *testing.T) {
	uses := map[string]bool{"users": true, "products": true, "orders": true, "search": true, "web": false, "gateway": false}
	eachSet(t, func(t *testing.T, set renderedSet) {
		for _, s := range services {
			c := deployment(t, set, s).Spec.Template.Spec.Containers[0]
			has := slices.ContainsFunc(c.Env, func(v corev1.EnvVar) bool { return v.Name == "RABBITMQ_URL" })
			if has != uses[s] {
				t.Errorf("%s: RABBITMQ_URL set %v, want %v", s, has, uses[s])
			}
		}
	})
}

func TestTheMonitoringObjectsRenderWhenTheOperatorIsThereAndTheDashboardsAlways(t *testing.T) {
	dashboards, err := filepath.Glob("../grafana/*.json")
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards under deploy/grafana: %v", err)
	}
	// Only the default values leave the Prometheus Operator's objects out.
	operator := map[string]bool{"the defaults": false, "external datastores": true, "TLS on": true}
	all := renderAll(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			set := all[vs.name]
			if set.err != nil {
				t.Fatalf("rendering or strict decoding failed:\n%v", set.err)
			}
			count := map[string]int{}
			configMaps := map[string]bool{}
			for _, o := range set.objects {
				count[o.Obj.GetKind()]++
				if o.Obj.GetKind() == "ConfigMap" && o.Obj.GetLabels()["grafana_dashboard"] == "1" {
					configMaps[o.Obj.GetName()] = true
				}
			}
			want := 0
			if operator[vs.name] {
				want = 1
			}
			if count["ServiceMonitor"] != want || count["PrometheusRule"] != want {
				t.Errorf("%d ServiceMonitor and %d PrometheusRule, want %d of each", count["ServiceMonitor"], count["PrometheusRule"], want)
			}
			for _, d := range dashboards {
				name := fullname + "-dashboard-" + strings.TrimSuffix(filepath.Base(d), ".json")
				if !configMaps[name] {
					t.Errorf("no dashboard ConfigMap %s", name)
				}
			}
		})
	}
}

func TestEachServiceReachesOnlyTheDatastoresItIsGivenTheURLsOf(t *testing.T) {
	// The variables that hand a container each datastore's address.
	urls := map[string][]string{
		"postgresql": {"POSTGRES_URL", "USERS_DATABASE_URL", "ORDERS_DATABASE_URL", "FERRETDB_POSTGRES_URL"},
		"mongodb":    {"MONGODB_URI"},
		"redis":      {"REDIS_URL", "GATEWAY_REDIS_URL"},
		"rabbitmq":   {"RABBITMQ_URL"},
	}
	set := renderAll(t)["the defaults"]
	if set.err != nil {
		t.Fatal(set.err)
	}
	for _, s := range services {
		t.Run(s, func(t *testing.T) {
			c := deployment(t, set, s).Spec.Template.Spec.Containers[0]
			given := map[string]bool{}
			for store, names := range urls {
				for _, n := range names {
					if slices.ContainsFunc(c.Env, func(v corev1.EnvVar) bool { return v.Name == n }) {
						given[store] = true
					}
				}
			}
			reached := map[string]bool{}
			for _, obj := range set.typed {
				np, ok := obj.(*networkingv1.NetworkPolicy)
				if !ok || np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] != s {
					continue
				}
				for _, rule := range np.Spec.Egress {
					for _, peer := range rule.To {
						if peer.PodSelector == nil {
							continue
						}
						if store := peer.PodSelector.MatchLabels["app.kubernetes.io/component"]; urls[store] != nil {
							reached[store] = true
						}
					}
				}
			}
			for store := range urls {
				if reached[store] != given[store] {
					t.Errorf("egress to the bundled %s: %v; its URL given: %v", store, reached[store], given[store])
				}
			}
		})
	}
}

func TestWithTLSOnTheGatewayServesItsSecretsCertificateAndEveryServiceTrustsTheCA(t *testing.T) {
	set := renderAll(t)["TLS on"]
	if set.err != nil {
		t.Fatal(set.err)
	}
	for _, s := range services {
		t.Run(s, func(t *testing.T) {
			spec := deployment(t, set, s).Spec.Template.Spec
			c := spec.Containers[0]
			for _, dir := range strings.Split(env(c, "SSL_CERT_DIR"), ":") {
				if secretUnder(spec, c, dir) == "marketplace-ca" {
					return
				}
			}
			t.Errorf("SSL_CERT_DIR %q names no directory holding the Secret marketplace-ca", env(c, "SSL_CERT_DIR"))
		})
	}
	t.Run("the gateway's certificate and key", func(t *testing.T) {
		spec := deployment(t, set, "gateway").Spec.Template.Spec
		c := spec.Containers[0]
		for _, name := range []string{"TLS_CERT_FILE", "TLS_KEY_FILE"} {
			file := env(c, name)
			if got := secretUnder(spec, c, filepath.Dir(file)); got != "marketplace-gateway-tls" {
				t.Errorf("%s = %q, in the Secret %q, want one in marketplace-gateway-tls", name, file, got)
			}
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("readiness probe %+v, want one over HTTPS", p)
		}
	})
}

// secretUnder returns the Secret mounted in c at dir, or "".
func secretUnder(spec corev1.PodSpec, c corev1.Container, dir string) string {
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				return v.Secret.SecretName
			}
		}
	}
	return ""
}

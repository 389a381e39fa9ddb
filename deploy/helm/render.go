// Package helm checks the marketplace Helm chart (deploy/helm/marketplace)
// without a cluster: it renders the chart with the Helm SDK as `helm install
// --dry-run=client` does, decodes every object strictly with client-go's
// scheme (or the CRD's schema for custom resources), and holds the rendered
// objects to the platform's policies. It is a module of its own so that the
// platform's module does not depend on Kubernetes.
package helm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	helmrelease "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// ChartDir is the chart, relative to this package.
const ChartDir = "marketplace"

// Object is one rendered Kubernetes object.
type Object struct {
	// Source is the template it came from ("marketplace/templates/x.yaml").
	Source string
	// Hook is the helm.sh/hook annotation, empty for a release resource.
	Hook string
	// YAML is the object as rendered.
	YAML []byte
	// Obj is the object decoded without a schema, for the policy checks.
	Obj *unstructured.Unstructured
}

// Name is "Kind/name", for messages.
func (o Object) Name() string { return o.Obj.GetKind() + "/" + o.Obj.GetName() }

// Rendering is what the chart rendered for one set of values.
type Rendering struct {
	Objects []Object
	Notes   string
}

// Options say how to render: the release, its namespace, and the value
// files applied over the chart's values.yaml, in order.
type Options struct {
	Release    string
	Namespace  string
	ValueFiles []string
	// Set are values applied last (as --set-json would), such as
	// {"image": {"tag": "latest"}}.
	Set map[string]any
	// KubeVersion is the cluster version the chart sees; empty: 1.33.0.
	KubeVersion string
}

// Render renders the chart at dir client-side (no cluster), hooks
// included, as `helm install --dry-run=client` would.
func Render(ctx context.Context, dir string, opts Options) (Rendering, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return Rendering{}, fmt.Errorf("load chart %s: %w", dir, err)
	}
	vals := map[string]any{}
	for _, f := range opts.ValueFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return Rendering{}, fmt.Errorf("read values: %w", err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return Rendering{}, fmt.Errorf("parse values %s: %w", f, err)
		}
		vals = merge(vals, v)
	}
	if opts.Set != nil {
		vals = merge(vals, opts.Set)
	}
	kv := opts.KubeVersion
	if kv == "" {
		kv = "1.33.0"
	}
	kubeVersion, err := common.ParseKubeVersion(kv)
	if err != nil {
		return Rendering{}, fmt.Errorf("kube version: %w", err)
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = opts.Release
	install.Namespace = opts.Namespace
	install.KubeVersion = kubeVersion
	rel, err := install.RunWithContext(ctx, chrt, vals)
	if err != nil {
		return Rendering{}, fmt.Errorf("render: %w", err)
	}
	r, ok := rel.(*helmrelease.Release)
	if !ok {
		return Rendering{}, fmt.Errorf("render: a release of type %T", rel)
	}
	out := Rendering{Notes: r.Info.Notes}
	docs := []string{r.Manifest}
	for _, h := range r.Hooks {
		docs = append(docs, "# Source: "+h.Path+"\n"+h.Manifest)
	}
	for _, doc := range docs {
		objs, err := split(doc)
		if err != nil {
			return Rendering{}, err
		}
		out.Objects = append(out.Objects, objs...)
	}
	return out, nil
}

// split cuts a manifest into its objects.
func split(manifest string) ([]Object, error) {
	m := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var objs []Object
	for _, k := range keys {
		doc := m[k]
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var u unstructured.Unstructured
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s: not YAML: %w", source(doc), err)
		}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("%s: not a Kubernetes object: %w", source(doc), err)
		}
		objs = append(objs, Object{Source: source(doc), Hook: u.GetAnnotations()["helm.sh/hook"], YAML: []byte(doc), Obj: &u})
	}
	return objs, nil
}

// source is the "# Source: ..." line Helm puts on every rendered object.
func source(doc string) string {
	for line := range strings.SplitSeq(doc, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "# Source: "); ok {
			return s
		}
	}
	return "(unknown template)"
}

func stripComments(doc string) string {
	var b bytes.Buffer
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// merge returns base with over laid on it, as Helm merges value files:
// maps merge key by key, anything else in over replaces base's.
func merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if sub, ok := v.(map[string]any); ok {
			if prev, ok := out[k].(map[string]any); ok {
				out[k] = merge(prev, sub)
				continue
			}
			out[k] = merge(nil, sub)
			continue
		}
		out[k] = v
	}
	return out
}

// SameFiles reports how the files of src matching pattern differ from
// those of dst: missing, extra or different copies. An empty list means
// dst holds exact copies of src and nothing else. A missing src is
// os.ErrNotExist.
func SameFiles(src, dst, pattern string) ([]string, error) {
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	want, err := filepath.Glob(filepath.Join(src, pattern))
	if err != nil {
		return nil, err
	}
	got, err := filepath.Glob(filepath.Join(dst, pattern))
	if err != nil {
		return nil, err
	}
	var diffs []string
	copies := map[string]bool{}
	for _, g := range got {
		copies[filepath.Base(g)] = true
	}
	for _, w := range want {
		name := filepath.Base(w)
		if !copies[name] {
			diffs = append(diffs, "missing copy of "+name)
			continue
		}
		delete(copies, name)
		a, errA := os.ReadFile(w)
		b, errB := os.ReadFile(filepath.Join(dst, name))
		if err := errors.Join(errA, errB); err != nil {
			return nil, err
		}
		if !bytes.Equal(a, b) {
			diffs = append(diffs, name+" differs from its source")
		}
	}
	for name := range copies {
		diffs = append(diffs, name+" has no source")
	}
	sort.Strings(diffs)
	return diffs, nil
}

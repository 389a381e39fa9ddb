package helm

import (
	"os"
	"regexp"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// deployments are a rendering's Deployments.
func deployments(set renderedSet) []*appsv1.Deployment {
	var ds []*appsv1.Deployment
	for _, obj := range set.typed {
		if d, ok := obj.(*appsv1.Deployment); ok {
			ds = append(ds, d)
		}
	}
	return ds
}

// deployment is the Deployment of one service.
func deployment(t *testing.T, set renderedSet, service string) *appsv1.Deployment {
	t.Helper()
	for _, d := range deployments(set) {
		if d.Name == fullname+"-"+service {
			return d
		}
	}
	t.Fatalf("no Deployment of %s", service)
	return nil
}

// env is the literal value of a container's variable, "" when unset.
func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// podLabels are the labels of a workload's pods.
func podLabels(obj runtime.Object) map[string]string {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.Spec.Template.Labels
	case *appsv1.StatefulSet:
		return o.Spec.Template.Labels
	case *appsv1.DaemonSet:
		return o.Spec.Template.Labels
	case *batchv1.Job:
		return o.Spec.Template.Labels
	case *batchv1.CronJob:
		return o.Spec.JobTemplate.Spec.Template.Labels
	case *corev1.Pod:
		return o.Labels
	}
	return nil
}

// selects reports whether a label selector picks pods with these labels.
func selects(t *testing.T, sel metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return s.Matches(labels.Set(l))
}

// isDatastore reports whether an object is one of the bundled datastores,
// which read their images' variables rather than the platform's.
func isDatastore(o Object) bool {
	switch o.Obj.GetLabels()["app.kubernetes.io/component"] {
	case "postgresql", "mongodb", "redis", "rabbitmq":
		return true
	}
	return false
}

// configVariables are the variables the binary reads, from the generated
// configuration reference.
func configVariables(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|").FindAllSubmatch(b, -1) {
		vars[string(m[1])] = true
	}
	if len(vars) < 50 {
		t.Fatalf("only %d variables found in docs/configuration.md", len(vars))
	}
	return vars
}

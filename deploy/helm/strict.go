package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Decoder decodes rendered objects strictly: a field the API does not know,
// or one given twice, is an error. Built-in kinds are decoded with
// client-go's scheme; custom resources are validated against their CRD's
// openAPIV3Schema, and a field the schema would prune is an error too.
type Decoder struct {
	builtin runtime.Decoder
	crds    map[schema.GroupVersionKind]crdVersion
}

type crdVersion struct {
	validator  validation.SchemaValidator
	structural *structuralschema.Structural
}

// NewDecoder returns a Decoder that knows client-go's kinds and the
// custom resources of the CRD files given.
func NewDecoder(crdFiles ...string) (*Decoder, error) {
	d := &Decoder{
		builtin: serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer(),
		crds:    map[schema.GroupVersionKind]crdVersion{},
	}
	for _, f := range crdFiles {
		if err := d.addCRD(f); err != nil {
			return nil, fmt.Errorf("CRD %s: %w", f, err)
		}
	}
	return d, nil
}

func (d *Decoder) addCRD(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		return err
	}
	for _, v := range crd.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return fmt.Errorf("version %s has no openAPIV3Schema", v.Name)
		}
		var internal apiextensionsinternal.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return fmt.Errorf("version %s: %w", v.Name, err)
		}
		validator, _, err := validation.NewSchemaValidator(&internal)
		if err != nil {
			return fmt.Errorf("version %s: %w", v.Name, err)
		}
		structural, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return fmt.Errorf("version %s: %w", v.Name, err)
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
		d.crds[gvk] = crdVersion{validator: validator, structural: structural}
	}
	return nil
}

// Decode checks one rendered object. It returns the typed object for a
// built-in kind, nil for a custom resource.
func (d *Decoder) Decode(o Object) (runtime.Object, error) {
	gvk := o.Obj.GroupVersionKind()
	if crd, ok := d.crds[gvk]; ok {
		return nil, crd.check(o)
	}
	obj, _, err := d.builtin.Decode(o.YAML, nil, nil)
	if runtime.IsNotRegisteredError(err) {
		return nil, fmt.Errorf("%s: kind %s is neither client-go's nor a known CRD's", o.Source, gvk)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", o.Source, o.Name(), err)
	}
	return obj, nil
}

// check validates a custom resource as the API server would, and fails on
// what the server would silently drop (unknown fields).
func (c crdVersion) check(o Object) error {
	j, err := yaml.YAMLToJSON(o.YAML)
	if err != nil {
		return err
	}
	var top struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(j, &top); err != nil {
		return err
	}
	var meta metav1.ObjectMeta
	dec := json.NewDecoder(bytes.NewReader(top.Metadata))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return fmt.Errorf("%s: %s: metadata: %w", o.Source, o.Name(), err)
	}
	var obj map[string]any
	if err := json.Unmarshal(j, &obj); err != nil {
		return err
	}
	if res := c.validator.Validate(obj); res != nil && !res.IsValid() {
		return fmt.Errorf("%s: %s: %w", o.Source, o.Name(), errors.Join(res.Errors...))
	}
	opts := structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}
	if pruned := pruning.PruneWithOptions(obj, c.structural, true, opts); len(pruned) > 0 {
		return fmt.Errorf("%s: %s: unknown fields %s", o.Source, o.Name(), strings.Join(pruned, ", "))
	}
	return nil
}

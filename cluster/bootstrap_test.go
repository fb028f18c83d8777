package cluster_test

import (
	"bytes"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/voidnxlabs/berth/cluster"
)

func TestRenderBootstrap(t *testing.T) {
	b, err := cluster.RenderBootstrap(cluster.BootstrapOptions{
		Server: "https://10.0.0.2:6443", GPU: true, Replicas: 1, NodeLabels: []string{"zone=lab"},
	})
	if err != nil {
		t.Fatal(err)
	}
	addons, err := b.Manifest.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for _, part := range [][]byte{b.ServerConfig, []byte("=== agent\n"), b.AgentConfig, []byte("=== addons\n"), addons} {
		all.Write(part)
	}
	golden(t, "bootstrap.yaml", all.Bytes())

	if _, err := cluster.RenderBootstrap(cluster.BootstrapOptions{Replicas: -1}); err == nil {
		t.Error("a negative replica count was accepted")
	}
}

// The add-ons are accepted by a real API server. The HelmChart kind comes
// from k3s's helm controller; a permissive stand-in for its CRD is
// installed here, so this checks the apply path and the object shape, not
// the fields the helm controller reads.
func TestApplyBootstrap(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	crds := e.dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "helmcharts.helm.cattle.io"},
		"spec": map[string]any{
			"group": "helm.cattle.io", "scope": "Namespaced",
			"names": map[string]any{"kind": "HelmChart", "plural": "helmcharts", "singular": "helmchart", "listKind": "HelmChartList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	if _, err := crds.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	b, err := cluster.RenderBootstrap(cluster.BootstrapOptions{GPU: true, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The CRD takes a moment to be served.
	var chs []cluster.Change
	poll(t, "the HelmChart CRD", func() bool {
		chs, err = e.c.Apply(ctx, b.Manifest, cluster.ApplyOptions{})
		return err == nil
	})
	if len(chs) != 3 {
		t.Fatalf("applied %v", chs)
	}
	chs, err = e.c.Apply(ctx, b.Manifest, cluster.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(chs, cluster.Unchanged); len(got) != 3 {
		t.Errorf("second bootstrap apply: %v", chs)
	}
	hc, err := e.dyn.Resource(schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}).
		Namespace("kube-system").Get(ctx, "longhorn", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedString(hc.Object, "spec", "chart"); v != "longhorn" {
		t.Errorf("HelmChart longhorn has chart %q", v)
	}
}

package cluster_test

import (
	"bytes"
	"testing"

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

// The add-ons' RuntimeClass is accepted by a real API server (the
// HelmChart kind exists only where k3s's helm controller runs).
func TestApplyBootstrapRuntimeClass(t *testing.T) {
	e := newEnv(t)
	b, err := cluster.RenderBootstrap(cluster.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc := &cluster.Manifest{Objects: b.Manifest.Objects[:1]}
	if rc.Objects[0].Kind() != "RuntimeClass" {
		t.Fatalf("first add-on is %s", rc.Objects[0].Ref())
	}
	if _, err := e.c.Apply(t.Context(), rc, cluster.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
}

package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/cluster/clustertest"
	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/kits"
)

func TestMain(m *testing.M) {
	code := m.Run()
	clustertest.Stop()
	os.Exit(code)
}

// labKit adds a kit of the user's with a service without data, which
// renders as a Deployment.
const labKit = `
lab:
  enable: true
  network: { subnet: 192.168.220.0/24 }
  cache: { image: ghcr.io/voidnxlabs/redis:latest, port: 6379, resources: { memory: 512m, cpus: 0.5, shmSize: 64m } }
`

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("berth.yaml", []byte(text), config.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type env struct {
	kc  string
	c   *cluster.Client
	dyn dynamic.Interface
	ns  string
}

func newEnv(t *testing.T) *env {
	kc := clustertest.Kubeconfig(t)
	c, err := cluster.Connect(kc)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("t-%s-%d", strings.ToLower(t.Name()), time.Now().UnixNano()%1e6)
	ns = strings.NewReplacer("/", "-", "_", "-").Replace(ns)
	e := &env{kc: kc, c: c, dyn: dyn, ns: ns}
	t.Cleanup(func() {
		_ = dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	// The GPU services ask for runtimeClassName nvidia; without the class
	// the API server forbids their pods. k3s makes it; `cluster bootstrap`
	// renders it for other clusters.
	rc2 := cluster.Object{"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
		"metadata": map[string]any{"name": "nvidia"}, "handler": "nvidia"}
	if _, err := c.Apply(t.Context(), &cluster.Manifest{Objects: []cluster.Object{rc2}}, cluster.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) render(t *testing.T, cfg *config.Config) *cluster.Manifest {
	t.Helper()
	m, err := cluster.Render(compile(t, cfg), cluster.Options{Namespace: e.ns, Secret: func(n string) (string, error) { return "pw-" + n, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func refs(chs []cluster.Change, a cluster.Action) []string {
	var out []string
	for _, c := range chs {
		if c.Action == a {
			out = append(out, c.Ref)
		}
	}
	sort.Strings(out)
	return out
}

func (e *env) exists(t *testing.T, gvr schema.GroupVersionResource, name string) bool {
	_, err := e.dyn.Resource(gvr).Namespace(e.ns).Get(t.Context(), name, metav1.GetOptions{})
	return err == nil
}

var (
	pvcGVR = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	stsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	rsGVR  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	podGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// poll waits for cond with a deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestApplySeed(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	seed := string(kits.Seed()) + labKit
	m := e.render(t, parse(t, seed))

	// Every object is accepted.
	chs, err := e.c.Apply(ctx, m, cluster.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(chs, cluster.Created); len(got) != len(m.Objects) {
		t.Fatalf("created %d of %d objects: %v", len(got), len(m.Objects), chs)
	}
	// The controller-manager acts on them: a Deployment gets a ReplicaSet,
	// a StatefulSet its pod (Pending: there is no kubelet).
	poll(t, "the ReplicaSet of lab-cache", func() bool {
		l, err := e.dyn.Resource(rsGVR).Namespace(e.ns).List(ctx, metav1.ListOptions{LabelSelector: cluster.LabelInstance + "=lab-cache"})
		return err == nil && len(l.Items) == 1
	})
	poll(t, "pod dev-postgres-0", func() bool { return e.exists(t, podGVR, "dev-postgres-0") })
	poll(t, "pod ml-ollama-0 (runtimeClassName nvidia, GPU limit)", func() bool { return e.exists(t, podGVR, "ml-ollama-0") })

	// A scheduler's complaint about a pod, as status must show it.
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Event",
		"metadata":       map[string]any{"name": "dev-postgres-0.test", "namespace": e.ns},
		"involvedObject": map[string]any{"kind": "Pod", "name": "dev-postgres-0", "namespace": e.ns},
		"type":           "Warning", "reason": "FailedScheduling", "message": "0/3 nodes are available",
	}}
	if _, err := e.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "events"}).Namespace(e.ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := e.c.Status(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range st.Workloads {
		if !w.Present || w.Replicas != 1 || w.Ready != 0 {
			t.Errorf("status of %s: %+v, want present, 1 replica, none ready (no kubelet)", w.Ref, w)
		}
		if w.Ref == "StatefulSet/dev-postgres" {
			if len(w.Pods) != 1 || w.Pods[0].Phase != "Pending" || !slices.Equal(w.Pods[0].Events, []string{"FailedScheduling: 0/3 nodes are available"}) {
				t.Errorf("status of dev-postgres's pods: %+v", w.Pods)
			}
		}
	}
	for _, c := range st.Claims {
		if !c.Present || c.Phase != "Pending" {
			t.Errorf("claim %s: %+v, want present and Pending (no Longhorn)", c.Name, c)
		}
	}

	// Again: nothing changes.
	chs, err = e.c.Apply(ctx, m, cluster.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(chs, cluster.Unchanged); len(got) != len(m.Objects) {
		t.Fatalf("second apply changed objects: %v", chs)
	}
	diff, err := e.c.Diff(ctx, m, cluster.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(diff, cluster.Unchanged); len(got) != len(m.Objects) || len(diff) != len(m.Objects) {
		t.Fatalf("diff after apply is not empty: %+v", diff)
	}

	// A port: only the objects that carry it change.
	moved := strings.Replace(seed, "port: 11434", "port: 11435", 1)
	m2 := e.render(t, parse(t, moved))
	want := []string{"NetworkPolicy/ml-network", "Service/ml-ollama", "StatefulSet/dev-chat-ui", "StatefulSet/ml-ollama"}
	diff, err = e.c.Diff(ctx, m2, cluster.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(diff, cluster.Changed); !slices.Equal(got, want) {
		t.Errorf("diff says %v change, want %v", got, want)
	}
	for _, d := range diff {
		if d.Ref == "Service/ml-ollama" && !slices.Contains(d.Fields, "spec.ports[0].port: 11434 -> 11435") {
			t.Errorf("diff of Service/ml-ollama: %v", d.Fields)
		}
	}
	chs, err = e.c.Apply(ctx, m2, cluster.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(chs, cluster.Changed); !slices.Equal(got, want) {
		t.Errorf("changing ollama's port changed %v, want %v", got, want)
	}

	// A removed service: its objects go, its claim stays.
	removed := strings.Replace(moved, "jupyter:\n    enable: true", "jupyter:\n    enable: false", 1)
	m3 := e.render(t, parse(t, removed))
	if _, err := e.c.Apply(ctx, m3, cluster.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	pruned, err := e.c.Prune(ctx, m3, cluster.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantPruned := []string{"Ingress/ml-jupyter", "Secret/jupyter-token", "Service/ml-jupyter", "StatefulSet/ml-jupyter"}
	if got := refs(pruned, cluster.Pruned); !slices.Equal(got, wantPruned) {
		t.Errorf("pruned %v, want %v", got, wantPruned)
	}
	if e.exists(t, stsGVR, "ml-jupyter") {
		t.Error("StatefulSet ml-jupyter is still there after prune")
	}
	if !e.exists(t, pvcGVR, "ml-jupyter-notebooks") {
		t.Fatal("prune removed the claim ml-jupyter-notebooks without --volumes")
	}
	pruned, err = e.c.Prune(ctx, m3, cluster.PruneOptions{Volumes: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(pruned, cluster.Pruned); !slices.Equal(got, []string{"PersistentVolumeClaim/ml-jupyter-notebooks"}) {
		t.Errorf("prune --volumes removed %v", got)
	}
}

func TestApplyConflict(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	m := e.render(t, parse(t, string(kits.Seed())))
	if _, err := e.c.Apply(ctx, m, cluster.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// Someone scales dev-postgres by hand, as `kubectl scale` does.
	_, err := e.dyn.Resource(stsGVR).Namespace(e.ns).Patch(ctx, "dev-postgres", types.MergePatchType,
		[]byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{FieldManager: "kubectl-scale"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Apply(ctx, m, cluster.ApplyOptions{})
	var ce *cluster.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("apply over a field of another manager: %v, want a ConflictError", err)
	}
	if ce.Ref != "StatefulSet/dev-postgres" || !strings.Contains(ce.Message, "kubectl-scale") || !strings.Contains(ce.Message, ".spec.replicas") {
		t.Errorf("conflict error does not name the object, the manager and the field: %v", err)
	}
	t.Log(err)
	chs, err := e.c.Apply(ctx, m, cluster.ApplyOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(chs, cluster.Changed); !slices.Equal(got, []string{"StatefulSet/dev-postgres"}) {
		t.Errorf("forced apply changed %v", got)
	}
}

func TestApplyImmutable(t *testing.T) {
	e := newEnv(t)
	cfg := parse(t, "project: p\ndev:\n  enable: true\n  postgres.enable: true\n")
	m := e.render(t, cfg)
	if _, err := e.c.Apply(t.Context(), m, cluster.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	m2, err := cluster.Render(compile(t, cfg), cluster.Options{Namespace: e.ns, AccessMode: "ReadWriteMany"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Apply(t.Context(), m2, cluster.ApplyOptions{})
	var ie *cluster.ImmutableError
	if !errors.As(err, &ie) || ie.Ref != "PersistentVolumeClaim/dev-postgres-data" {
		t.Fatalf("changing a claim's access mode: %v, want an ImmutableError for the claim", err)
	}
	t.Log(err)
}

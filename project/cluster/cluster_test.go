package cluster_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	kube "github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/cluster/clustertest"
	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/project/cluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	clustertest.Stop()
	os.Exit(code)
}

// labKit is a kit of the user's with two services without data, which
// render as Deployments (no GPU, no claim: they apply to a bare control
// plane). The subnet is never used: nothing here runs on an engine.
const labKit = `
lab:
  enable: true
  network: { subnet: 192.168.221.0/24 }
  cache: { image: ghcr.io/voidnxlabs/redis:latest, port: 6379, resources: { memory: 512m, cpus: 0.5, shmSize: 64m } }
  queue: { image: ghcr.io/voidnxlabs/valkey:latest, port: 6380, resources: { memory: 512m, cpus: 0.5, shmSize: 64m }, enable: %v }
`

// open makes a project of labKit (queue enabled or not) with its own state
// directory, bound to the cluster of o.
func open(t *testing.T, stateDir string, queue bool, o cluster.Options) *cluster.Cluster {
	t.Helper()
	cfg, err := config.Parse("berth.yaml", fmt.Appendf(nil, labKit, queue), config.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cluster.New(project.FromConfig(cfg, project.Options{StateDir: stateDir, Getenv: func(string) string { return "" }}), o)
}

func refs(m *kube.Manifest) []string {
	var out []string
	for _, o := range m.Objects {
		out = append(out, o.Ref())
	}
	return out
}

func TestRender(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := open(t, dir, true, cluster.Options{Namespace: "labns", Domain: "lab.example"})
	m, err := c.Render(ctx, cluster.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := refs(m)
	for _, want := range []string{"Namespace/labns", "Deployment/lab-cache", "Deployment/lab-queue", "Service/lab-queue"} {
		if !slices.Contains(got, want) {
			t.Errorf("render of the whole project lacks %s: %v", want, got)
		}
	}
	if m.Namespace != "labns" {
		t.Errorf("namespace %q, want labns", m.Namespace)
	}
	// Without Secrets the state directory is not even made.
	if _, err := os.Stat(filepath.Join(dir, "berth")); err == nil {
		t.Errorf("render without secrets made the project's state directory")
	}

	// A target renders its objects only.
	m, err = c.Render(ctx, cluster.RenderOptions{Targets: []string{"lab/cache"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(m); slices.Contains(got, "Deployment/lab-queue") || !slices.Contains(got, "Deployment/lab-cache") {
		t.Errorf("render of lab/cache: %v", got)
	}

	var te *config.TargetError
	if _, err := c.Render(ctx, cluster.RenderOptions{Targets: []string{"lab/cahce"}}); !errors.As(err, &te) {
		t.Errorf("render of an unknown target: %v, want a *config.TargetError", err)
	}
}

func TestRenderVolumeSizeAndSecrets(t *testing.T) {
	// The seed's postgres has a claim and a generated password.
	cfg, err := config.Parse("berth.yaml", []byte("dev:\n  enable: true\n  postgres: { enable: true }\n"), config.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := project.FromConfig(cfg, project.Options{StateDir: t.TempDir(), Getenv: func(string) string { return "" }})
	c := cluster.New(p, cluster.Options{VolumeSizes: map[string]string{"dev.postgres.dataPath": "77Gi"}})
	m, err := c.Render(t.Context(), cluster.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "storage: 77Gi") {
		t.Errorf("the claim is not sized 77Gi:\n%s", y)
	}
	if !strings.Contains(string(y), "<secret:") {
		t.Errorf("without Secrets the credentials are not placeholders")
	}
	m, err = c.Render(t.Context(), cluster.RenderOptions{Secrets: true})
	if err != nil {
		t.Fatal(err)
	}
	y, _ = m.YAML()
	sd, err := p.StateDir()
	if err != nil {
		t.Fatal(err)
	}
	pw, err := sd.Secret("postgres-password")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), "<secret:") || !strings.Contains(string(y), pw) {
		t.Errorf("with Secrets the rendered Secret does not hold the state directory's password")
	}
}

func TestApplyPruneWithTargets(t *testing.T) {
	c := open(t, t.TempDir(), true, cluster.Options{Kubeconfig: "/nonexistent"})
	_, err := c.Apply(t.Context(), cluster.ApplyOptions{Targets: []string{"lab/cache"}, Prune: true})
	if !errors.Is(err, project.ErrInvalidOption) || project.Hint(err) == "" {
		t.Fatalf("apply --prune with targets: %v, want ErrInvalidOption with a hint", err)
	}
}

func TestNoKubeconfig(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	if _, err := os.Stat(kube.K3sKubeconfig); err == nil {
		t.Skip("this machine has k3s's kubeconfig, which berth would use")
	}
	c := open(t, t.TempDir(), true, cluster.Options{Getenv: func(k string) string { return env[k] }})
	_, err := c.Status(t.Context(), nil)
	if !errors.Is(err, kube.ErrNoKubeconfig) || !strings.Contains(project.Hint(err), "--kubeconfig") {
		t.Fatalf("status without a kubeconfig: %v (hint %q)", err, project.Hint(err))
	}
}

func TestUnreachable(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "down.yaml")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- name: down
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: x}
contexts:
- name: down
  context: {cluster: down, user: u}
current-context: down
`), 0o600)
	c := open(t, t.TempDir(), true, cluster.Options{Kubeconfig: kc})
	_, err := c.Diff(t.Context(), cluster.DiffOptions{})
	if !errors.Is(err, kube.ErrUnreachable) || !strings.Contains(project.Hint(err), "is the cluster up?") {
		t.Fatalf("diff against a cluster that is down: %v (hint %q)", err, project.Hint(err))
	}
	res, err := c.Apply(t.Context(), cluster.ApplyOptions{})
	if !errors.Is(err, kube.ErrUnreachable) {
		t.Fatalf("apply against a cluster that is down: %v", err)
	}
	if res == nil || res.Objects == 0 || res.Changed != 0 {
		t.Errorf("a failed apply's result: %+v, want the rendered objects and no change", res)
	}
}

func TestServiceNotOne(t *testing.T) {
	c := open(t, t.TempDir(), true, cluster.Options{Kubeconfig: "/nonexistent"})
	err := c.Logs(t.Context(), "lab", kube.LogOptions{}, nil)
	if !errors.Is(err, project.ErrNotOne) || !strings.Contains(err.Error(), "lab names 2 services") {
		t.Fatalf("logs of a kit of two services: %v, want ErrNotOne", err)
	}
	err = c.Exec(t.Context(), "lab/nope", []string{"true"}, kube.ExecOptions{})
	var te *config.TargetError
	if !errors.As(err, &te) {
		t.Fatalf("exec in an unknown service: %v, want a *config.TargetError", err)
	}
}

// fakeCtr is a ctr stand-in that starts with no image; importing a
// tarball (which record writes as the line ctr's "images ls" prints for
// it) adds its line. The real import runs in the node test
// (cluster/nodetest).
func fakeCtr(t *testing.T) (ctr []string, imported string) {
	t.Helper()
	dir := t.TempDir()
	imported = filepath.Join(dir, "imported")
	script := filepath.Join(dir, "ctr")
	os.WriteFile(script, []byte(`#!/bin/sh
case "$*" in
*"images ls"*) echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"; cat `+imported+` 2>/dev/null || true ;;
*"images import"*) for a; do last=$a; done; cat "$last" >>`+imported+` ;;
esac
`), 0o755)
	return []string{script}, imported
}

// record stores a built image's record as `berth image build` leaves it.
func record(t *testing.T, stateDir, name, ref string) {
	t.Helper()
	dir := filepath.Join(stateDir, "images")
	os.MkdirAll(dir, 0o755)
	tar := filepath.Join(dir, name+".tar")
	digest := fmt.Sprintf("sha256:%064d", len(name))
	os.WriteFile(tar, []byte(ref+" application/vnd.oci.image.manifest.v1+json "+digest+" 1.0 MiB linux/amd64 -\n"), 0o644)
	rec := fmt.Sprintf(`{"name": %q, "ref": %q, "digest": %q, "tarball": %q}`, name, ref, digest, tar)
	if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	record(t, dir, "redis", "ghcr.io/voidnxlabs/redis:latest")
	record(t, dir, "unused", "berth/unused:1")
	ctr, imported := fakeCtr(t)
	c := open(t, dir, true, cluster.Options{})

	// Without names: the built images an enabled service uses.
	got, err := c.Load(ctx, cluster.LoadOptions{Node: &kube.NodeImages{Ctr: ctr}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Ref != "ghcr.io/voidnxlabs/redis:latest" || !got[0].Loaded {
		t.Fatalf("load of the images in use: %+v", got)
	}
	if b, _ := os.ReadFile(imported); strings.Count(string(b), "\n") != 1 {
		t.Errorf("ctr imported %q, want one tarball", b)
	}

	// Named images need no config: a bare project will do.
	bare := cluster.New(project.Bare(project.Options{StateDir: dir}), cluster.Options{})
	got, err = bare.Load(ctx, cluster.LoadOptions{Images: []string{"unused"}, Node: &kube.NodeImages{Ctr: ctr}})
	if err != nil || len(got) != 1 || got[0].Ref != "berth/unused:1" || !got[0].Loaded {
		t.Fatalf("load of a named image: %+v, %v", got, err)
	}
	// Again: the node holds it at that digest.
	got, err = bare.Load(ctx, cluster.LoadOptions{Images: []string{"unused"}, Node: &kube.NodeImages{Ctr: ctr}})
	if err != nil || len(got) != 1 || got[0].Loaded {
		t.Fatalf("second load of a named image: %+v, %v, want it present", got, err)
	}
	_, err = bare.Load(ctx, cluster.LoadOptions{Images: []string{"missing"}, Node: &kube.NodeImages{Ctr: ctr}})
	if !strings.Contains(project.Hint(err), "berth image build missing") {
		t.Fatalf("load of an image never built: %v (hint %q)", err, project.Hint(err))
	}
}

// TestAgainstControlPlane runs the use cases against a real API server
// (scripts/testcp.sh), in a namespace of its own.
func TestAgainstControlPlane(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	ctx := t.Context()
	dir := t.TempDir()
	o := cluster.Options{Kubeconfig: kc, Namespace: fmt.Sprintf("pc-%d", time.Now().UnixNano()%1e9)}
	c := open(t, dir, true, o)

	res, err := c.Apply(ctx, cluster.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != res.Objects || len(res.Changes) != res.Objects || res.Namespace != o.Namespace || res.Host == "" {
		t.Fatalf("first apply: %+v, want every object created", res)
	}
	res, err = c.Apply(ctx, cluster.ApplyOptions{})
	if err != nil || res.Changed != 0 {
		t.Fatalf("second apply: %+v, %v, want nothing changed", res, err)
	}
	d, err := c.Diff(ctx, cluster.DiffOptions{})
	if err != nil || d.Pending != 0 {
		t.Fatalf("diff after apply: %+v, %v, want nothing pending", d, err)
	}
	st, err := c.Status(ctx, []string{"lab/cache"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Workloads) != 1 || st.Workloads[0].Ref != "Deployment/lab-cache" || !st.Workloads[0].Present {
		t.Fatalf("status of lab/cache: %+v", st.Workloads)
	}

	// queue disabled: prune lists its objects, then removes them.
	c2 := open(t, dir, false, o)
	d, err = c2.Diff(ctx, cluster.DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := c2.Prune(ctx, cluster.PruneOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var pruned []string
	for _, ch := range pr {
		pruned = append(pruned, ch.Ref)
	}
	if !slices.Contains(pruned, "Deployment/lab-queue") || !slices.Contains(pruned, "Service/lab-queue") || slices.Contains(pruned, "Deployment/lab-cache") {
		t.Fatalf("prune --dry-run after disabling queue: %v", pruned)
	}
	if d.Pending != len(pr) {
		t.Errorf("diff counts %d pending changes, prune would make %d", d.Pending, len(pr))
	}
	if _, err := c2.Prune(ctx, cluster.PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	if pr, err := c2.Prune(ctx, cluster.PruneOptions{DryRun: true}); err != nil || len(pr) != 0 {
		t.Fatalf("prune after prune: %v, %v, want nothing", pr, err)
	}

	// queue has no pod any more: logs and exec say so, with a hint.
	err = c.Logs(ctx, "lab/queue", kube.LogOptions{}, nil)
	if !errors.Is(err, kube.ErrNoPod) || !strings.Contains(project.Hint(err), "cluster status") {
		t.Fatalf("logs of a pruned service: %v (hint %q)", err, project.Hint(err))
	}
	err = c.Exec(ctx, "lab/queue", []string{"true"}, kube.ExecOptions{})
	if !errors.Is(err, kube.ErrNoPod) {
		t.Fatalf("exec in a pruned service: %v", err)
	}
}

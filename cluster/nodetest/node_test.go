// Package nodetest runs the demo's kits as pods on a real one-node
// Kubernetes cluster (scripts/testcp.sh start-node): berth's own images,
// imported with `berth cluster load`, applied with `berth cluster apply`,
// answering from the node; then a config change and a prune.
package nodetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/cluster/clustertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	clustertest.StopNode()
	os.Exit(code)
}

// The demo's images that run on the cluster: built once by `make demo`
// (or here, cached by the builder) and shared. Caddy is not among them:
// on a cluster the ingress controller takes dev-proxy's place.
var demoImages = []string{"ollama", "jupyterlab", "postgres-dev", "code-server"}

const ns = "berth-nodetest"

type env struct {
	t     *testing.T
	root  string
	berth string
	kc    string
	cfg   string
	c     *cluster.Client
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// run runs berth with the test's config and kubeconfig and returns stdout.
func (e *env) run(args ...string) string {
	e.t.Helper()
	out, err := e.try(args...)
	if err != nil {
		e.t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) try(args ...string) (string, error) {
	cmd := exec.Command(e.berth, append([]string{"-f", e.cfg}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kc)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func (e *env) cluster(args ...string) string {
	e.t.Helper()
	return e.run(append([]string{"cluster", "--namespace", ns, "--storage-class", "local-path"}, args...)...)
}

// writeConfig writes the demo's config with the data paths of the test;
// extra is appended to the ml and dev kits' sections by key.
func (e *env) writeConfig(edit func(string) string) {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, "examples", "demo.yaml"))
	if err != nil {
		e.t.Fatal(err)
	}
	s := string(b)
	if edit != nil {
		if s = edit(s); s == string(b) {
			e.t.Fatal("the edit left examples/demo.yaml as it was: its text changed")
		}
	}
	if err := os.WriteFile(e.cfg, []byte(s), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func TestDemoOnNode(t *testing.T) {
	kc := clustertest.Node(t)
	e := &env{t: t, root: repoRoot(), kc: kc, cfg: filepath.Join(t.TempDir(), "berth.yaml")}
	e.berth = filepath.Join(t.TempDir(), "berth")
	if out, err := exec.Command("go", "build", "-o", e.berth, filepath.Join(e.root, "cmd", "berth")).CombinedOutput(); err != nil {
		t.Fatalf("building berth: %v\n%s", err, out)
	}
	e.writeConfig(nil)
	c, err := cluster.Connect(kc)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	ctx := t.Context()

	// The images: those `make demo` (or an earlier run) built are used as
	// they are (a warm rebuild of all four still takes minutes: npm,
	// pip, cgo); the missing ones are built. The node keeps what it
	// imported at the same digest.
	start := time.Now()
	var recipes []struct {
		Name   string `json:"name"`
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal([]byte(e.run("image", "list", "--json")), &recipes); err != nil {
		t.Fatalf("image list --json: %v", err)
	}
	missing := []string{}
	for _, img := range demoImages {
		built := false
		for _, r := range recipes {
			built = built || r.Name == img && r.Digest != ""
		}
		if !built {
			missing = append(missing, img)
		}
	}
	if len(missing) > 0 {
		e.run(append([]string{"image", "build"}, missing...)...)
	}
	t.Logf("image build of %v: %s", missing, time.Since(start).Round(time.Second))
	start = time.Now()
	out := e.cluster("load", "--containerd", clustertest.NodeSocket)
	for _, img := range demoImages {
		if !strings.Contains(out, "ghcr.io/voidnxlabs/"+img+":latest") {
			t.Errorf("cluster load did not load %s:\n%s", img, out)
		}
	}
	t.Logf("cluster load: %s", time.Since(start).Round(time.Second))

	// A namespace left by an earlier run would make the first apply a
	// no-op: the figure below is from nothing to every pod Ready (images
	// on the node, claims new).
	deleteNamespace(t, kc)

	start = time.Now()
	e.cluster("apply")
	st := waitReady(t, e, 15*time.Minute)
	applyToReady := time.Since(start)
	t.Logf("FIGURE cluster apply to all pods Ready: %s", applyToReady.Round(time.Second))
	for _, cl := range st.Claims {
		if cl.Phase != "Bound" {
			t.Errorf("claim %s is %s, want Bound (local-path)", cl.Name, cl.Phase)
		}
	}
	if len(st.Claims) == 0 {
		t.Error("no claims: the demo's services keep data")
	}

	// The Services answer from the node.
	if got := strings.TrimSpace(e.cluster("exec", "dev/postgres", "--", "psql", "-U", "postgres", "-tAc", "select 6*7")); got != "42" {
		t.Errorf("psql select 6*7 = %q, want 42", got)
	}
	_, err = e.try("cluster", "--namespace", ns, "--storage-class", "local-path", "exec", "dev/postgres", "--", "sh", "-c", "exit 7")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Errorf("cluster exec of 'exit 7': %v, want exit code 7", err)
	}
	ollama := "http://" + serviceIP(t, e, "ml-ollama") + ":11434"
	body := get(t, ollama+"/api/version")
	if !strings.Contains(body, `"version":"0.17.4"`) {
		t.Errorf("Ollama /api/version: %s", body)
	}
	generate(t, e, ollama)
	if body := get(t, "http://"+serviceIP(t, e, "ml-jupyter")+":8888/api"); !strings.Contains(body, `"version"`) {
		t.Errorf("Jupyter /api: %s", body)
	}
	if logs := e.cluster("logs", "dev/postgres", "--tail", "50"); !strings.Contains(logs, "ready to accept connections") {
		t.Errorf("cluster logs dev/postgres lacks the server's start line:\n%s", logs)
	}
	status := e.cluster("status")
	for _, w := range []string{"ml-ollama", "ml-jupyter", "dev-postgres", "dev-code-server"} {
		if !strings.Contains(status, w) {
			t.Errorf("cluster status lacks %s:\n%s", w, status)
		}
	}
	// dev-proxy's place: an Ingress per web service (no ingress
	// controller runs on the test node, so nothing serves them here).
	ings := list(t, kc, "/apis/networking.k8s.io/v1/namespaces/"+ns+"/ingresses")
	for _, w := range []string{`"ml-jupyter"`, `"dev-code-server"`} {
		if !strings.Contains(ings, w) {
			t.Errorf("Ingress %s missing: %.400s", w, ings)
		}
	}
	pols := list(t, kc, "/apis/networking.k8s.io/v1/namespaces/"+ns+"/networkpolicies")
	if !strings.Contains(pols, `"ml-network"`) || !strings.Contains(pols, `"dev-network"`) {
		t.Errorf("NetworkPolicies ml-network and dev-network missing: %.400s", pols)
	}
	t.Logf("FIGURE node memory: %s", nodeMemory(t))

	// A config change rolls exactly the affected workload.
	before := podNames(t, e, ctx)
	e.writeConfig(func(s string) string {
		return strings.Replace(s, "    gpu: none\n  comfyui.enable: false", "    gpu: none\n    env: {BERTH_NODETEST: \"1\"}\n  comfyui.enable: false", 1)
	})
	out = e.cluster("apply")
	if !strings.Contains(out, "ml-jupyter") {
		t.Errorf("apply after changing ml-jupyter's env changed:\n%s", out)
	}
	waitReady(t, e, 5*time.Minute)
	after := podNames(t, e, ctx)
	if len(before) != 4 {
		t.Errorf("pods before the change: %v, want one for each of the 4 services", before)
	}
	for inst, uid := range before {
		changed := after[inst] != uid
		if changed != (inst == "ml-jupyter") {
			t.Errorf("%s: pod %s → %s; only ml-jupyter's pod should be replaced", inst, uid, after[inst])
		}
	}

	// Prune removes a disabled service and keeps its claim.
	e.writeConfig(func(s string) string {
		return strings.Replace(s, "  code-server:\n", "  code-server:\n    enable: false\n", 1)
	})
	out = e.cluster("prune")
	if !strings.Contains(out, "pruned    StatefulSet/dev-code-server") {
		t.Errorf("prune after disabling code-server:\n%s", out)
	}
	if list(t, kc, "/apis/apps/v1/namespaces/"+ns+"/statefulsets/dev-code-server") != "" {
		t.Error("StatefulSet dev-code-server is still there after prune")
	}
	if !strings.Contains(list(t, kc, "/api/v1/namespaces/"+ns+"/persistentvolumeclaims"), "dev-code-server-") {
		t.Error("prune removed code-server's claim; it must keep it")
	}
}

// waitReady polls cluster status until every workload is ready.
func waitReady(t *testing.T, e *env, limit time.Duration) *cluster.Status {
	t.Helper()
	deadline := time.Now().Add(limit)
	var st cluster.Status
	for {
		out := e.cluster("status", "--json")
		st = cluster.Status{}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("cluster status --json: %v\n%s", err, out)
		}
		ready := len(st.Workloads) > 0
		for _, w := range st.Workloads {
			if !w.Present || w.Ready < w.Replicas || w.Updated < w.Replicas {
				ready = false
			}
		}
		if ready {
			return &st
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all pods Ready after %s:\n%s", limit, e.cluster("status"))
		}
		time.Sleep(2 * time.Second)
	}
}

// podNames maps each instance to its pod's UID.
func podNames(t *testing.T, e *env, ctx context.Context) map[string]string {
	t.Helper()
	pods, err := e.c.Pods(ctx, ns, "demo", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, p := range pods {
		if p.Phase != "Terminating" {
			m[p.Instance] = p.UID
		}
	}
	return m
}

// list GETs an API path with the admin credentials ("" when not found).
func list(t *testing.T, kc, path string) string {
	t.Helper()
	dir := filepath.Dir(kc)
	out, err := exec.Command("curl", "-s", "--fail", "--cacert", filepath.Join(dir, "pki", "ca.crt"),
		"--cert", filepath.Join(dir, "pki", "admin.crt"), "--key", filepath.Join(dir, "pki", "admin.key"),
		"https://10.244.0.1:"+fmt.Sprint(clustertest.NodePort)+path).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// deleteNamespace deletes the test's namespace, if there, and waits until
// it is gone (its pods stopped, its claims' volumes removed).
func deleteNamespace(t *testing.T, kc string) {
	t.Helper()
	dir := filepath.Dir(kc)
	url := "https://10.244.0.1:" + fmt.Sprint(clustertest.NodePort) + "/api/v1/namespaces/" + ns
	exec.Command("curl", "-s", "-X", "DELETE", "--cacert", filepath.Join(dir, "pki", "ca.crt"),
		"--cert", filepath.Join(dir, "pki", "admin.crt"), "--key", filepath.Join(dir, "pki", "admin.key"), url).Run()
	deadline := time.Now().Add(3 * time.Minute)
	for list(t, kc, "/api/v1/namespaces/"+ns) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still there 3 minutes after its deletion", ns)
		}
		time.Sleep(time.Second)
	}
}

func serviceIP(t *testing.T, e *env, name string) string {
	t.Helper()
	var svc struct {
		Spec struct {
			ClusterIP string `json:"clusterIP"`
		} `json:"spec"`
	}
	body := list(t, e.kc, "/api/v1/namespaces/"+ns+"/services/"+name)
	if err := json.Unmarshal([]byte(body), &svc); err != nil || svc.Spec.ClusterIP == "" {
		t.Fatalf("Service %s: %v %.200s", name, err, body)
	}
	return svc.Spec.ClusterIP
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	var last error
	for range 15 {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		last = err
		time.Sleep(time.Second)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

// generate registers the tiny GGUF model with Ollama over its Service and
// asks it for a few tokens.
func generate(t *testing.T, e *env, base string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "gguf")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(e.root, "internal", "fixture", "gguf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the gguf generator: %v\n%s", err, out)
	}
	model := filepath.Join(dir, "tiny.gguf")
	if out, err := exec.Command(bin, "-o", model).CombinedOutput(); err != nil {
		t.Fatalf("writing the model: %v\n%s", err, out)
	}
	data, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	c := &http.Client{Timeout: 5 * time.Minute}
	post := func(path string, body []byte) string {
		resp, err := c.Post(base+path, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %s %s", path, resp.Status, b)
		}
		return string(b)
	}
	post("/api/blobs/"+digest, data)
	post("/api/create", []byte(`{"model":"tiny","stream":false,"files":{"tiny.gguf":"`+digest+`"}}`))
	out := post("/api/generate", []byte(`{"model":"tiny","prompt":"hello","stream":false,"options":{"temperature":0,"seed":1,"num_predict":8}}`))
	var r struct {
		Response string `json:"response"`
		Done     bool   `json:"done"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || !r.Done || r.Response == "" {
		t.Errorf("generation: %v %s", err, out)
	}
}

// nodeMemory sums the node daemons' RSS and the pods' cgroup memory.
func nodeMemory(t *testing.T) string {
	t.Helper()
	var daemons int64
	for _, p := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "containerd"} {
		b, err := os.ReadFile(filepath.Join(clustertest.NodeDir, p+".pid"))
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(st), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				var kb int64
				fmt.Sscan(f[1], &kb)
				daemons += kb << 10
			}
		}
	}
	var pods int64
	if b, err := os.ReadFile("/sys/fs/cgroup/memory/berth-testnode/kubepods/memory.usage_in_bytes"); err == nil {
		fmt.Sscan(strings.TrimSpace(string(b)), &pods)
	}
	return fmt.Sprintf("daemons %d MiB RSS, pods %d MiB (cgroup usage incl. page cache)", daemons>>20, pods>>20)
}

package cluster_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/voidnxlabs/berth/cluster"
)

func TestKubeconfigOrder(t *testing.T) {
	if _, err := os.Stat(cluster.K3sKubeconfig); err == nil {
		t.Skip("this machine is a k3s server; the fallback order cannot be checked here")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	home := filepath.Join(dir, "home")
	for _, p := range []string{a, b, filepath.Join(home, ".kube", "config")} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cases := []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"/given", map[string]string{"KUBECONFIG": a}, "/given"},
		{"", map[string]string{"KUBECONFIG": filepath.Join(dir, "missing") + ":" + b, "HOME": home}, b},
		{"", map[string]string{"HOME": home}, filepath.Join(home, ".kube", "config")},
	}
	for _, c := range cases {
		got, err := cluster.Kubeconfig(c.flag, env(c.env))
		if err != nil || got != c.want {
			t.Errorf("Kubeconfig(%q, %v) = %q, %v; want %q", c.flag, c.env, got, err, c.want)
		}
	}
	for _, e := range []map[string]string{{"HOME": dir}, {"KUBECONFIG": filepath.Join(dir, "missing"), "HOME": home}} {
		if _, err := cluster.Kubeconfig("", env(e)); !errors.Is(err, cluster.ErrNoKubeconfig) {
			t.Errorf("Kubeconfig with %v: %v, want ErrNoKubeconfig", e, err)
		}
	}
}

// Package clustertest starts a real Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager, built from their Go modules by
// scripts/testcp.sh) on loopback for tests, once per test binary.
package clustertest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	once       sync.Once
	kubeconfig string
	startErr   error
	started    bool
	env        []string
)

func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "testcp.sh")
}

// Kubeconfig returns the kubeconfig of a running control plane, starting it
// on first use (the first run builds it: minutes). port picks the
// apiserver port and the run dir, so that test binaries running in
// parallel each get their own. With -short, or without one outside CI, the
// test is skipped; under CI=true a control plane that does not start fails
// the test.
func Kubeconfig(t testing.TB, port int) string {
	t.Helper()
	if v := os.Getenv("BERTH_TEST_KUBECONFIG"); v != "" {
		return v
	}
	if testing.Short() {
		t.Skip("needs a control plane; -short")
	}
	once.Do(func() {
		env = append(os.Environ(),
			fmt.Sprintf("BERTH_TESTCP_PORT=%d", port),
			fmt.Sprintf("BERTH_TESTCP_DIR=/tmp/berth-testcp-%d", port))
		cmd := exec.Command("bash", script(), "start")
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			startErr = fmt.Errorf("scripts/testcp.sh start: %v\n%s", err, stderr.String())
			return
		}
		started = true
		kubeconfig = strings.TrimSpace(string(out))
	})
	if startErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no control plane under CI: %v", startErr)
		}
		t.Skipf("no control plane: %v", startErr)
	}
	return kubeconfig
}

// Stop stops the control plane if this test binary started it. Call it
// from TestMain after m.Run.
func Stop() {
	if !started {
		return
	}
	cmd := exec.Command("bash", script(), "stop")
	cmd.Env = env
	_ = cmd.Run()
}

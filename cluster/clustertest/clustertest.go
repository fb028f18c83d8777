// Package clustertest starts a real Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager, built from their Go modules by
// scripts/testcp.sh) on loopback for tests, once per test binary.
package clustertest

import (
	"bytes"
	"fmt"
	"net"
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
	runDir     string
)

func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "testcp.sh")
}

// freePorts finds a port p such that p..p+3 are free on the loopback: the
// apiserver's, etcd's two and the controller-manager's.
func freePorts() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := p+3 < 65536
		for i := 1; ok && i <= 3; i++ {
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+i)); err != nil {
				ok = false
			} else {
				l.Close()
			}
		}
		if ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no four free ports in a row on 127.0.0.1")
}

// Kubeconfig returns the kubeconfig of a running control plane, starting it
// on first use (the first run builds it: minutes). Each test binary gets
// its own, on free ports, so that test runs never share one. With -short,
// or without one outside CI, the test is skipped; under CI=true a control
// plane that does not start fails the test.
//
// BERTH_TEST_KUBECONFIG names a running cluster to use instead.
func Kubeconfig(t testing.TB) string {
	t.Helper()
	if v := os.Getenv("BERTH_TEST_KUBECONFIG"); v != "" {
		return v
	}
	if testing.Short() {
		t.Skip("needs a control plane; -short")
	}
	once.Do(func() {
		port, err := freePorts()
		if err != nil {
			startErr = err
			return
		}
		runDir = fmt.Sprintf("%s/berth-testcp-%d", os.TempDir(), port)
		env = append(os.Environ(),
			fmt.Sprintf("BERTH_TESTCP_PORT=%d", port),
			"BERTH_TESTCP_DIR="+runDir)
		cmd := exec.Command("bash", script(), "start")
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		// Set before the start: a start that fails half way leaves
		// daemons that Stop must end.
		started = true
		out, err := cmd.Output()
		if err != nil {
			startErr = fmt.Errorf("scripts/testcp.sh start: %v\n%s", err, stderr.String())
			return
		}
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
	if cmd.Run() == nil {
		os.RemoveAll(runDir)
		os.Remove(runDir + ".lock")
	}
}

// NodePort is the apiserver port of the one-node cluster; the node's other
// daemons use the next eight (scripts/testcp.sh).
const NodePort = 26443

// NodeDir is the control plane's run dir of the one-node cluster: under
// /run beside the node's containerd socket (root daemons, gone at reboot),
// not in /tmp where a stale directory from another run could hide a step.
const NodeDir = "/run/berth-testnode/cp"

// NodeSocket is the node's containerd socket.
const NodeSocket = "/run/berth-testnode/containerd.sock"

var (
	nodeOnce    sync.Once
	nodeConfig  string
	nodeErr     error
	nodeStarted bool
)

// Node returns the kubeconfig of a one-node cluster on this machine
// (scripts/testcp.sh start-node: control plane, kubelet with containerd,
// bridge CNI, kube-proxy, local-path storage), starting it on first use;
// a node already running is reused. It needs root and BERTH_TEST_NODE=1.
// With -short, or when the node cannot be had outside CI, the test is
// skipped; under CI=true it fails.
func Node(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a one-node cluster; -short")
	}
	// Opt-in (make test-node): it needs the demo's images and the node's
	// binaries, more than make test's cold budget allows (README).
	if os.Getenv("BERTH_TEST_NODE") != "1" {
		t.Skip("the one-node cluster test is opt-in: make test-node, or BERTH_TEST_NODE=1 (see docs/cluster.md)")
	}
	nodeOnce.Do(func() {
		if os.Geteuid() != 0 {
			nodeErr = fmt.Errorf("the node needs root")
			return
		}
		cmd := exec.Command("bash", script(), "start-node")
		cmd.Env = append(os.Environ(), fmt.Sprintf("BERTH_TESTCP_PORT=%d", NodePort), "BERTH_TESTCP_DIR="+NodeDir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		nodeStarted = true
		out, err := cmd.Output()
		if err != nil {
			nodeErr = fmt.Errorf("scripts/testcp.sh start-node: %v\n%s", err, stderr.String())
			return
		}
		nodeConfig = strings.TrimSpace(string(out))
	})
	if nodeErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no one-node cluster under CI: %v", nodeErr)
		}
		t.Skipf("no one-node cluster: %v", nodeErr)
	}
	return nodeConfig
}

// StopNode stops the one-node cluster if this test binary started it (its
// images stay in the node's containerd for the next run). Call it from
// TestMain after m.Run.
func StopNode() {
	if !nodeStarted {
		return
	}
	cmd := exec.Command("bash", script(), "stop")
	cmd.Env = append(os.Environ(), fmt.Sprintf("BERTH_TESTCP_PORT=%d", NodePort), "BERTH_TESTCP_DIR="+NodeDir)
	cmd.Run()
}

// Package runtimetest is the conformance suite every runtime.Engine passes:
// the same behaviour checked against the fake and against real engines.
package runtimetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/health"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/runtime"
)

// Options adapts the suite to an engine.
type Options struct {
	// Subnets is a range the suite carves its networks from, one /24 per
	// test; pick a private range no other test package uses.
	Subnets netip.Prefix
	// Reachable says container addresses and published ports answer from
	// the host (true for engines that run processes).
	Reachable bool
	// CountsRestarts says the engine reports Container.RestartCount.
	CountsRestarts bool
}

// Run runs the suite. newEngine returns a fresh or shared engine; the
// suite cleans up what it creates.
func Run(t *testing.T, newEngine func(t *testing.T) runtime.Engine, opts Options) {
	if !opts.Subnets.IsValid() {
		opts.Subnets = netip.MustParsePrefix("10.213.0.0/16")
	}
	s := &suite{opts: opts, newEngine: newEngine}
	t.Run("Info", s.info)
	t.Run("Networks", s.networks)
	t.Run("ContainerLifecycle", s.lifecycle)
	t.Run("CreateErrors", s.createErrors)
	t.Run("AddressConflict", s.addressConflict)
	t.Run("NetworkInUse", s.networkInUse)
	t.Run("ConnectDisconnect", s.connect)
	t.Run("ExitCode", s.exitCode)
	t.Run("Exec", s.exec)
	t.Run("ExecTTY", s.execTTY)
	t.Run("ExecHealth", s.execHealth)
	t.Run("Logs", s.logs)
	t.Run("Resources", s.resources)
	t.Run("Stats", s.stats)
	t.Run("Restarts", s.restarts)
	t.Run("LoadImage", s.loadImage)
	t.Run("PullImage", s.pullImage)
}

type suite struct {
	opts      Options
	newEngine func(t *testing.T) runtime.Engine
	mu        sync.Mutex
	next      int
}

// env is one test's engine, name prefix and subnet.
type env struct {
	t      *testing.T
	e      runtime.Engine
	prefix string
	labels map[string]string
	subnet netip.Prefix
	image  string
}

func (s *suite) env(t *testing.T) *env {
	t.Helper()
	e := s.newEngine(t)
	b := make([]byte, 4)
	rand.Read(b)
	prefix := "berthtest-" + hex.EncodeToString(b)
	s.mu.Lock()
	s.next++
	n := s.next
	s.mu.Unlock()
	base := s.opts.Subnets.Masked().Addr().As4()
	base[2] += byte(n)
	ev := &env{
		t:      t,
		e:      e,
		prefix: prefix,
		labels: map[string]string{runtime.LabelProject: prefix},
		subnet: netip.PrefixFrom(netip.AddrFrom4(base), 24),
	}
	t.Cleanup(func() { Cleanup(t, e, ev.labels) })
	ev.image = fixture.Load(t, e)
	return ev
}

// Cleanup removes the containers, then the networks, that carry labels.
func Cleanup(t testing.TB, e runtime.Engine, labels map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := e.ListContainers(ctx, labels)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, c := range cs {
		if err := e.RemoveContainer(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	}
	ns, err := e.ListNetworks(ctx, labels)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, n := range ns {
		for id := range n.Containers {
			_ = e.Disconnect(ctx, id, n.ID)
		}
		if err := e.RemoveNetwork(ctx, n.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// addr returns host number n of the test's subnet.
func (ev *env) addr(n byte) netip.Addr {
	a := ev.subnet.Addr().As4()
	a[3] = n
	return netip.AddrFrom4(a)
}

func (ev *env) network(suffix string) runtime.NetworkSpec {
	ev.t.Helper()
	spec := runtime.NetworkSpec{Name: ev.prefix + "-" + suffix, Subnet: ev.subnet, Gateway: ev.addr(10), Labels: ev.labels}
	if _, err := ev.e.CreateNetwork(ev.t.Context(), spec); err != nil {
		ev.t.Fatalf("CreateNetwork: %v", err)
	}
	return spec
}

func (ev *env) spec(suffix, netw string, ip netip.Addr, args ...string) runtime.ContainerSpec {
	labels := map[string]string{runtime.LabelService: suffix}
	for k, v := range ev.labels {
		labels[k] = v
	}
	spec := runtime.ContainerSpec{Name: ev.prefix + "-" + suffix, Image: ev.image, Cmd: args, Labels: labels, Restart: "no"}
	if netw != "" {
		spec.Networks = []runtime.Endpoint{{Network: netw, IP: ip}}
	}
	return spec
}

func (ev *env) create(spec runtime.ContainerSpec) string {
	ev.t.Helper()
	id, err := ev.e.CreateContainer(ev.t.Context(), spec)
	if err != nil {
		ev.t.Fatalf("CreateContainer(%s): %v", spec.Name, err)
	}
	return id
}

func (ev *env) start(id string) {
	ev.t.Helper()
	if err := ev.e.StartContainer(ev.t.Context(), id); err != nil {
		ev.t.Fatalf("StartContainer: %v", err)
	}
}

func (ev *env) inspect(id string) runtime.Container {
	ev.t.Helper()
	c, err := ev.e.InspectContainer(ev.t.Context(), id)
	if err != nil {
		ev.t.Fatalf("InspectContainer: %v", err)
	}
	return c
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond) // polling interval, not a wait for state
	}
}

func (s *suite) info(t *testing.T) {
	e := s.newEngine(t)
	info, err := e.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name == "" || info.APIVersion == "" {
		t.Errorf("Info = %+v, want a name and an API version", info)
	}
	if len(info.GPUDrivers) == 0 {
		t.Errorf("Info = %+v, want the GPU request drivers it accepts", info)
	}
}

func (s *suite) networks(t *testing.T) {
	ev := s.env(t)
	ctx := t.Context()
	spec := ev.network("net")
	ns, err := ev.e.ListNetworks(ctx, ev.labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Name != spec.Name || ns[0].Subnet != spec.Subnet || ns[0].Gateway != spec.Gateway {
		t.Fatalf("ListNetworks = %+v, want one %s %s gw %s", ns, spec.Name, spec.Subnet, spec.Gateway)
	}
	if ns[0].Labels[runtime.LabelProject] != ev.prefix {
		t.Errorf("labels = %v, want %s=%s", ns[0].Labels, runtime.LabelProject, ev.prefix)
	}
	// The engine names the host's interface for the network; doctor's
	// firewall checks rely on it. (Podman with CNI makes the interface
	// with the network's first container, so it need not exist yet.)
	if ns[0].Bridge == "" {
		t.Errorf("ListNetworks reports no bridge for %s", spec.Name)
	}
	if _, err := ev.e.CreateNetwork(ctx, spec); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("CreateNetwork with a taken name: err = %v, want ErrConflict", err)
	}
	overlap := spec
	overlap.Name = ev.prefix + "-overlap"
	if _, err := ev.e.CreateNetwork(ctx, overlap); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("CreateNetwork with an overlapping subnet: err = %v, want ErrConflict", err)
	}
	if err := ev.e.RemoveNetwork(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if ns, _ := ev.e.ListNetworks(ctx, ev.labels); len(ns) != 0 {
		t.Errorf("after remove: %v", ns)
	}
	if err := ev.e.RemoveNetwork(ctx, spec.Name); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("RemoveNetwork of a missing network: err = %v, want ErrNotFound", err)
	}
}

func freePort(t *testing.T) uint16 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func (s *suite) lifecycle(t *testing.T) {
	ev := s.env(t)
	ctx := t.Context()
	netw := ev.network("net")
	spec := ev.spec("web", netw.Name, ev.addr(11))
	hostPort := freePort(t)
	spec.Ports = []runtime.Port{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hostPort, ContainerPort: fixture.Port, Protocol: "tcp"}}
	spec.Env = []string{"A=1", "B=2"}
	spec.Labels[runtime.LabelConfigHash] = "h1"
	id := ev.create(spec)

	c := ev.inspect(spec.Name)
	if c.ID != id || c.Name != spec.Name || c.State != runtime.StateCreated {
		t.Errorf("after create: id %s name %s state %s, want %s %s created", c.ID, c.Name, c.State, id, spec.Name)
	}
	if c.Labels[runtime.LabelConfigHash] != "h1" {
		t.Errorf("labels = %v", c.Labels)
	}
	img, err := ev.e.InspectImage(ctx, ev.image)
	if err != nil {
		t.Fatal(err)
	}
	if c.ImageID != img.ID || c.Image != ev.image {
		t.Errorf("image = %s (%s), want %s (%s)", c.Image, c.ImageID, ev.image, img.ID)
	}
	if got := c.Networks[netw.Name]; got != ev.addr(11) {
		t.Errorf("configured address = %v, want %v", got, ev.addr(11))
	}
	if len(c.Ports) != 1 || c.Ports[0] != spec.Ports[0] {
		t.Errorf("ports = %+v, want %+v", c.Ports, spec.Ports)
	}
	if _, err := ev.e.CreateContainer(ctx, spec); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("CreateContainer with a taken name: err = %v, want ErrConflict", err)
	}

	ev.start(id)
	c = ev.inspect(id)
	if c.State != runtime.StateRunning || c.StartedAt.IsZero() {
		t.Errorf("after start: state %s started %v", c.State, c.StartedAt)
	}
	if got := c.Networks[netw.Name]; got != ev.addr(11) {
		t.Errorf("address = %v, want %v", got, ev.addr(11))
	}
	if err := ev.e.StartContainer(ctx, id); err != nil {
		t.Errorf("starting a running container: %v", err)
	}
	cs, err := ev.e.ListContainers(ctx, map[string]string{runtime.LabelProject: ev.prefix, runtime.LabelService: "web"})
	if err != nil || len(cs) != 1 || cs[0].ID != id {
		t.Fatalf("ListContainers = %v, %v", cs, err)
	}
	if cs, _ := ev.e.ListContainers(ctx, map[string]string{runtime.LabelProject: ev.prefix, runtime.LabelService: "other"}); len(cs) != 0 {
		t.Errorf("ListContainers with another service = %v", cs)
	}
	if s.opts.Reachable {
		get(t, fmt.Sprintf("http://%s:%d/health", ev.addr(11), fixture.Port))
		get(t, fmt.Sprintf("http://127.0.0.1:%d/health", hostPort))
	}

	if err := ev.e.StopContainer(ctx, id, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if c := ev.inspect(id); c.State != runtime.StateExited {
		t.Errorf("after stop: state %s", c.State)
	}
	ev.start(id)
	if c := ev.inspect(id); c.State != runtime.StateRunning {
		t.Errorf("after restart: state %s", c.State)
	}
	if err := ev.e.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.e.InspectContainer(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("inspect after remove: err = %v, want ErrNotFound", err)
	}
	if err := ev.e.RemoveContainer(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("remove after remove: err = %v, want ErrNotFound", err)
	}
	if err := ev.e.StartContainer(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("start after remove: err = %v, want ErrNotFound", err)
	}
}

// get polls url until it answers 200: a fresh container needs a moment to
// listen.
func get(t *testing.T, url string) {
	t.Helper()
	var last error
	Eventually(t, 10*time.Second, fmt.Sprintf("GET %s: %v", url, &last), func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (s *suite) createErrors(t *testing.T) {
	ev := s.env(t)
	ctx := t.Context()
	spec := ev.spec("noimage", "", netip.Addr{})
	spec.Image = "berth-test-missing:never"
	if _, err := ev.e.CreateContainer(ctx, spec); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("create with a missing image: err = %v, want ErrNotFound", err)
	}
	spec = ev.spec("nonet", ev.prefix+"-missing", netip.Addr{})
	// Docker checks the network at start, the fake at create.
	id, err := ev.e.CreateContainer(ctx, spec)
	if err == nil {
		err = ev.e.StartContainer(ctx, id)
	}
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("create and start on a missing network: err = %v, want ErrNotFound", err)
	}
	if _, err := ev.e.InspectImage(ctx, "berth-test-missing:never"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("InspectImage of a missing image: err = %v, want ErrNotFound", err)
	}
}

func (s *suite) addressConflict(t *testing.T) {
	ev := s.env(t)
	ctx := t.Context()
	netw := ev.network("net")
	a := ev.create(ev.spec("a", netw.Name, ev.addr(20)))
	ev.start(a)
	// Engines differ in when they allocate a static address (create or
	// start); either must refuse a taken one as a conflict.
	id, err := ev.e.CreateContainer(ctx, ev.spec("b", netw.Name, ev.addr(20)))
	if err == nil {
		err = ev.e.StartContainer(ctx, id)
	}
	if !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("second container on %s: err = %v, want ErrConflict", ev.addr(20), err)
	}
}

func (s *suite) networkInUse(t *testing.T) {
	ev := s.env(t)
	ctx := t.Context()
	netw := ev.network("net")
	id := ev.create(ev.spec("a", netw.Name, ev.addr(11)))
	ev.start(id)
	if err := ev.e.RemoveNetwork(ctx, netw.Name); !errors.Is(err, runtime.ErrInUse) {
		t.Fatalf("removing a network in use: err = %v, want ErrInUse", err)
	}
	ns, err := ev.e.ListNetworks(ctx, ev.labels)
	if err != nil || len(ns) != 1 {
		t.Fatalf("ListNetworks = %v, %v", ns, err)
	}
	if got, ok := ns[0].Containers[id]; !ok || got != ev.addr(11) {
		t.Errorf("network containers = %v, want %s at %s", ns[0].Containers, id, ev.addr(11))
	}
	if err := ev.e.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := ev.e.RemoveNetwork(ctx, netw.Name); err != nil {
		t.Errorf("removing a network no longer in use: %v", err)
	}
}

func (s *suite) connect(t *testing.T) {
	ev := s.env(t)
	ctx := t.Context()
	first := ev.network("one")
	second := runtime.NetworkSpec{Name: ev.prefix + "-two", Labels: ev.labels}
	a := ev.subnet.Addr().As4()
	a[2] += 100 // the second network's subnet, away from other tests'
	second.Subnet = netip.PrefixFrom(netip.AddrFrom4(a), 24)
	a[3] = 10
	second.Gateway = netip.AddrFrom4(a)
	if _, err := ev.e.CreateNetwork(ctx, second); err != nil {
		t.Fatal(err)
	}
	spec := ev.spec("multi", first.Name, ev.addr(11))
	a[3] = 12
	ip2 := netip.AddrFrom4(a)
	spec.Networks = append(spec.Networks, runtime.Endpoint{Network: second.Name, IP: ip2})
	id := ev.create(spec)
	ev.start(id)
	c := ev.inspect(id)
	if c.Networks[first.Name] != ev.addr(11) || c.Networks[second.Name] != ip2 {
		t.Fatalf("networks = %v, want %s on %s and %s on %s", c.Networks, ev.addr(11), first.Name, ip2, second.Name)
	}
	if err := ev.e.Disconnect(ctx, id, second.Name); err != nil {
		t.Fatal(err)
	}
	if c := ev.inspect(id); len(c.Networks) != 1 {
		t.Errorf("after disconnect: %v", c.Networks)
	}
	if err := ev.e.Connect(ctx, id, runtime.Endpoint{Network: second.Name, IP: ip2}); err != nil {
		t.Fatal(err)
	}
	if c := ev.inspect(id); c.Networks[second.Name] != ip2 {
		t.Errorf("after connect: %v", c.Networks)
	}
	if err := ev.e.Connect(ctx, id, runtime.Endpoint{Network: second.Name, IP: ip2}); err == nil {
		t.Errorf("connecting twice: no error")
	}
}

func (s *suite) exitCode(t *testing.T) {
	ev := s.env(t)
	id := ev.create(ev.spec("exit", "", netip.Addr{}, "-exit", "3"))
	ev.start(id)
	var c runtime.Container
	Eventually(t, 20*time.Second, "container to exit", func() bool {
		c = ev.inspect(id)
		return c.State == runtime.StateExited
	})
	if c.ExitCode != 3 {
		t.Errorf("exit code = %d, want 3", c.ExitCode)
	}
}

func (s *suite) exec(t *testing.T) {
	ev := s.env(t)
	ctx := t.Context()
	id := ev.create(ev.spec("exec", "", netip.Addr{}))
	ev.start(id)
	var out, errOut bytes.Buffer
	code, err := ev.e.Exec(ctx, id, runtime.ExecOptions{
		Cmd:    []string{fixture.Binary, "-stdout", "to out", "-stderr", "to err", "-exit", "7"},
		Stdout: &out, Stderr: &errOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 || out.String() != "to out\n" || errOut.String() != "to err\n" {
		t.Errorf("exec = %d, stdout %q, stderr %q; want 7, %q, %q", code, out.String(), errOut.String(), "to out\n", "to err\n")
	}
	if _, err := ev.e.Exec(ctx, ev.prefix+"-missing", runtime.ExecOptions{Cmd: []string{"true"}}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("exec in a missing container: err = %v, want ErrNotFound", err)
	}
}

// execHealth runs berth's exec readiness check (health.Prober) against
// the engine: healthy when the command exits 0 inside the container, an
// error naming the exit code and output otherwise, and a clear error when
// the container is not running.
func (s *suite) execHealth(t *testing.T) {
	ev := s.env(t)
	spec := ev.spec("hx", "", netip.Addr{})
	spec.Mounts = []runtime.Mount{{Source: t.TempDir(), Target: "/data"}}
	id := ev.create(spec)
	probe := health.Prober(ev.e)
	h := &desired.Health{Kind: "exec", Container: spec.Name, Command: []string{fixture.Binary, "-stat", "/data"}, Timeout: 5 * time.Second}
	if err := probe(t.Context(), netip.Addr{}, h); err == nil {
		t.Errorf("exec check of a created, not started container passed")
	}
	ev.start(id)
	if err := probe(t.Context(), netip.Addr{}, h); err != nil {
		t.Errorf("exec check of /data: %v, want healthy", err)
	}
	bad := *h
	bad.Command = []string{fixture.Binary, "-stat", "/missing"}
	if err := probe(t.Context(), netip.Addr{}, &bad); err == nil || !strings.Contains(err.Error(), "exited 1") {
		t.Errorf("exec check of a missing path: err = %v, want exited 1", err)
	}
}

func (s *suite) execTTY(t *testing.T) {
	ev := s.env(t)
	id := ev.create(ev.spec("tty", "", netip.Addr{}))
	ev.start(id)
	resize := make(chan [2]uint, 1)
	resize <- [2]uint{40, 120}
	var out bytes.Buffer
	code, err := ev.e.Exec(t.Context(), id, runtime.ExecOptions{
		Cmd:    []string{fixture.Binary, "-stdout", "over a tty", "-exit", "0"},
		TTY:    true,
		Stdout: &out,
		Resize: resize,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(out.String(), "over a tty") {
		t.Errorf("exec with tty = %d, %q", code, out.String())
	}
	// Stdin reaches the process and its output comes back.
	out.Reset()
	code, err = ev.e.Exec(t.Context(), id, runtime.ExecOptions{
		Cmd:    []string{fixture.Binary, "-cat"},
		Stdin:  strings.NewReader("typed input\n"),
		Stdout: &out,
	})
	if err != nil || code != 0 || out.String() != "typed input\n" {
		t.Errorf("exec with stdin = %d, %q, %v", code, out.String(), err)
	}
}

func (s *suite) logs(t *testing.T) {
	ev := s.env(t)
	id := ev.create(ev.spec("logs", "", netip.Addr{}, "-stdout", "hello out", "-stderr", "hello err"))
	ev.start(id)
	var out, errOut bytes.Buffer
	Eventually(t, 10*time.Second, "logs to show both lines", func() bool {
		out.Reset()
		errOut.Reset()
		if err := ev.e.Logs(t.Context(), id, runtime.LogOptions{Tail: -1}, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		return out.Len() > 0 && errOut.Len() > 0
	})
	if out.String() != "hello out\n" || errOut.String() != "hello err\n" {
		t.Errorf("logs: stdout %q, stderr %q", out.String(), errOut.String())
	}
	// Follow returns when the context ends.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := ev.e.Logs(ctx, id, runtime.LogOptions{Tail: 1, Follow: true}, io.Discard, io.Discard); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("following logs: %v", err)
	}
}

func (s *suite) resources(t *testing.T) {
	ev := s.env(t)
	spec := ev.spec("res", "", netip.Addr{})
	spec.Resources = runtime.Resources{MemoryBytes: 64 << 20, NanoCPUs: 500_000_000, ShmBytes: 32 << 20, PidsLimit: 100}
	spec.Ulimits = []runtime.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}}
	spec.Mounts = []runtime.Mount{{Source: t.TempDir(), Target: "/data"}}
	spec.Restart = "unless-stopped"
	spec.Init = true
	spec.Devices = []runtime.Device{{Host: "/dev/null", Container: "/dev/berth-null", Permissions: "rwm"}}
	spec.DeviceCgroupRules = []string{"c 1:3 rwm"}
	spec.GroupAdd = []string{"44"}
	spec.Healthcheck = &runtime.Healthcheck{Test: []string{"CMD", fixture.Binary, "-stat", "/data"}, Interval: time.Second, Timeout: time.Second, Retries: 3}
	spec.StopTimeout = 3 * time.Second
	id := ev.create(spec)
	c := ev.inspect(id)
	if c.Resources != spec.Resources {
		t.Errorf("resources = %+v, want %+v", c.Resources, spec.Resources)
	}
	if len(c.Mounts) != 1 || c.Mounts[0] != spec.Mounts[0] {
		t.Errorf("mounts = %+v, want %+v", c.Mounts, spec.Mounts)
	}
	ev.start(id)
	if c := ev.inspect(id); c.State != runtime.StateRunning {
		t.Errorf("state = %s", c.State)
	}
	for _, path := range []string{"/data", "/dev/berth-null"} {
		code, err := ev.e.Exec(t.Context(), id, runtime.ExecOptions{Cmd: []string{fixture.Binary, "-stat", path}})
		if err != nil || code != 0 {
			t.Errorf("%s in the container: exit %d, %v", path, code, err)
		}
	}
	if code, _ := ev.e.Exec(t.Context(), id, runtime.ExecOptions{Cmd: []string{fixture.Binary, "-stat", "/nonexistent"}}); code != 1 {
		t.Errorf("-stat of a missing path: exit %d, want 1", code)
	}
}

func (s *suite) loadImage(t *testing.T) {
	ev := s.env(t)
	img := fixture.Image(t, ev.prefix)
	ref := ev.prefix + ":load"
	id := fixture.LoadAs(t, ev.e, img, ref)
	want, _ := img.ConfigName()
	if id != want.String() {
		t.Errorf("loaded image ID = %s, want %s", id, want)
	}
	got, err := ev.e.InspectImage(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tag := range got.RepoTags {
		found = found || tag == ref
	}
	if !found {
		t.Errorf("RepoTags = %v, want %s among them", got.RepoTags, ref)
	}

	// An image in use stays; once unused it goes.
	spec := ev.spec("user", "", netip.Addr{})
	spec.Image = ref
	cid := ev.create(spec)
	if err := ev.e.RemoveImage(t.Context(), ref); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("removing an image in use: err = %v, want ErrConflict", err)
	}
	if err := ev.e.RemoveContainer(t.Context(), cid); err != nil {
		t.Fatal(err)
	}
	if err := ev.e.RemoveImage(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.e.InspectImage(t.Context(), ref); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("after remove: err = %v, want ErrNotFound", err)
	}
	if err := ev.e.RemoveImage(t.Context(), ref); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("removing a missing image: err = %v, want ErrNotFound", err)
	}
}

// pullImage covers the pull path with a registry on loopback, which
// engines reach over plain HTTP.
func (s *suite) pullImage(t *testing.T) {
	ev := s.env(t)
	reg := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg.Listener = l
	reg.Start()
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	ref := host + "/berth-test/fixture:" + ev.prefix
	img := fixture.Image(t, "pull-"+ev.prefix)
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	var events []runtime.ProgressEvent
	if err := ev.e.PullImage(t.Context(), ref, func(p runtime.ProgressEvent) { events = append(events, p) }); err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Errorf("no progress events")
	}
	got, err := ev.e.InspectImage(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.ConfigName()
	if got.ID != want.String() {
		t.Errorf("pulled image ID = %s, want %s", got.ID, want)
	}
	if err := ev.e.RemoveImage(t.Context(), ref); err != nil {
		t.Errorf("removing the pulled image: %v", err)
	}
	missing := host + "/berth-test/absent:none"
	if err := ev.e.PullImage(t.Context(), missing, nil); err == nil {
		t.Errorf("pulling %s: no error", missing)
	}
}

// stats reads a running container's resource use, for engines with the
// StatsReader capability: CPU time and memory that a running Go program
// must have, at least its one process, a CPU time that does not go back,
// and ErrNotRunning once it has stopped.
func (s *suite) stats(t *testing.T) {
	ev := s.env(t)
	sr, ok := ev.e.(runtime.StatsReader)
	if !ok {
		t.Skip("the engine does not report resource use (no runtime.StatsReader)")
	}
	id := ev.create(ev.spec("stats", "", netip.Addr{}))
	ev.start(id)
	var first runtime.Stats
	Eventually(t, 20*time.Second, "a sample with CPU time and memory", func() bool {
		st, err := sr.Stats(t.Context(), id)
		if err != nil {
			t.Logf("Stats: %v", err)
			return false
		}
		first = st
		return st.CPUSeconds > 0 && st.MemoryBytes > 0 && st.PIDs >= 1
	})
	if first.MemoryBytes > 1<<30 {
		t.Errorf("a small Go server uses %d bytes: the page cache or the limit was counted", first.MemoryBytes)
	}
	second, err := sr.Stats(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if second.CPUSeconds < first.CPUSeconds {
		t.Errorf("CPU time went back: %v then %v", first.CPUSeconds, second.CPUSeconds)
	}
	if err := ev.e.StopContainer(t.Context(), id, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := sr.Stats(t.Context(), id); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("Stats of a stopped container: %v, want ErrNotRunning", err)
	}
	if _, err := sr.Stats(t.Context(), ev.prefix+"-missing"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Stats of a missing container: %v, want ErrNotFound", err)
	}
}

// restarts lets the engine restart a failing container under its policy
// and checks that it counts the restarts.
func (s *suite) restarts(t *testing.T) {
	if !s.opts.CountsRestarts {
		t.Skip("the engine does not count restarts")
	}
	ev := s.env(t)
	spec := ev.spec("restarts", "", netip.Addr{}, "-exit", "1")
	spec.Restart = "on-failure"
	id := ev.create(spec)
	if c := ev.inspect(id); c.RestartCount != 0 {
		t.Errorf("a new container has RestartCount %d", c.RestartCount)
	}
	ev.start(id)
	Eventually(t, 30*time.Second, "the engine to restart the failing container", func() bool {
		return ev.inspect(id).RestartCount >= 1
	})
}

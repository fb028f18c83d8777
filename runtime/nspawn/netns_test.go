package nspawn_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
)

// TestNetworkIsolation (issue 14, row 10) runs in a network namespace of
// its own (unshare -n), so that its forwarding, firewall and sysctls are
// not the host's. Addresses: 10.213.7.0/24 for the kit, 10.213.8.0/24
// between the namespace and a second one, "outside", that plays another
// machine on the LAN; no other test uses 10.213.0.0/16.
//
// It checks that a loopback-published port works for the host and is
// DNATed in OUTPUT only, that a host on the LAN with a route to the kit
// cannot open a connection into it, and that removing the last network
// puts ip_forward and the firewall back as they were.
func TestNetworkIsolation(t *testing.T) {
	if os.Getenv("BERTH_TEST_NETNS") == "" {
		engine(t) // skips or fails as the other engine tests do
		cmd := exec.CommandContext(t.Context(), "unshare", "-n", "--", os.Args[0], "-test.run=^TestNetworkIsolation$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "BERTH_TEST_NETNS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestNetworkIsolation") {
			t.Fatalf("in a network namespace: %v\n%s", err, out)
		}
		return
	}
	ctx := t.Context()
	sh := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	sysctl := func() string {
		b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return strings.TrimSpace(string(b))
	}
	sh("ip", "link", "set", "lo", "up")
	// A new namespace may inherit the host's setting; this one starts
	// as a host that does not forward.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	fwd0, rules0 := sysctl(), sh("iptables-save")

	e := engine(t)
	ref := fixture.Load(t, e)
	labels := map[string]string{runtime.LabelProject: "berthtest-iso"}
	t.Cleanup(func() { runtimetest.Cleanup(t, e, labels) })
	if _, err := e.CreateNetwork(ctx, runtime.NetworkSpec{Name: "berthtest-iso", Subnet: netip.MustParsePrefix("10.213.7.0/24"), Gateway: netip.MustParseAddr("10.213.7.1"), Labels: labels}); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("10.213.7.11")
	// A free loopback port, never a fixed one: a user's stack or another
	// test may hold any fixed port.
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(pl.Addr().(*net.TCPAddr).Port)
	pl.Close()
	spec := runtime.ContainerSpec{
		Name: "berthtest-iso", Image: ref, Labels: labels,
		Networks: []runtime.Endpoint{{Network: "berthtest-iso", IP: ip}},
		Ports:    []runtime.Port{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port, ContainerPort: 8080, Protocol: "tcp"}},
	}
	id, err := e.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	runtimetest.Eventually(t, 20*time.Second, "the loopback-published port to answer", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if pre := sh("iptables", "-t", "nat", "-S", "PREROUTING"); strings.Contains(pre, ip.String()) {
		t.Errorf("a loopback port is DNATed for traffic from elsewhere:\n%s", pre)
	}
	if out := sh("iptables", "-t", "nat", "-S", "OUTPUT"); !strings.Contains(out, ip.String()+":8080") {
		t.Errorf("no OUTPUT DNAT for the published port:\n%s", out)
	}

	// "outside": a LAN host with a route to the kit through this one.
	var r [3]byte
	rand.Read(r[:])
	out := "berthtest-out-" + hex.EncodeToString(r[:])
	sh("ip", "netns", "add", out)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", out).Run() })
	veth := "bto" + hex.EncodeToString(r[:])
	sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", out)
	sh("ip", "addr", "add", "10.213.8.1/24", "dev", veth)
	sh("ip", "link", "set", veth, "up")
	sh("ip", "-n", out, "addr", "add", "10.213.8.2/24", "dev", "eth0")
	sh("ip", "-n", out, "link", "set", "eth0", "up")
	sh("ip", "-n", out, "link", "set", "lo", "up")
	sh("ip", "-n", out, "route", "add", "10.213.7.0/24", "via", "10.213.8.1")
	dial := func(addr string) error {
		host, port, _ := net.SplitHostPort(addr)
		return exec.Command("ip", "netns", "exec", out, "timeout", "3", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port)).Run()
	}
	// The path works: the outside reaches a listener on this host.
	ln, err := net.Listen("tcp", "10.213.8.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if err := dial(ln.Addr().String()); err != nil {
		t.Fatalf("the outside namespace cannot reach this one: %v", err)
	}
	if err := dial(ip.String() + ":8080"); err == nil {
		t.Errorf("a host on the LAN opened a connection into the kit")
	}
	if got := sysctl(); got != "1" {
		t.Errorf("ip_forward is %s while a kit runs", got)
	}

	// A machine that sends to 127.0.0.1 through its interface (root in a
	// machine can, with a raw socket; here its routes are changed from
	// outside to the same effect) must not reach a service that listens
	// on the host's loopback only, which route_localnet on the bridge
	// would let through (CVE-2020-8558). UDP needs no answer, so one
	// datagram that arrives is the harm.
	hostOnly, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostOnly.Close()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, from, err := hostOnly.ReadFrom(buf)
		if err == nil {
			got <- fmt.Sprintf("%q from %s", buf[:n], from)
		}
	}()
	mns := "berth-" + id[:16]
	sh("ip", "netns", "exec", mns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet")
	sh("ip", "-n", mns, "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local")
	exec.Command("ip", "-n", mns, "route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local").Run()
	sh("ip", "-n", mns, "route", "add", "127.0.0.0/8", "via", "10.213.7.1", "dev", "eth0")
	_, hp, _ := net.SplitHostPort(hostOnly.LocalAddr().String())
	for range 3 {
		sh("ip", "netns", "exec", mns, "bash", "-c", "echo from-the-kit > /dev/udp/127.0.0.1/"+hp)
	}
	select {
	case what := <-got:
		t.Errorf("a machine reached a service on the host's loopback: %s", what)
	case <-time.After(2 * time.Second):
	}

	if err := e.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveNetwork(ctx, "berthtest-iso"); err != nil {
		t.Fatal(err)
	}
	if got := sysctl(); got != fwd0 {
		t.Errorf("ip_forward is %s after the last network went, was %s", got, fwd0)
	}
	if got := sh("iptables-save"); strings.Contains(got, "berth") || strings.Contains(got, "BERTH") {
		t.Errorf("rules left after the last network went:\n%s\nbefore:\n%s", got, rules0)
	}
}

package doctor_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/doctor"
	"github.com/voidnxlabs/berth/gpu/gputest"
	"github.com/voidnxlabs/berth/runtime"
)

// kits are the subnets every fake host is checked for: ml is berth's own
// network (its bridge exists), dev is free, lab collides with the LAN the
// fake hosts route 192.168.2.0/24 to, and vpn with an interface address.
var kits = []doctor.Subnet{
	{Kit: "ml", Prefix: netip.MustParsePrefix("192.168.200.0/24"), Bridge: "br-3f2a9c1d7e5b"},
	{Kit: "dev", Prefix: netip.MustParsePrefix("192.168.210.0/24")},
	{Kit: "lab", Prefix: netip.MustParsePrefix("192.168.2.0/24")},
	{Kit: "vpn", Prefix: netip.MustParsePrefix("10.8.0.0/16")},
}

func addrs() ([]doctor.IfaceAddr, error) {
	return []doctor.IfaceAddr{
		{Iface: "lo", Prefix: netip.MustParsePrefix("127.0.0.1/8")},
		{Iface: "enp5s0", Prefix: netip.MustParsePrefix("192.168.2.17/24")},
		{Iface: "wg0", Prefix: netip.MustParsePrefix("10.8.0.2/24")},
		{Iface: "br-3f2a9c1d7e5b", Prefix: netip.MustParsePrefix("192.168.200.10/24")},
	}, nil
}

func engine(info runtime.Info) func(context.Context) (runtime.Info, error) {
	return func(context.Context) (runtime.Info, error) { return info, nil }
}

// TestNetworks checks the kits' subnets and NAT on a fake host whose
// iptables shows berth's ml network masqueraded.
func TestNetworks(t *testing.T) {
	rep := doctor.Run(t.Context(), doctor.Options{Subnets: kits, Host: gputest.Host(t, "nvidia-cdi"), Addrs: addrs})
	gputest.Golden(t, filepath.Join("testdata", "networks.txt"), rep.String())
	h := gputest.Host(t, "amd") // no iptables
	rep = doctor.Run(t.Context(), doctor.Options{Subnets: kits[:2], Host: h, Addrs: addrs})
	gputest.Golden(t, filepath.Join("testdata", "networks-nat-unknown.txt"), rep.String())
}

// TestHosts records the GPU findings on every fake host, with a Docker
// engine that has CDI enabled and no nvidia runtime.
func TestHosts(t *testing.T) {
	for _, name := range gputest.Names(t) {
		t.Run(name, func(t *testing.T) {
			rep := doctor.Run(t.Context(), doctor.Options{
				Engine:  engine(runtime.Info{Name: "docker", Version: "20.10.24", APIVersion: "1.41", CDIEnabled: true, GPUDrivers: []string{"nvidia", "cdi"}}),
				Host:    gputest.Host(t, name),
				GPU:     true,
				WantGPU: name == "none",
			})
			gputest.Golden(t, filepath.Join("testdata", name+".txt"), rep.String())
			js, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			gputest.Golden(t, filepath.Join("testdata", name+".json"), string(js)+"\n")
			if wantFail := name != "nvidia-cdi" && name != "amd" && name != "intel-igpu"; rep.Failed() != wantFail {
				t.Errorf("Failed() = %v, want %v", rep.Failed(), wantFail)
			}
		})
	}
}

func TestEngineDown(t *testing.T) {
	rep := doctor.Run(t.Context(), doctor.Options{
		Engine: func(context.Context) (runtime.Info, error) { return runtime.Info{}, runtime.ErrUnreachable },
	})
	if len(rep.Findings) != 1 || rep.Findings[0].Status != doctor.Fail || rep.Findings[0].Fix == "" {
		t.Fatalf("findings = %+v", rep.Findings)
	}
}

// TestPorts listens for real: one port taken by the test, one free.
func TestPorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := netip.MustParseAddrPort(l.Addr().String())
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := netip.MustParseAddrPort(free.Addr().String()).Port()
	free.Close()
	rep := doctor.Run(t.Context(), doctor.Options{Ports: []doctor.Port{
		{Name: "ml-ollama", Addr: taken.Addr(), Port: taken.Port()},
		{Name: "dev-postgres", Addr: taken.Addr(), Port: freePort},
		{Name: "dev-proxy", Addr: netip.MustParseAddr("192.0.2.1"), Port: 80},
	}})
	for _, f := range rep.Findings {
		switch {
		case strings.Contains(f.Detail, "ml-ollama"):
			if f.Status != doctor.Fail || !strings.Contains(f.Detail, "in use") {
				t.Errorf("taken port: %+v", f)
			}
		case strings.Contains(f.Detail, "dev-postgres"):
			if f.Status != doctor.OK {
				t.Errorf("free port: %+v", f)
			}
		case strings.Contains(f.Check, "192.0.2.1"):
			if f.Status != doctor.Fail || !strings.Contains(f.Detail, "not an address of this host") {
				t.Errorf("foreign address: %+v", f)
			}
		default:
			t.Errorf("unexpected finding %+v", f)
		}
	}
	if len(rep.Findings) != 3 {
		t.Errorf("findings = %+v", rep.Findings)
	}
}

func TestDisk(t *testing.T) {
	const gib = 1 << 30
	space := map[string][2]uint64{"/a": {500 << 20, 100 * gib}, "/b": {3 * gib, 100 * gib}, "/c": {200 * gib, 1000 * gib}}
	rep := doctor.Run(t.Context(), doctor.Options{
		Paths: []doctor.Path{{Name: "state", Path: "/c"}, {Name: "ml.ollama.modelsPath", Path: "/a"}, {Name: "dev.postgres.dataPath", Path: "/b"}, {Name: "broken", Path: "/d"}},
		Statfs: func(p string) (uint64, uint64, error) {
			s, ok := space[p]
			if !ok {
				return 0, 0, errors.New("no such file system")
			}
			return s[0], s[1], nil
		},
	})
	gputest.Golden(t, filepath.Join("testdata", "disk.txt"), rep.String())

	// The real statfs, on a path that does not exist yet: its parent counts.
	rep = doctor.Run(t.Context(), doctor.Options{Paths: []doctor.Path{{Name: "state", Path: filepath.Join(t.TempDir(), "not", "yet")}}})
	if f := rep.Findings[0]; f.Status == doctor.Warn && strings.Contains(f.Detail, "reading") {
		t.Errorf("statfs of a path to be created: %+v", f)
	}
}

func TestNATUnknownAndMissing(t *testing.T) {
	h := gputest.Host(t, "nvidia-cdi")
	h.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
		return []byte("-P POSTROUTING ACCEPT\n"), nil
	}
	rep := doctor.Run(t.Context(), doctor.Options{Host: h, Subnets: kits[:2], Addrs: addrs})
	gputest.Golden(t, filepath.Join("testdata", "nat-missing.txt"), rep.String())
}

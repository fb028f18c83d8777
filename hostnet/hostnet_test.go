package hostnet_test

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/hostnet"
)

func TestParseRoutes(t *testing.T) {
	const table = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
docker0	000011AC	00000000	0001	0	0	0	0000FFFF	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
lo	0000007F	00000000	0001	0	0	0	000000FF	0	0	0
`
	got, err := hostnet.ParseRoutes(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	want := []hostnet.Network{
		{Iface: "docker0", Prefix: netip.MustParsePrefix("172.17.0.0/16")},
		{Iface: "eth0", Prefix: netip.MustParsePrefix("192.0.2.0/24")},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseRoutes = %v, want %v", got, want)
	}
}

// TestListSeesThisHostsRoutes compares List with what iproute2 says about
// this host: every IPv4 route but the default one must be in it.
func TestListSeesThisHostsRoutes(t *testing.T) {
	out, err := exec.Command("ip", "-4", "-o", "route", "show", "table", "main").Output()
	if err != nil {
		t.Skipf("ip route: %v", err)
	}
	nets, err := hostnet.List()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] == "default" || f[1] != "dev" {
			continue
		}
		p, err := netip.ParsePrefix(f[0])
		if err != nil {
			p, err = netip.ParsePrefix(f[0] + "/32")
			if err != nil {
				continue
			}
		}
		found := false
		for _, n := range nets {
			found = found || (n.Prefix == p && n.Iface == f[2])
		}
		if !found {
			t.Errorf("route %s dev %s missing from List() = %v", p, f[2], nets)
		}
		checked++
	}
	if checked == 0 {
		t.Skip("this host has no route but the default one")
	}
}

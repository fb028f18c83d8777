package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

func testWorkload(n int) Workload {
	return Workload{Name: "bbtest" + string(rune('0'+n)), N: n, Subnet: netip.MustParsePrefix("10.219.9.0/24"), Image: "berth-fixture:0123456789ab"}
}

// The generated berth.yaml compiles to N containers at the workload's
// addresses on its one network.
func TestBerthYAMLCompiles(t *testing.T) {
	w := testWorkload(3)
	st, err := w.Desired()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Networks) != 1 || st.Networks[0].Spec.Name != w.Network() || st.Networks[0].Spec.Subnet != w.Subnet || st.Networks[0].Spec.Gateway != w.Gateway() {
		t.Fatalf("networks = %+v, want one %s on %s via %s", st.Networks, w.Network(), w.Subnet, w.Gateway())
	}
	if len(st.Containers) != w.N {
		t.Fatalf("%d containers, want %d", len(st.Containers), w.N)
	}
	for i, c := range st.Containers {
		s := c.Spec
		if s.Name != w.Container(i) || s.Image != w.Image || len(s.Networks) != 1 || s.Networks[0].IP != w.Addr(i) || s.Labels[benchLabel] != w.Name {
			t.Errorf("container %d = %s %s %+v %v, want %s at %s with label %s=%s", i, s.Name, s.Image, s.Networks, s.Labels, w.Container(i), w.Addr(i), benchLabel, w.Name)
		}
		if len(s.Ports) != 0 || len(s.Mounts) != 0 {
			t.Errorf("container %s publishes %v and mounts %v, want nothing", s.Name, s.Ports, s.Mounts)
		}
	}
}

// The compose file makes the same containers: names, addresses, network,
// subnet and gateway are those of the compiled berth state. The golden is
// rewritten with BERTH_UPDATE=1.
func TestComposeYAMLMatchesBerth(t *testing.T) {
	w := testWorkload(2)
	st, err := w.Desired()
	if err != nil {
		t.Fatal(err)
	}
	data, err := ComposeYAML(st, w.Name)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Name     string
		Networks map[string]struct {
			Name string
			IPAM struct{ Config []map[string]string }
		}
		Services map[string]struct {
			Image         string
			ContainerName string `yaml:"container_name"`
			PullPolicy    string `yaml:"pull_policy"`
			Networks      map[string]struct {
				IPv4 string `yaml:"ipv4_address"`
			}
		}
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.Name != w.Name {
		t.Errorf("compose project %q, want %q", f.Name, w.Name)
	}
	n := f.Networks[w.Name]
	if n.Name != w.Network() || len(n.IPAM.Config) != 1 || n.IPAM.Config[0]["subnet"] != w.Subnet.String() || n.IPAM.Config[0]["gateway"] != w.Gateway().String() {
		t.Errorf("network = %+v, want %s on %s via %s", n, w.Network(), w.Subnet, w.Gateway())
	}
	if len(f.Services) != w.N {
		t.Fatalf("%d services, want %d", len(f.Services), w.N)
	}
	for i := range w.N {
		s := f.Services[w.Service(i)]
		if s.ContainerName != w.Container(i) || s.Image != w.Image || s.PullPolicy != "never" || s.Networks[w.Name].IPv4 != w.Addr(i).String() {
			t.Errorf("service %s = %+v, want %s at %s", w.Service(i), s, w.Container(i), w.Addr(i))
		}
	}
	golden := filepath.Join("testdata", "compose.yaml")
	if os.Getenv("BERTH_UPDATE") == "1" {
		if err := os.WriteFile(golden, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("compose file differs from %s (BERTH_UPDATE=1 rewrites it):\n%s", golden, data)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestPairedRatio(t *testing.T) {
	// Load that drifts between repetitions moves both tools together.
	a := []float64{1.1, 2.2, 3.3}
	b := []float64{1, 2, 3}
	if got := pairedRatio(a, b); got < 1.0999 || got > 1.1001 {
		t.Errorf("pairedRatio = %v, want 1.1", got)
	}
	if got := pairedRatio(nil, b); got != 0 {
		t.Errorf("pairedRatio of nothing = %v, want 0", got)
	}
}

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		rs    []float64
		limit float64
		want  string
	}{
		{[]float64{0.8, 0.9, 0.95, 0.97, 0.99}, 1, "met"},
		{[]float64{1.1, 1.2, 1.3, 1.4, 1.5}, 1, "MISSED (1.15–1.45x)"},
		{[]float64{0.9, 0.95, 1.02, 1.05, 1.1}, 1, "tie (0.93–1.08x)"},
		{[]float64{1.1, 1.15, 1.19}, 1.2, "met"},
		{nil, 1, "-"},
	} {
		if got := verdict(c.rs, c.limit); got != c.want {
			t.Errorf("verdict(%v, %v) = %q, want %q", c.rs, c.limit, got, c.want)
		}
	}
}

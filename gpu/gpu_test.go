package gpu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/gpu/gputest"
	"github.com/voidnxlabs/berth/runtime"
)

func golden(host, file string) string { return filepath.Join("testdata", "golden", host, file) }

func detect(t *testing.T, name string) gpu.Inventory {
	t.Helper()
	inv, err := gpu.Detect(t.Context(), gputest.Host(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestDetect checks the inventory of every fake host, as text and JSON.
func TestDetect(t *testing.T) {
	for _, name := range gputest.Names(t) {
		t.Run(name, func(t *testing.T) {
			inv := detect(t, name)
			gputest.Golden(t, golden(name, "inventory.txt"), inv.String())
			js, err := json.MarshalIndent(inv, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			gputest.Golden(t, golden(name, "inventory.json"), string(js)+"\n")
			// Detection is deterministic: a second run gives the same.
			if again := detect(t, name); !reflect.DeepEqual(inv, again) {
				t.Errorf("second detection differs:\n%v\n%v", inv, again)
			}
		})
	}
}

var engines = []struct {
	name string
	info runtime.Info
}{
	{"docker+cdi", runtime.Info{Name: "docker", CDIEnabled: true, GPUDrivers: []string{"nvidia", "cdi"}}},
	{"docker", runtime.Info{Name: "docker", GPUDrivers: []string{"nvidia"}}},
	{"podman", runtime.Info{Name: "podman", CDIEnabled: true, GPUDrivers: []string{"cdi"}}},
}

// requests are the service GPU requests every host is asked; $ADDR and
// $UUID stand for the host's first GPU.
var requests = []struct {
	name string
	req  desired.GPU
}{
	{"all", desired.GPU{All: true}},
	{"1", desired.GPU{Count: 1}},
	{"3", desired.GPU{Count: 3}},
	{"[$ADDR]", desired.GPU{IDs: []string{"$ADDR"}}},
	{"[$UUID]", desired.GPU{IDs: []string{"$UUID"}}},
	{"[0]", desired.GPU{IDs: []string{"0"}}},
	{"all mode=cdi", desired.GPU{All: true, Mode: gpu.ModeCDI}},
	{"1 mode=nvidia-runtime capabilities=[compute,utility]", desired.GPU{Count: 1, Mode: gpu.ModeNvidiaRuntime, Capabilities: []string{"utility", "compute"}}},
	{"all mode=devices", desired.GPU{All: true, Mode: gpu.ModeDevices}},
	{"[$ADDR] mode=devices", desired.GPU{IDs: []string{"$ADDR"}, Mode: gpu.ModeDevices}},
	{"1 optional", desired.GPU{Count: 1, Optional: true}},
	{"all vendor=amd", desired.GPU{All: true, Vendor: gpu.AMD}},
	{"1 vendor=intel", desired.GPU{Count: 1, Vendor: gpu.Intel}},
	{"all mode=bogus", desired.GPU{All: true, Mode: "bogus"}},
}

// TestResolve records what each engine receives for each request on each
// fake host.
func TestResolve(t *testing.T) {
	for _, name := range gputest.Names(t) {
		t.Run(name, func(t *testing.T) {
			inv := detect(t, name)
			addr, uuid := "0000:09:00.0", "GPU-00000000-0000-0000-0000-000000000000"
			if len(inv.GPUs) > 0 {
				addr = strings.TrimPrefix(inv.GPUs[0].Address, "0000:") // a short form, normalised
				if inv.GPUs[0].UUID != "" {
					uuid = strings.ToLower(inv.GPUs[0].UUID)
				}
			}
			var b strings.Builder
			for _, e := range engines {
				for _, r := range requests {
					req := r.req
					req.IDs = nil
					for _, id := range r.req.IDs {
						req.IDs = append(req.IDs, strings.NewReplacer("$ADDR", addr, "$UUID", uuid).Replace(id))
					}
					fmt.Fprintf(&b, "== %s: gpu: %s\n", e.name, r.name)
					a, err := gpu.Resolve(req, inv, e.info)
					if err != nil {
						fmt.Fprintf(&b, "error: %v\n", err)
						var ge *gpu.Error
						if errors.As(err, &ge) && ge.Hint != "" {
							fmt.Fprintf(&b, "hint: %s\n", ge.Hint)
						}
						if !errors.Is(err, gpu.ErrNoGPU) && !errors.Is(err, gpu.ErrUnavailable) && !errors.Is(err, gpu.ErrInvalid) {
							t.Errorf("%s %s: error %v wraps none of the gpu errors", e.name, r.name, err)
						}
						continue
					}
					b.WriteString(a.String())
				}
			}
			gputest.Golden(t, golden(name, "requests.txt"), b.String())
		})
	}
}

func TestResolveOptionalNeverHidesInvalid(t *testing.T) {
	inv := detect(t, "none")
	_, err := gpu.Resolve(desired.GPU{IDs: []string{"1"}, Optional: true}, inv, runtime.Info{Name: "docker", GPUDrivers: []string{"nvidia"}})
	if !errors.Is(err, gpu.ErrInvalid) {
		t.Fatalf("index with optional: %v, want ErrInvalid", err)
	}
	a, err := gpu.Resolve(desired.GPU{All: true, Optional: true}, inv, runtime.Info{Name: "docker", GPUDrivers: []string{"nvidia"}})
	if err != nil || a.Skipped == "" || a.Mode != "" {
		t.Fatalf("optional on a host without GPU: %+v, %v", a, err)
	}
}

func TestApply(t *testing.T) {
	inv := detect(t, "amd")
	a, err := gpu.Resolve(desired.GPU{All: true}, inv, runtime.Info{Name: "docker", GPUDrivers: []string{"nvidia"}})
	if err != nil {
		t.Fatal(err)
	}
	spec := runtime.ContainerSpec{GroupAdd: []string{"109"}, Devices: []runtime.Device{{Host: "/dev/null"}}}
	a.Apply(&spec)
	if got := strings.Join(spec.GroupAdd, ","); got != "109,44" {
		t.Errorf("GroupAdd = %s, want 109,44 (no duplicate)", got)
	}
	if len(spec.Devices) != 1+len(a.Devices) {
		t.Errorf("Devices = %v", spec.Devices)
	}
}

func TestNormalizeAddress(t *testing.T) {
	for in, want := range map[string]string{
		"0000:01:00.0":      "0000:01:00.0",
		"00000000:01:00.0":  "0000:01:00.0",
		"01:00.0":           "0000:01:00.0",
		"0000:C1:00.0":      "0000:c1:00.0",
		" 0001:41:1f.7 ":    "0001:41:1f.7",
		"0":                 "",
		"GPU-5a3b2d1c":      "",
		"01:00":             "",
		"0000:01:20.0":      "", // device numbers are 5 bits
		"0000:01:00.8":      "", // functions are 3 bits
		"100000000:01:00.0": "",
	} {
		got, ok := gpu.NormalizeAddress(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestKube(t *testing.T) {
	for _, c := range []struct {
		req   desired.GPU
		want  string
		class string
	}{
		{desired.GPU{All: true}, "nvidia.com/gpu=1", "nvidia"},
		{desired.GPU{Count: 2}, "nvidia.com/gpu=2", "nvidia"},
		{desired.GPU{IDs: []string{"GPU-a", "GPU-b", "GPU-c"}, Vendor: gpu.NVIDIA}, "nvidia.com/gpu=3", "nvidia"},
		{desired.GPU{Count: 1, Vendor: gpu.AMD}, "amd.com/gpu=1", ""},
		{desired.GPU{All: true, Vendor: gpu.Intel}, "gpu.intel.com/i915=1", ""},
		{desired.GPU{All: true, Vendor: "matrox"}, "", ""},
	} {
		var got []string
		for k, v := range gpu.KubeResources(c.req) {
			got = append(got, k+"="+v)
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("KubeResources(%+v) = %v, want %s", c.req, got, c.want)
		}
		if rc := gpu.KubeRuntimeClass(c.req); rc != c.class {
			t.Errorf("KubeRuntimeClass(%+v) = %q, want %q", c.req, rc, c.class)
		}
	}
}

// TestStatNodeReal reads a real character device, the path a real host takes.
func TestStatNodeReal(t *testing.T) {
	n, err := gpu.LocalHost().StatNode("/dev/null")
	if err != nil {
		t.Skip(err)
	}
	if n.Major != 1 || n.Minor != 3 {
		t.Errorf("/dev/null = %d:%d, want 1:3", n.Major, n.Minor)
	}
	if _, err := gpu.LocalHost().StatNode("/etc/hostname"); err == nil {
		t.Errorf("a regular file without the stand-in line read as a device")
	}
}

func TestDetectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := gpu.Detect(ctx, gputest.Host(t, "nvidia-smi-only")); !errors.Is(err, context.Canceled) {
		t.Errorf("Detect with a cancelled context: %v", err)
	}
}

// TestLibrariesFromLinkerConfig: a driver installed in a directory that only
// the dynamic linker's configuration names is found, as is one reached only
// through a link from a searched directory; a link loop or a dangling link
// is skipped, not an error.
func TestLibrariesFromLinkerConfig(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	write := func(p, data string) {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	write("/proc/driver/nvidia/version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  Thu Jan 30 2025\n")
	write("/etc/ld.so.conf", "# comment\ninclude ld.so.conf.d/*.conf\n")
	write("/etc/ld.so.conf.d/nvidia.conf", "/opt/nvidia/driver/lib # the driver\n")
	write("/etc/ld.so.conf.d/loop.conf", "include /etc/ld.so.conf\n")
	write("/opt/nvidia/driver/lib/libcuda.so.570.86.15", "")
	link("/opt/nvidia/driver/lib/libcuda.so.1", "libcuda.so.570.86.15")
	write("/srv/drv/libnvidia-ml.so.570.86.15", "")
	link("/usr/lib64/libnvidia-ml.so.1", "/srv/drv/libnvidia-ml.so.570.86.15")
	link("/usr/lib64/libnvidia-ptxjitcompiler.so.1", "libnvidia-ptxjitcompiler.so.1") // loop
	link("/usr/lib64/libcuda.so.2", "/nowhere/libcuda.so.570.86.15")                  // dangling
	// GKE's layout: lib -> lib64, both reachable; one file, listed once.
	write("/etc/ld.so.conf.d/gke.conf", "/usr/local/nvidia/lib\n")
	write("/usr/local/nvidia/lib64/libnvidia-ptxjitcompiler.so.570.86.15", "")
	link("/usr/local/nvidia/lib", "lib64")

	inv, err := gpu.Detect(t.Context(), gpu.Host{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range inv.Libraries {
		got = append(got, l.Path+" "+l.Version)
	}
	want := []string{
		"/opt/nvidia/driver/lib/libcuda.so.570.86.15 570.86.15",
		"/srv/drv/libnvidia-ml.so.570.86.15 570.86.15",
		"/usr/local/nvidia/lib64/libnvidia-ptxjitcompiler.so.570.86.15 570.86.15",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("libraries:\n got %q\nwant %q", got, want)
	}
	if !slices.Contains(inv.LibDirs, "/opt/nvidia/driver/lib") {
		t.Errorf("searched %q, not the directory of ld.so.conf.d/nvidia.conf", inv.LibDirs)
	}
}

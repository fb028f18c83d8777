// Package gpu finds the GPUs of a host and decides what a container engine
// must receive to pass them through: CDI device requests, the nvidia driver
// request, or device nodes, cgroup rules, groups and library mounts.
//
// Every host access goes through a Host, so the same code runs on the real
// machine and on the fake trees under testdata/hosts.
package gpu

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Vendors berth knows, by their PCI vendor ids.
const (
	NVIDIA = "nvidia"
	AMD    = "amd"
	Intel  = "intel"
)

var vendorIDs = map[string]string{
	"0x10de": NVIDIA,
	"0x1002": AMD,
	"0x8086": Intel,
}

// Inventory is what Detect found, in a deterministic order.
type Inventory struct {
	GPUs []GPU `json:"gpus"` // sorted by PCI address
	// NVIDIA is the NVIDIA driver; its zero value means it is not loaded.
	NVIDIA Driver `json:"nvidia"`
	// Majors maps character-device driver names from /proc/devices to
	// their major numbers (only the GPU ones: nvidia*, drm, kfd).
	Majors map[string]uint32 `json:"majors,omitempty"`
	// Nodes are the GPU device nodes in /dev, sorted by path.
	Nodes []Node `json:"nodes,omitempty"`
	// Libraries are the NVIDIA user-space libraries found, sorted by path.
	Libraries []Library `json:"libraries,omitempty"`
	// LibDirs are the directories searched for them, in order.
	LibDirs []string `json:"libDirs,omitempty"`
	// CDI are the CDI spec files in /etc/cdi and /var/run/cdi, sorted by path.
	CDI []CDISpec `json:"cdi,omitempty"`
	// Hooks are the NVIDIA container hooks installed on the host; Docker's
	// "nvidia" device driver needs one even when no runtime is registered.
	Hooks []string `json:"hooks,omitempty"`
	// Sources names what answered: sysfs, procfs, nvidia-smi.
	Sources []string `json:"sources"`
	// Warnings are problems that did not stop detection, sorted.
	Warnings []string `json:"warnings,omitempty"`
}

// GPU is one display or 3D controller.
type GPU struct {
	Address  string `json:"address"` // PCI address, 0000:01:00.0
	Vendor   string `json:"vendor"`  // nvidia, amd, intel
	VendorID string `json:"vendorID,omitempty"`
	DeviceID string `json:"deviceID,omitempty"`
	Class    string `json:"class,omitempty"`
	// Driver is the kernel driver bound to the device ("" when none):
	// nvidia, nouveau, vfio-pci, amdgpu, i915, xe.
	Driver string `json:"driver"`
	Model  string `json:"model,omitempty"`
	UUID   string `json:"uuid,omitempty"`
	// Minor is the NVIDIA device minor (/dev/nvidiaN), -1 when unknown.
	Minor int `json:"minor"`
	// Render and Card are the DRM nodes of the device, when it has them.
	Render string `json:"render,omitempty"`
	Card   string `json:"card,omitempty"`
	// Source is where the GPU was first seen: sysfs or nvidia-smi.
	Source string `json:"source"`
}

// Name is how berth shows a GPU: its UUID when known, else its address.
func (g GPU) Name() string {
	if g.UUID != "" {
		return g.UUID
	}
	return g.Address
}

// Driver is a loaded kernel driver.
type Driver struct {
	Version string `json:"version,omitempty"`
}

// Loaded reports whether the driver was found.
func (d Driver) Loaded() bool { return d.Version != "" }

// Library is one NVIDIA user-space library file, named by its full version
// (libcuda.so.550.54.14).
type Library struct {
	Name    string `json:"name"` // libcuda.so
	Path    string `json:"path"`
	Version string `json:"version"`
}

// CDISpec is one CDI spec file.
type CDISpec struct {
	Path string `json:"path"`
	Kind string `json:"kind,omitempty"` // vendor/class, e.g. nvidia.com/gpu
	// Devices are the fully qualified device names (nvidia.com/gpu=all).
	Devices []string `json:"devices,omitempty"`
	// Missing are host paths the spec refers to that do not exist: the
	// sign of a spec generated for a driver that has since been replaced.
	Missing []string `json:"missing,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// CDISpecFor returns the spec that defines the CDI device name. Like the
// CDI cache, a spec in a later directory overrides one in an earlier.
func (inv Inventory) CDISpecFor(name string) (CDISpec, bool) {
	var found CDISpec
	ok := false
	for _, dir := range CDIDirs {
		for _, s := range inv.CDI {
			if s.Error != "" || path.Dir(s.Path) != dir {
				continue
			}
			if slices.Contains(s.Devices, name) {
				found, ok = s, true
			}
		}
	}
	return found, ok
}

// Node returns the inventory's device node at path.
func (inv Inventory) Node(path string) (Node, bool) {
	for _, n := range inv.Nodes {
		if n.Path == path {
			return n, true
		}
	}
	return Node{}, false
}

// ByVendor returns the GPUs of one vendor, in inventory order.
func (inv Inventory) ByVendor(vendor string) []GPU {
	var out []GPU
	for _, g := range inv.GPUs {
		if g.Vendor == vendor {
			out = append(out, g)
		}
	}
	return out
}

// String is the inventory as `berth gpu` prints it: a table of GPUs, then
// the driver, nodes, libraries and CDI specs. It is also the golden text of
// the detection tests.
func (inv Inventory) String() string {
	var b strings.Builder
	if len(inv.GPUs) == 0 {
		b.WriteString("no GPU found\n")
	} else {
		rows := [][]string{{"ADDRESS", "VENDOR", "DRIVER", "MODEL", "UUID", "NODES"}}
		for _, g := range inv.GPUs {
			var nodes []string
			if g.Minor >= 0 {
				nodes = append(nodes, fmt.Sprintf("/dev/nvidia%d", g.Minor))
			}
			for _, n := range []string{g.Card, g.Render} {
				if n != "" {
					nodes = append(nodes, n)
				}
			}
			rows = append(rows, []string{g.Address, g.Vendor, dash(g.Driver), dash(g.Model), dash(g.UUID), dash(strings.Join(nodes, ","))})
		}
		writeTable(&b, rows)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "nvidia driver: %s\n", dash(inv.NVIDIA.Version))
	for _, n := range inv.Nodes {
		fmt.Fprintf(&b, "node: %s\n", n)
	}
	for _, l := range inv.Libraries {
		fmt.Fprintf(&b, "library: %s (%s)\n", l.Path, l.Version)
	}
	for _, s := range inv.CDI {
		fmt.Fprintf(&b, "cdi: %s", s.Path)
		if s.Error != "" {
			fmt.Fprintf(&b, " error: %s\n", s.Error)
			continue
		}
		fmt.Fprintf(&b, " %s\n", strings.Join(s.Devices, " "))
		for _, m := range s.Missing {
			fmt.Fprintf(&b, "cdi: %s missing %s\n", s.Path, m)
		}
	}
	for _, h := range inv.Hooks {
		fmt.Fprintf(&b, "hook: %s\n", h)
	}
	fmt.Fprintf(&b, "sources: %s\n", dash(strings.Join(inv.Sources, ", ")))
	for _, w := range inv.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeTable(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				line.WriteString(c)
				break
			}
			fmt.Fprintf(&line, "%-*s  ", widths[i], c)
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// NormalizeAddress turns the PCI address forms seen in sysfs, procfs and
// nvidia-smi (0000:01:00.0, 00000000:01:00.0, 01:00.0) into the sysfs form
// with a four-digit domain and lower-case hex. ok is false when s is not a
// PCI address.
func NormalizeAddress(s string) (addr string, ok bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	parts := strings.Split(s, ":")
	var domain, bus, devfn string
	switch len(parts) {
	case 2:
		domain, bus, devfn = "0", parts[0], parts[1]
	case 3:
		domain, bus, devfn = parts[0], parts[1], parts[2]
	default:
		return "", false
	}
	dev, fn, found := strings.Cut(devfn, ".")
	if !found {
		return "", false
	}
	var d, bu, de, f uint64
	var err error
	for _, p := range []struct {
		s    string
		v    *uint64
		bits int
	}{{domain, &d, 32}, {bus, &bu, 8}, {dev, &de, 5}, {fn, &f, 3}} {
		if p.s == "" || len(p.s) > 8 {
			return "", false
		}
		if *p.v, err = parseHex(p.s, p.bits); err != nil {
			return "", false
		}
	}
	if d > 0xffff {
		return "", false
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", d, bu, de, f), true
}

package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/runtime"
)

const fixCDI = "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"

func checkGPU(ctx context.Context, r *reporter, opts Options, info *runtime.Info) {
	inv, err := gpu.Detect(ctx, opts.Host)
	if err != nil {
		r.add("gpu", Fail, "run berth doctor again", "detecting GPUs: %v", err)
		return
	}
	if len(inv.GPUs) == 0 {
		if opts.WantGPU {
			r.add("gpu", Fail, "mark the services' gpu optional, or run them on a host with a GPU", "no GPU found, but a service needs one")
		} else {
			r.add("gpu", OK, "", "no GPU found")
		}
		return
	}
	for _, w := range inv.Warnings {
		r.add("gpu detection", Warn, "check the permissions of /sys and /proc", "%s", w)
	}
	if nv := inv.ByVendor(gpu.NVIDIA); len(nv) > 0 {
		checkNVIDIA(r, inv, nv, info)
	}
	if amd := inv.ByVendor(gpu.AMD); len(amd) > 0 {
		checkDRI(r, inv, amd, gpu.AMD)
	}
	if intel := inv.ByVendor(gpu.Intel); len(intel) > 0 {
		checkDRI(r, inv, intel, gpu.Intel)
	}
}

func hint(err error) string {
	var ge *gpu.Error
	if errors.As(err, &ge) {
		return ge.Hint
	}
	return ""
}

// detail drops the sentinel's prefix, which reads as noise in a finding.
func detail(err error) string {
	s := err.Error()
	for _, e := range []error{gpu.ErrNoGPU, gpu.ErrUnavailable, gpu.ErrInvalid} {
		s = strings.TrimPrefix(s, e.Error()+": ")
	}
	return s
}

func describe(g gpu.GPU) string {
	parts := []string{}
	if g.Model != "" {
		parts = append(parts, g.Model)
	}
	if g.UUID != "" {
		parts = append(parts, g.UUID)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func checkNVIDIA(r *reporter, inv gpu.Inventory, nv []gpu.GPU, info *runtime.Info) {
	if inv.NVIDIA.Loaded() {
		r.add("nvidia driver", OK, "", "kernel module %s", inv.NVIDIA.Version)
	} else {
		r.add("nvidia driver", Fail, "install the NVIDIA driver and load it: modprobe nvidia", "not loaded (no /proc/driver/nvidia/version)")
	}
	for _, g := range nv {
		check := "gpu " + g.Address
		if err := gpu.Usable(g); err != nil {
			r.add(check, Fail, hint(err), "%s", detail(err))
			continue
		}
		r.add(check, OK, "", "bound to %s%s", g.Driver, describe(g))
	}
	if !inv.NVIDIA.Loaded() {
		return
	}
	for _, n := range []struct{ path, fix string }{
		{"/dev/nvidiactl", "run 'nvidia-modprobe -c 0' or start a CUDA program once on the host"},
		{"/dev/nvidia-uvm", "load the module: modprobe nvidia-uvm, then nvidia-modprobe -c 0 -u"},
	} {
		if node, ok := inv.Node(n.path); ok {
			r.add("node "+n.path, OK, "", "c %d:%d", node.Major, node.Minor)
		} else {
			r.add("node "+n.path, Fail, n.fix, "%s does not exist", n.path)
		}
	}
	checkLibraries(r, inv)
	cdiOK := checkCDI(r, inv, nv)
	checkInject(r, inv, info, cdiOK)
}

// checkLibraries compares the user-space driver with the kernel module: a
// mismatch ("Failed to initialize NVML: Driver/library version mismatch")
// is what a driver upgrade without a reboot leaves behind.
func checkLibraries(r *reporter, inv gpu.Inventory) {
	for _, lib := range []string{"libcuda.so", "libnvidia-ml.so"} {
		check := "library " + lib
		var match string
		var other []string
		for _, l := range inv.Libraries {
			if l.Name != lib {
				continue
			}
			if l.Version == inv.NVIDIA.Version {
				if match == "" {
					match = l.Path
				}
			} else if !slices.Contains(other, l.Version) {
				other = append(other, l.Version)
			}
		}
		switch {
		case match != "":
			r.add(check, OK, "", "%s matches the kernel module", match)
		case len(other) > 0:
			r.add(check, Fail, "reboot to load the upgraded kernel module, or reinstall the user-space driver of the running one",
				"version %s, the kernel module is %s", strings.Join(other, ", "), inv.NVIDIA.Version)
		default:
			r.add(check, Warn, "install the NVIDIA user-space driver of version "+inv.NVIDIA.Version,
				"%s.%s not found in %s", lib, inv.NVIDIA.Version, strings.Join(inv.LibDirs, ", "))
		}
	}
}

// checkCDI reports whether the CDI specs name every GPU by UUID and point
// only at files that exist.
func checkCDI(r *reporter, inv gpu.Inventory, nv []gpu.GPU) bool {
	var specs []gpu.CDISpec
	for _, s := range inv.CDI {
		if s.Error != "" {
			r.add("cdi "+s.Path, Fail, fixCDI, "unreadable: %s", s.Error)
			continue
		}
		if s.Kind == "nvidia.com/gpu" {
			specs = append(specs, s)
		}
	}
	if len(specs) == 0 {
		r.add("cdi", Warn, fixCDI, "no CDI spec for nvidia.com/gpu")
		return false
	}
	ok := true
	for _, s := range specs {
		if len(s.Missing) > 0 {
			ok = false
			r.add("cdi "+s.Path, Fail, fixCDI, "stale: %d file(s) it refers to do not exist, e.g. %s", len(s.Missing), s.Missing[0])
		}
	}
	var unnamed []string
	for _, g := range nv {
		if g.UUID == "" {
			continue
		}
		if _, found := inv.CDISpecFor("nvidia.com/gpu=" + g.UUID); !found {
			unnamed = append(unnamed, g.UUID)
		}
	}
	if len(unnamed) > 0 {
		ok = false
		r.add("cdi", Fail, fixCDI, "no CDI device for %s", strings.Join(unnamed, ", "))
	} else if ok {
		var paths []string
		for _, s := range specs {
			paths = append(paths, s.Path)
		}
		r.add("cdi", OK, "", "%s names every GPU", strings.Join(paths, ", "))
	}
	return ok
}

// checkInject asks whether the engine has any way to give containers the
// NVIDIA GPUs: CDI with a sound spec, the nvidia runtime, or the hook
// Docker's built-in nvidia device driver runs.
func checkInject(r *reporter, inv gpu.Inventory, info *runtime.Info, cdiOK bool) {
	const check = "gpu injection"
	const fix = "install the NVIDIA Container Toolkit, then " + fixCDI + " and enable CDI in the engine"
	var ways []string
	if info != nil && info.Accepts("cdi") && cdiOK {
		ways = append(ways, "CDI")
	}
	if info != nil && info.NvidiaRuntime {
		ways = append(ways, "the nvidia runtime")
	}
	if len(inv.Hooks) > 0 && (info == nil || info.Accepts("nvidia")) {
		ways = append(ways, "docker's nvidia driver ("+inv.Hooks[0]+")")
	}
	switch {
	case len(ways) > 0:
		r.add(check, OK, "", "through %s", strings.Join(ways, ", "))
	case info == nil:
		r.add(check, Warn, fix, "engine unknown; no nvidia hook installed")
	default:
		r.add(check, Fail, fix, "%s cannot inject NVIDIA GPUs (CDI %s, nvidia runtime %s, no hook)", info.Name, cdiState(info.CDIEnabled, cdiOK), yesNo(info.NvidiaRuntime))
	}
}

func cdiState(enabled, specOK bool) string {
	switch {
	case !enabled:
		return "off"
	case !specOK:
		return "on without a usable spec"
	}
	return "on"
}

// checkDRI checks AMD and Intel GPUs: their driver, render nodes and the
// groups that own them (which containers are given).
func checkDRI(r *reporter, inv gpu.Inventory, gpus []gpu.GPU, vendor string) {
	var groups []string
	addGroup := func(n gpu.Node) {
		g := fmt.Sprintf("%d", n.GID)
		if n.Group != "" {
			g += " (" + n.Group + ")"
		}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	if vendor == gpu.AMD {
		if n, ok := inv.Node("/dev/kfd"); ok {
			addGroup(n)
			r.add("node /dev/kfd", OK, "", "c %d:%d group %d%s", n.Major, n.Minor, n.GID, paren(n.Group))
		} else {
			r.add("node /dev/kfd", Fail, "load the amdgpu driver (modprobe amdgpu); ROCm needs /dev/kfd", "/dev/kfd does not exist")
		}
	}
	for _, g := range gpus {
		check := "gpu " + g.Address
		if err := gpu.Usable(g); err != nil {
			r.add(check, Fail, hint(err), "%s", detail(err))
			continue
		}
		n, ok := inv.Node(g.Render)
		if !ok {
			r.add(check, Fail, "check that udev created "+g.Render, "%s does not exist", g.Render)
			continue
		}
		addGroup(n)
		r.add(check, OK, "", "bound to %s, %s group %d%s", g.Driver, g.Render, n.GID, paren(n.Group))
	}
	if len(groups) > 0 {
		r.add(vendor+" groups", OK, "", "containers get group %s", strings.Join(groups, ", "))
	}
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

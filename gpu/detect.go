package gpu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"tags.cncf.io/container-device-interface/pkg/cdi"
	cdispec "tags.cncf.io/container-device-interface/specs-go"
)

// CDIDirs are where CDI specs live, in the order of the CDI spec: files in
// the second override those in the first.
var CDIDirs = []string{"/etc/cdi", "/var/run/cdi"}

// nvidiaLibs are the user-space libraries berth checks and, in devices
// mode, mounts. libcuda and libnvidia-ml are what CUDA programs and
// nvidia-smi need; the JIT compiler is needed by PTX-only kernels.
var nvidiaLibs = []string{"libcuda.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so"}

// requiredLibs must be present for the devices mode.
var requiredLibs = []string{"libcuda.so", "libnvidia-ml.so"}

// nvidiaSMITimeout bounds nvidia-smi, which hangs when the driver is wedged.
const nvidiaSMITimeout = 15 * time.Second

// Detect finds the GPUs of host and what the host offers to pass them to
// containers. Sources that are absent are skipped; only a failure to read
// one that exists is reported, as a warning in the inventory. The error is
// reserved for a cancelled ctx.
func Detect(ctx context.Context, host Host) (Inventory, error) {
	d := &detector{h: host, inv: Inventory{Majors: map[string]uint32{}}}
	d.pci()
	d.nvidiaProc()
	d.majors()
	d.nodes()
	d.libraries()
	d.cdi()
	d.hooks()
	if d.needSMI() {
		if err := d.nvidiaSMI(ctx); err != nil {
			return Inventory{}, err
		}
	}
	inv := d.inv
	sort.Slice(inv.GPUs, func(i, j int) bool { return inv.GPUs[i].Address < inv.GPUs[j].Address })
	sort.Strings(inv.Warnings)
	inv.Warnings = slices.Compact(inv.Warnings)
	if len(inv.Majors) == 0 {
		inv.Majors = nil
	}
	// Empty lists, not null, in --json: scripts index them.
	if inv.Sources == nil {
		inv.Sources = []string{}
	}
	if inv.GPUs == nil {
		inv.GPUs = []GPU{}
	}
	return inv, ctx.Err()
}

type detector struct {
	h   Host
	inv Inventory
}

func (d *detector) warn(format string, args ...any) {
	d.inv.Warnings = append(d.inv.Warnings, fmt.Sprintf(format, args...))
}

func (d *detector) source(s string) {
	if !slices.Contains(d.inv.Sources, s) {
		d.inv.Sources = append(d.inv.Sources, s)
	}
}

// readTrim reads a small sysfs or procfs file.
func (d *detector) readTrim(p string) string {
	data, err := d.h.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

const pciDevices = "/sys/bus/pci/devices"

// pci lists display controllers (PCI class 0x03) of the known vendors.
func (d *detector) pci() {
	entries, err := d.h.ReadDir(pciDevices)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.warn("reading %s: %v", pciDevices, err)
		}
		return
	}
	d.source("sysfs")
	for _, e := range entries {
		dir := path.Join(pciDevices, e.Name())
		vendor, ok := vendorIDs[strings.ToLower(d.readTrim(dir+"/vendor"))]
		if !ok {
			continue
		}
		class := strings.ToLower(d.readTrim(dir + "/class"))
		if !strings.HasPrefix(class, "0x03") {
			continue
		}
		addr, ok := NormalizeAddress(e.Name())
		if !ok {
			continue
		}
		g := GPU{
			Address:  addr,
			Vendor:   vendor,
			VendorID: strings.TrimPrefix(strings.ToLower(d.readTrim(dir+"/vendor")), "0x"),
			DeviceID: strings.TrimPrefix(strings.ToLower(d.readTrim(dir+"/device")), "0x"),
			Class:    strings.TrimPrefix(class, "0x"),
			Minor:    -1,
			Source:   "sysfs",
		}
		if target, err := d.h.Readlink(dir + "/driver"); err == nil {
			g.Driver = path.Base(target)
		}
		// The DRM nodes a device owns are listed under its drm directory,
		// which is how render nodes are tied to a PCI address.
		if drm, err := d.h.ReadDir(dir + "/drm"); err == nil {
			for _, n := range drm {
				switch {
				case strings.HasPrefix(n.Name(), "renderD"):
					g.Render = "/dev/dri/" + n.Name()
				case strings.HasPrefix(n.Name(), "card"):
					g.Card = "/dev/dri/" + n.Name()
				}
			}
		}
		d.inv.GPUs = append(d.inv.GPUs, g)
	}
}

var versionRE = regexp.MustCompile(`\b(\d+\.\d+(?:\.\d+)?)\b`)

const nvidiaProc = "/proc/driver/nvidia"

// nvidiaProc reads the kernel module's version and its per-GPU files.
func (d *detector) nvidiaProc() {
	data, err := d.h.ReadFile(nvidiaProc + "/version")
	if err != nil {
		return
	}
	d.source("procfs")
	// "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb …"
	// or "… Open Kernel Module for x86_64  550.54.14  Release Build …".
	line, _, _ := strings.Cut(string(data), "\n")
	if _, rest, ok := strings.Cut(line, "Kernel Module"); ok {
		d.inv.NVIDIA.Version = versionRE.FindString(rest)
	}
	if d.inv.NVIDIA.Version == "" {
		d.warn("reading %s/version: no version in %q", nvidiaProc, line)
	}
	entries, err := d.h.ReadDir(nvidiaProc + "/gpus")
	if err != nil {
		return
	}
	for _, e := range entries {
		p := path.Join(nvidiaProc, "gpus", e.Name(), "information")
		info, err := d.h.ReadFile(p)
		if err != nil {
			d.warn("reading %s: %v", p, err)
			continue
		}
		fields := parseInformation(info)
		addr, ok := NormalizeAddress(fields["Bus Location"])
		if !ok {
			addr, ok = NormalizeAddress(e.Name())
		}
		if !ok {
			d.warn("reading %s: no bus location", p)
			continue
		}
		g := d.gpu(addr, NVIDIA, "procfs")
		g.Model = fields["Model"]
		g.UUID = fields["GPU UUID"]
		if m, err := strconv.Atoi(fields["Device Minor"]); err == nil {
			g.Minor = m
		}
		// /proc lists the GPU only when the nvidia module drives it.
		if g.Driver == "" {
			g.Driver = "nvidia"
		}
	}
}

// gpu returns the inventory's GPU at addr, adding one when sysfs did not
// show it (a container or a restricted sysfs).
func (d *detector) gpu(addr, vendor, source string) *GPU {
	for i := range d.inv.GPUs {
		if d.inv.GPUs[i].Address == addr {
			return &d.inv.GPUs[i]
		}
	}
	d.inv.GPUs = append(d.inv.GPUs, GPU{Address: addr, Vendor: vendor, Minor: -1, Source: source})
	return &d.inv.GPUs[len(d.inv.GPUs)-1]
}

// parseInformation reads the "Key: value" lines of an information file.
func parseInformation(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// majors reads the character-device majors of GPU drivers. The nvidia
// frontend's major is fixed (195) but nvidia-uvm's and nvidia-caps' are
// dynamic, which is why cgroup rules must come from here.
func (d *detector) majors() {
	data, err := d.h.ReadFile("/proc/devices")
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	char := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Character devices"):
			char = true
			continue
		case strings.HasPrefix(line, "Block devices"):
			char = false
			continue
		}
		f := strings.Fields(line)
		if !char || len(f) != 2 {
			continue
		}
		name := f[1]
		if !strings.HasPrefix(name, "nvidia") && name != "drm" && name != "kfd" {
			continue
		}
		if m, err := strconv.ParseUint(f[0], 10, 32); err == nil {
			if _, seen := d.inv.Majors[name]; !seen {
				d.inv.Majors[name] = uint32(m)
			}
		}
	}
}

// nodes stats the GPU device nodes in /dev.
func (d *detector) nodes() {
	var paths []string
	for _, pattern := range []string{"/dev/nvidia*", "/dev/nvidia-caps/*", "/dev/kfd", "/dev/dri/card*", "/dev/dri/renderD*"} {
		m, err := d.h.Glob(pattern)
		if err != nil {
			continue
		}
		paths = append(paths, m...)
	}
	sort.Strings(paths)
	for _, p := range slices.Compact(paths) {
		n, err := d.h.StatNode(p)
		if errors.Is(err, errNotDevice) {
			continue // /dev/nvidia-caps itself is a directory
		}
		if err != nil {
			d.warn("%v", err)
			continue
		}
		d.inv.Nodes = append(d.inv.Nodes, n)
	}
}

// libraries finds the NVIDIA user-space libraries by their fully versioned
// file names, which carry the driver version they belong to. A link found
// in a search directory (libcuda.so.1 in /usr/lib pointing into
// /usr/local/nvidia/lib64, say) is followed to the versioned file, which
// may live in a directory that is not searched.
func (d *detector) libraries() {
	seen := map[string]bool{}
	d.inv.LibDirs = d.h.libDirs()
	for _, dir := range d.inv.LibDirs {
		for _, lib := range nvidiaLibs {
			matches, err := d.h.Glob(path.Join(dir, lib+".*"))
			if err != nil {
				continue
			}
			for _, m := range matches {
				real, err := d.h.resolveLink(m)
				if err != nil || !strings.HasPrefix(path.Base(real), lib+".") {
					continue // a dangling link, or one to another library
				}
				ver := strings.TrimPrefix(path.Base(real), lib+".")
				if !versionRE.MatchString(ver) || strings.Count(ver, ".") < 1 || !d.h.Exists(real) {
					continue // libcuda.so.1 linked to nothing versioned
				}
				if seen[real] {
					continue
				}
				seen[real] = true
				d.inv.Libraries = append(d.inv.Libraries, Library{Name: lib, Path: real, Version: ver})
			}
		}
	}
	sort.Slice(d.inv.Libraries, func(i, j int) bool { return d.inv.Libraries[i].Path < d.inv.Libraries[j].Path })
}

// cdi reads the CDI spec files with the reference parser, so that a spec
// the engine would refuse is reported as such here too.
func (d *detector) cdi() {
	for _, dir := range CDIDirs {
		for _, ext := range []string{"*.yaml", "*.json"} {
			matches, err := d.h.Glob(path.Join(dir, ext))
			if err != nil {
				continue
			}
			for _, m := range matches {
				d.inv.CDI = append(d.inv.CDI, d.cdiSpec(m))
			}
		}
	}
	sort.Slice(d.inv.CDI, func(i, j int) bool { return d.inv.CDI[i].Path < d.inv.CDI[j].Path })
}

func (d *detector) cdiSpec(p string) CDISpec {
	out := CDISpec{Path: p}
	spec, err := cdi.ReadSpec(d.h.Path(p), 0)
	if err != nil {
		// The parser names the real path; a fake root would leak into goldens.
		out.Error = strings.ReplaceAll(err.Error(), d.h.Path(p), p)
		return out
	}
	out.Kind = spec.Kind
	var hostPaths []string
	addEdits := func(e cdispec.ContainerEdits) {
		for _, n := range e.DeviceNodes {
			hp := n.HostPath
			if hp == "" {
				hp = n.Path
			}
			hostPaths = append(hostPaths, hp)
		}
		for _, m := range e.Mounts {
			hostPaths = append(hostPaths, m.HostPath)
		}
		for _, h := range e.Hooks {
			hostPaths = append(hostPaths, h.Path)
		}
	}
	addEdits(spec.ContainerEdits)
	for _, dev := range spec.Devices {
		out.Devices = append(out.Devices, spec.Kind+"="+dev.Name)
		addEdits(dev.ContainerEdits)
	}
	sort.Strings(out.Devices)
	sort.Strings(hostPaths)
	for _, hp := range slices.Compact(hostPaths) {
		if hp != "" && !d.h.Exists(hp) {
			out.Missing = append(out.Missing, hp)
		}
	}
	return out
}

// hookPaths are where the NVIDIA container toolkit installs the hook that
// Docker's built-in "nvidia" device driver runs.
var hookPaths = []string{"/usr/bin/nvidia-container-runtime-hook", "/usr/local/bin/nvidia-container-runtime-hook"}

func (d *detector) hooks() {
	for _, p := range hookPaths {
		if d.h.Exists(p) {
			d.inv.Hooks = append(d.inv.Hooks, p)
		}
	}
}

// needSMI reports whether nvidia-smi must fill gaps: there may be NVIDIA
// GPUs (sysfs shows some, or sysfs shows nothing at all) whose UUIDs procfs
// did not give.
func (d *detector) needSMI() bool {
	nv := d.inv.ByVendor(NVIDIA)
	if len(d.inv.GPUs) > 0 && len(nv) == 0 {
		return false
	}
	for _, g := range nv {
		if g.UUID == "" && g.Driver == "nvidia" {
			return true
		}
	}
	return len(nv) == 0
}

// smiQuery is what berth asks nvidia-smi: the fields that identify a GPU
// (never its index, whose order is not stable across reboots).
const smiQuery = "uuid,pci.bus_id,name,driver_version"

func (d *detector) nvidiaSMI(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, nvidiaSMITimeout)
	defer cancel()
	out, err := d.h.run(cctx, "nvidia-smi", "--query-gpu="+smiQuery, "--format=csv,noheader")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		if !errors.Is(err, exec.ErrNotFound) && len(d.inv.ByVendor(NVIDIA)) > 0 {
			d.warn("%v", err)
		}
		return nil
	}
	r := csv.NewReader(bytes.NewReader(out))
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		d.warn("reading nvidia-smi output: %v", err)
		return nil
	}
	for _, rec := range recs {
		if len(rec) != 4 {
			d.warn("reading nvidia-smi output: %d fields, want 4", len(rec))
			continue
		}
		addr, ok := NormalizeAddress(rec[1])
		if !ok {
			d.warn("reading nvidia-smi output: bad bus id %q", rec[1])
			continue
		}
		d.source("nvidia-smi")
		g := d.gpu(addr, NVIDIA, "nvidia-smi")
		if g.UUID == "" {
			g.UUID = rec[0]
		}
		if g.Model == "" {
			g.Model = rec[2]
		}
		if g.Driver == "" {
			g.Driver = "nvidia"
		}
		if d.inv.NVIDIA.Version == "" {
			d.inv.NVIDIA.Version = rec[3]
		}
	}
	return nil
}

func parseHex(s string, bits int) (uint64, error) { return strconv.ParseUint(s, 16, bits) }

package gpu

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Modes of passing NVIDIA GPUs, as desired.GPU.Mode names them.
const (
	ModeAuto          = "auto"
	ModeCDI           = "cdi"
	ModeNvidiaRuntime = "nvidia-runtime"
	ModeDevices       = "devices"
)

// Errors a caller must tell apart. Both mean that this host cannot give
// the service its GPUs; a request marked optional is then skipped instead.
var (
	// ErrNoGPU reports a request that no GPU of the host matches.
	ErrNoGPU = errors.New("no matching gpu")
	// ErrUnavailable reports GPUs that exist but cannot be passed to a
	// container: wrong driver bound, a missing device node or library.
	ErrUnavailable = errors.New("gpu unavailable")
	// ErrInvalid reports a request that is wrong on any host.
	ErrInvalid = errors.New("invalid gpu request")
)

// Error is a Resolve error with a one-line hint for the user.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(kind error, hint, format string, args ...any) error {
	return &Error{Err: fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...)), Hint: hint}
}

// Assignment is exactly what the engine receives for one service's GPU
// request. Its zero value gives no GPU.
type Assignment struct {
	// Mode is how the GPUs are passed: cdi, nvidia-runtime or devices;
	// empty when nothing is assigned.
	Mode   string `json:"mode,omitempty"`
	Vendor string `json:"vendor,omitempty"`
	// GPUs are the PCI addresses of the GPUs given, sorted.
	GPUs              []string             `json:"gpus,omitempty"`
	Requests          []runtime.GPURequest `json:"requests,omitempty"`
	Devices           []runtime.Device     `json:"devices,omitempty"`
	DeviceCgroupRules []string             `json:"deviceCgroupRules,omitempty"`
	GroupAdd          []string             `json:"groupAdd,omitempty"`
	Mounts            []runtime.Mount      `json:"mounts,omitempty"`
	// Skipped says why an optional request got nothing.
	Skipped string `json:"skipped,omitempty"`
}

// Apply adds the assignment to a container spec.
func (a Assignment) Apply(spec *runtime.ContainerSpec) {
	spec.GPUs = append(spec.GPUs, a.Requests...)
	spec.Devices = append(spec.Devices, a.Devices...)
	spec.DeviceCgroupRules = append(spec.DeviceCgroupRules, a.DeviceCgroupRules...)
	spec.Mounts = append(spec.Mounts, a.Mounts...)
	for _, g := range a.GroupAdd {
		if !slices.Contains(spec.GroupAdd, g) {
			spec.GroupAdd = append(spec.GroupAdd, g)
		}
	}
}

// Rooted returns the assignment with its host-side paths (device nodes,
// mount sources) under h.Root: the paths Resolve gives are those of the
// host, which a Host with a fake root keeps elsewhere.
func (a Assignment) Rooted(h Host) Assignment {
	out := a
	out.Devices = nil
	for _, d := range a.Devices {
		d.Host = h.Path(d.Host)
		out.Devices = append(out.Devices, d)
	}
	out.Mounts = nil
	for _, m := range a.Mounts {
		m.Source = h.Path(m.Source)
		out.Mounts = append(out.Mounts, m)
	}
	return out
}

// String is the assignment as the golden tests and `berth gpu` show it.
func (a Assignment) String() string {
	var b strings.Builder
	if a.Skipped != "" {
		fmt.Fprintf(&b, "skipped: %s\n", a.Skipped)
		return b.String()
	}
	fmt.Fprintf(&b, "mode: %s %s\n", dash(a.Mode), dash(a.Vendor))
	fmt.Fprintf(&b, "gpus: %s\n", dash(strings.Join(a.GPUs, " ")))
	for _, r := range a.Requests {
		fmt.Fprintf(&b, "request: driver=%s count=%d ids=%s caps=%s\n", r.Driver, r.Count, strings.Join(r.DeviceIDs, ","), strings.Join(r.Capabilities, ","))
	}
	for _, d := range a.Devices {
		fmt.Fprintf(&b, "device: %s:%s %s\n", d.Host, d.Container, d.Permissions)
	}
	for _, r := range a.DeviceCgroupRules {
		fmt.Fprintf(&b, "cgroup: %s\n", r)
	}
	for _, g := range a.GroupAdd {
		fmt.Fprintf(&b, "group-add: %s\n", g)
	}
	for _, m := range a.Mounts {
		ro := ""
		if m.ReadOnly {
			ro = " ro"
		}
		fmt.Fprintf(&b, "mount: %s:%s%s\n", m.Source, m.Target, ro)
	}
	return b.String()
}

// Resolve decides what the engine described by info receives for req on
// the host described by inv. A host that cannot satisfy req gives an error
// wrapping ErrNoGPU or ErrUnavailable, or, when req is optional, an
// Assignment that says why it was skipped.
func Resolve(req desired.GPU, inv Inventory, info runtime.Info) (Assignment, error) {
	a, err := resolve(req, inv, info)
	if err != nil && req.Optional && !errors.Is(err, ErrInvalid) {
		return Assignment{Skipped: err.Error()}, nil
	}
	return a, err
}

func resolve(req desired.GPU, inv Inventory, info runtime.Info) (Assignment, error) {
	mode := req.Mode
	if mode == "" {
		mode = ModeAuto
	}
	switch mode {
	case ModeAuto, ModeCDI, ModeNvidiaRuntime, ModeDevices:
	default:
		return Assignment{}, fail(ErrInvalid, "use auto, cdi, nvidia-runtime or devices", "unknown mode %q", mode)
	}
	if req.Count < 0 {
		return Assignment{}, fail(ErrInvalid, "", "count %d is negative", req.Count)
	}
	if req.Vendor == "" && (mode == ModeCDI || mode == ModeNvidiaRuntime) {
		req.Vendor = NVIDIA // these modes exist for NVIDIA only
	}
	gpus, vendor, err := selectGPUs(req, inv)
	if err != nil {
		return Assignment{}, err
	}
	a := Assignment{Vendor: vendor}
	for _, g := range gpus {
		a.GPUs = append(a.GPUs, g.Address)
	}
	if vendor != NVIDIA {
		if mode != ModeAuto && mode != ModeDevices {
			return Assignment{}, fail(ErrInvalid, "leave mode unset (auto) for "+vendor+" GPUs", "mode %s is for NVIDIA GPUs only", mode)
		}
		return dri(a, gpus, inv)
	}
	all := req.All || (req.Count == 0 && len(req.IDs) == 0)
	if mode == ModeAuto {
		mode = autoMode(all, gpus, inv, info)
	}
	switch mode {
	case ModeCDI:
		return cdiRequest(a, all, gpus, inv, info)
	case ModeNvidiaRuntime:
		return nvidiaRequest(a, all, gpus, req, info)
	default:
		return nvidiaDevices(a, all, gpus, inv)
	}
}

// autoMode prefers CDI, which the engine resolves from a spec the NVIDIA
// toolkit regenerates with the driver, then Docker's nvidia device driver.
// It never picks the devices mode, which breaks on every driver upgrade.
func autoMode(all bool, gpus []GPU, inv Inventory, info runtime.Info) string {
	if cdiNamed(all, gpus, inv) && info.Accepts("cdi") {
		return ModeCDI
	}
	if !info.Accepts("nvidia") {
		return ModeCDI // the engine has no other way; cdiRequest explains
	}
	return ModeNvidiaRuntime
}

const cdiKind = "nvidia.com/gpu"

func cdiNames(all bool, gpus []GPU) []string {
	if all {
		return []string{cdiKind + "=all"}
	}
	var out []string
	for _, g := range gpus {
		out = append(out, cdiKind+"="+g.UUID)
	}
	return out
}

// cdiNamed reports whether current CDI specs define every name: a spec
// whose files are missing was written for a driver that is gone, and the
// engine would fail to create the container.
func cdiNamed(all bool, gpus []GPU, inv Inventory) bool {
	for _, n := range cdiNames(all, gpus) {
		s, ok := inv.CDISpecFor(n)
		if !ok || len(s.Missing) > 0 {
			return false
		}
	}
	return true
}

const hintCDIGenerate = "run 'nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml' (NVIDIA Container Toolkit)"

func cdiRequest(a Assignment, all bool, gpus []GPU, inv Inventory, info runtime.Info) (Assignment, error) {
	if !info.Accepts("cdi") {
		return Assignment{}, fail(ErrUnavailable, `enable CDI in /etc/docker/daemon.json ("features": {"cdi": true}) and restart docker`, "%s has CDI disabled", engineName(info))
	}
	names := cdiNames(all, gpus)
	for _, n := range names {
		s, ok := inv.CDISpecFor(n)
		if !ok {
			return Assignment{}, fail(ErrUnavailable, hintCDIGenerate, "no CDI spec names %s", n)
		}
		if len(s.Missing) > 0 {
			return Assignment{}, fail(ErrUnavailable, hintCDIGenerate, "CDI spec %s is stale: %s does not exist", s.Path, s.Missing[0])
		}
	}
	a.Mode = ModeCDI
	// The CDI driver ignores capabilities: the spec decides what is injected.
	a.Requests = []runtime.GPURequest{{Driver: "cdi", DeviceIDs: names}}
	return a, nil
}

func nvidiaRequest(a Assignment, all bool, gpus []GPU, req desired.GPU, info runtime.Info) (Assignment, error) {
	if !info.Accepts("nvidia") {
		return Assignment{}, fail(ErrUnavailable, "use mode cdi (or auto) with "+engineName(info), "%s has no nvidia device driver, only CDI", engineName(info))
	}
	r := runtime.GPURequest{Driver: "nvidia", Capabilities: capabilities(req.Capabilities)}
	if all {
		r.Count = -1
	} else {
		// UUIDs, never indexes: NVML numbers GPUs differently across reboots.
		for _, g := range gpus {
			if g.UUID == "" {
				return Assignment{}, fail(ErrUnavailable, "load the nvidia driver so that /proc/driver/nvidia lists the GPU", "GPU %s has no known UUID", g.Address)
			}
			r.DeviceIDs = append(r.DeviceIDs, g.UUID)
		}
	}
	a.Mode = ModeNvidiaRuntime
	a.Requests = []runtime.GPURequest{r}
	return a, nil
}

// capabilities are the nvidia driver capabilities: always "gpu", which
// Docker needs to pick the nvidia driver, plus the requested ones.
func capabilities(req []string) []string {
	caps := append([]string{"gpu"}, req...)
	sort.Strings(caps)
	return slices.Compact(caps)
}

func engineName(info runtime.Info) string {
	if info.Name == "" {
		return "the engine"
	}
	return info.Name
}

// nvidiaDevices is the seed's way: device nodes, cgroup rules and the
// driver's libraries bind-mounted. It bypasses the NVIDIA toolkit, so the
// libraries must be the kernel module's version exactly.
func nvidiaDevices(a Assignment, all bool, gpus []GPU, inv Inventory) (Assignment, error) {
	if !inv.NVIDIA.Loaded() {
		return Assignment{}, fail(ErrUnavailable, "load the driver: modprobe nvidia", "the nvidia kernel module is not loaded")
	}
	frontend := majorOf(inv, 195, "nvidia-frontend", "nvidia")
	var nodes []string
	var rules []string
	for _, g := range gpus {
		if g.Minor < 0 {
			return Assignment{}, fail(ErrUnavailable, "check /proc/driver/nvidia/gpus", "GPU %s has no known device minor", g.Address)
		}
		nodes = append(nodes, fmt.Sprintf("/dev/nvidia%d", g.Minor))
		rules = append(rules, fmt.Sprintf("c %d:%d rwm", frontend, g.Minor))
	}
	nodes = append(nodes, "/dev/nvidiactl")
	rules = append(rules, fmt.Sprintf("c %d:255 rwm", frontend)) // nvidiactl's minor
	if all {
		rules = []string{fmt.Sprintf("c %d:* rwm", frontend)}
	}
	nodes = append(nodes, "/dev/nvidia-uvm")
	if _, ok := inv.Node("/dev/nvidia-uvm-tools"); ok {
		nodes = append(nodes, "/dev/nvidia-uvm-tools")
	}
	var uvm uint32
	for _, p := range nodes {
		n, ok := inv.Node(p)
		if !ok {
			hint := "run 'nvidia-modprobe -c 0 -u' or start a CUDA program once on the host"
			if p == "/dev/nvidia-uvm" {
				hint = "load the module: modprobe nvidia-uvm, then nvidia-modprobe -c 0 -u"
			}
			return Assignment{}, fail(ErrUnavailable, hint, "%s does not exist", p)
		}
		if p == "/dev/nvidia-uvm" {
			uvm = n.Major
		}
		a.Devices = append(a.Devices, runtime.Device{Host: p, Container: p, Permissions: "rwm"})
		a.GroupAdd = addGroup(a.GroupAdd, n.GID)
	}
	rules = append(rules, fmt.Sprintf("c %d:* rwm", majorOf(inv, uvm, "nvidia-uvm")))
	a.DeviceCgroupRules = rules
	mounts, err := libraryMounts(inv)
	if err != nil {
		return Assignment{}, err
	}
	a.Mounts = mounts
	a.Mode = ModeDevices
	sortGroups(a.GroupAdd)
	return a, nil
}

func majorOf(inv Inventory, def uint32, names ...string) uint32 {
	for _, n := range names {
		if m, ok := inv.Majors[n]; ok {
			return m
		}
	}
	return def
}

// containerLibDir is where the libraries appear in the container: the
// multiarch directory of the Debian and Ubuntu based CUDA images.
const containerLibDir = "/usr/lib/x86_64-linux-gnu"

// libraryMounts mounts each user-space library at its versioned name and at
// its soname (.so.1), since no ldconfig runs to make the link.
func libraryMounts(inv Inventory) ([]runtime.Mount, error) {
	want := inv.NVIDIA.Version
	var mounts []runtime.Mount
	for _, lib := range nvidiaLibs {
		var match *Library
		var other []string
		for i, l := range inv.Libraries {
			if l.Name != lib {
				continue
			}
			if l.Version == want {
				if match == nil {
					match = &inv.Libraries[i]
				}
			} else {
				other = append(other, l.Version)
			}
		}
		if match == nil {
			if !slices.Contains(requiredLibs, lib) {
				continue
			}
			if len(other) > 0 {
				return nil, fail(ErrUnavailable, "reboot to load the upgraded kernel module, or reinstall the user-space driver of the running one",
					"%s is version %s, the kernel module is %s", lib, strings.Join(other, ", "), want)
			}
			return nil, fail(ErrUnavailable, "install the NVIDIA user-space driver (libcuda) of version "+want, "%s.%s not found", lib, want)
		}
		for _, name := range []string{path.Base(match.Path), lib + ".1"} {
			mounts = append(mounts, runtime.Mount{Source: match.Path, Target: path.Join(containerLibDir, name), ReadOnly: true})
		}
	}
	return mounts, nil
}

// dri passes AMD and Intel GPUs: their DRM nodes (and AMD's /dev/kfd)
// plus the groups that own them, since the container's /etc/group does
// not know the host's render and video gids.
func dri(a Assignment, gpus []GPU, inv Inventory) (Assignment, error) {
	var paths []string
	if a.Vendor == AMD {
		paths = append(paths, "/dev/kfd")
	}
	for _, g := range gpus {
		paths = append(paths, g.Card, g.Render)
	}
	for _, p := range paths {
		n, ok := inv.Node(p)
		if !ok {
			hint := "load the amdgpu driver: modprobe amdgpu"
			if a.Vendor == Intel {
				hint = "load the i915 or xe driver"
			}
			return Assignment{}, fail(ErrUnavailable, hint, "%s does not exist", p)
		}
		a.Devices = append(a.Devices, runtime.Device{Host: p, Container: p, Permissions: "rwm"})
		a.GroupAdd = addGroup(a.GroupAdd, n.GID)
	}
	a.Mode = ModeDevices
	sortGroups(a.GroupAdd)
	return a, nil
}

func addGroup(groups []string, gid uint32) []string {
	if gid == 0 {
		return groups // root's group is no use to the container's user
	}
	g := strconv.FormatUint(uint64(gid), 10)
	if slices.Contains(groups, g) {
		return groups
	}
	return append(groups, g)
}

func sortGroups(g []string) {
	slices.SortFunc(g, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
}

// usableDrivers are the kernel drivers through which a container can use
// a GPU of each vendor.
var usableDrivers = map[string][]string{
	NVIDIA: {"nvidia"},
	AMD:    {"amdgpu"},
	Intel:  {"i915", "xe"},
}

// Usable reports whether a container can use g: it is bound to its
// vendor's driver (not nouveau or vfio-pci) and, for AMD and Intel, has a
// render node. The error is an *Error with a hint.
func Usable(g GPU) error { return usable(g) }

func usable(g GPU) error {
	if slices.Contains(usableDrivers[g.Vendor], g.Driver) {
		if g.Vendor != NVIDIA && g.Render == "" {
			return fail(ErrUnavailable, "check that the DRM driver created /dev/dri/renderD*", "GPU %s has no render node", g.Address)
		}
		return nil
	}
	want := usableDrivers[g.Vendor][0]
	switch g.Driver {
	case "":
		return fail(ErrUnavailable, "load the driver: modprobe "+want, "GPU %s has no driver bound", g.Address)
	case "vfio-pci":
		return fail(ErrUnavailable, "unbind it from vfio-pci (it is reserved for a virtual machine) and bind "+want, "GPU %s is bound to vfio-pci, not %s", g.Address, want)
	case "nouveau":
		return fail(ErrUnavailable, "blacklist nouveau and install the NVIDIA driver", "GPU %s is bound to nouveau, not nvidia", g.Address)
	}
	return fail(ErrUnavailable, "bind it to "+want, "GPU %s is bound to %s, not %s", g.Address, g.Driver, want)
}

// selectGPUs picks the GPUs of the request, in address order.
func selectGPUs(req desired.GPU, inv Inventory) ([]GPU, string, error) {
	vendor := req.Vendor
	if len(req.IDs) > 0 {
		var out []GPU
		for _, id := range req.IDs {
			g, err := findGPU(id, inv)
			if err != nil {
				return nil, "", err
			}
			if vendor == "" {
				vendor = g.Vendor
			}
			if g.Vendor != vendor {
				return nil, "", fail(ErrInvalid, "ask for one vendor's GPUs per service", "GPU %s is %s, not %s", id, g.Vendor, vendor)
			}
			if err := usable(g); err != nil {
				return nil, "", err
			}
			if !slices.ContainsFunc(out, func(o GPU) bool { return o.Address == g.Address }) {
				out = append(out, g)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
		return out, vendor, nil
	}
	if vendor == "" {
		vendor = NVIDIA
		for _, v := range []string{NVIDIA, AMD, Intel} {
			if len(inv.ByVendor(v)) > 0 {
				vendor = v
				break
			}
		}
	}
	if _, ok := usableDrivers[vendor]; !ok {
		return nil, "", fail(ErrInvalid, "use nvidia, amd or intel", "unknown vendor %q", vendor)
	}
	var ok []GPU
	var why error
	for _, g := range inv.ByVendor(vendor) {
		if err := usable(g); err != nil {
			why = cmpErr(why, err)
			continue
		}
		ok = append(ok, g)
	}
	want := req.Count
	if req.All || want == 0 {
		want = 1 // "all" needs at least one
	}
	if len(ok) >= want {
		if req.All || req.Count == 0 {
			return ok, vendor, nil
		}
		return ok[:want], vendor, nil
	}
	if why != nil && len(ok) == 0 {
		return nil, "", why
	}
	const hint = "run 'berth gpu' to see this host's GPUs, or mark the request optional"
	if req.All || req.Count == 0 {
		return nil, "", fail(ErrNoGPU, hint, "no %s GPU on this host", vendor)
	}
	return nil, "", fail(ErrNoGPU, hint, "%d %s GPUs wanted, the host has %d usable", want, vendor, len(ok))
}

// cmpErr keeps the first error so that messages do not depend on order.
func cmpErr(prev, err error) error {
	if prev != nil {
		return prev
	}
	return err
}

// findGPU finds a GPU by UUID or PCI address. A bare number is refused:
// NVML's numbering changes across reboots and driver upgrades.
func findGPU(id string, inv Inventory) (GPU, error) {
	if _, err := strconv.Atoi(strings.TrimSpace(id)); err == nil {
		return GPU{}, fail(ErrInvalid, "name GPUs by UUID (GPU-…) or PCI address (0000:01:00.0); run 'berth gpu' to list them",
			"GPU index %s: indexes are not stable across reboots", id)
	}
	if addr, ok := NormalizeAddress(id); ok {
		for _, g := range inv.GPUs {
			if g.Address == addr {
				return g, nil
			}
		}
	}
	for _, g := range inv.GPUs {
		if g.UUID != "" && strings.EqualFold(g.UUID, strings.TrimSpace(id)) {
			return g, nil
		}
	}
	return GPU{}, fail(ErrNoGPU, "run 'berth gpu' to see this host's GPUs", "no GPU %s on this host", id)
}

// KubeResources returns the extended resources a cluster pod asks for, as
// container limits (the API server refuses GPUs in requests only). A
// scheduler cannot grant "every GPU of whichever node", so all means one
// whole GPU there; IDs cannot pin devices on a cluster, so they count.
func KubeResources(req desired.GPU) map[string]string {
	n := req.Count
	switch {
	case len(req.IDs) > 0:
		n = len(req.IDs)
	case req.All || n <= 0:
		n = 1
	}
	name := map[string]string{NVIDIA: "nvidia.com/gpu", AMD: "amd.com/gpu", Intel: "gpu.intel.com/i915"}[vendorOrDefault(req.Vendor)]
	if name == "" {
		return nil
	}
	return map[string]string{name: strconv.Itoa(n)}
}

// KubeRuntimeClass is the runtimeClassName a pod with req needs: "nvidia"
// for NVIDIA GPUs (the class the device plugin's containerd runtime is
// registered under), "" otherwise.
func KubeRuntimeClass(req desired.GPU) string {
	if vendorOrDefault(req.Vendor) == NVIDIA {
		return "nvidia"
	}
	return ""
}

func vendorOrDefault(v string) string {
	if v == "" {
		return NVIDIA
	}
	return v
}

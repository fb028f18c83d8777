// Package doctor checks that a host can run berth's kits: the engine
// answers, the kits' subnets are free and NATed, published ports are free,
// there is disk space, and the GPUs can be passed to containers. Each
// finding carries a one-line fix.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/runtime"
)

// Status of a finding.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Finding is the result of one check.
type Finding struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"` // one line; empty when ok
}

// Report is every finding, in the order the checks ran.
type Report struct {
	Findings []Finding `json:"findings"`
}

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	for _, f := range r.Findings {
		if f.Status == Fail {
			return true
		}
	}
	return false
}

// String is the report as `berth doctor` prints it, and the golden text of
// the tests.
func (r Report) String() string {
	var b strings.Builder
	width := 0
	for _, f := range r.Findings {
		width = max(width, len(f.Check))
	}
	count := map[Status]int{}
	for _, f := range r.Findings {
		count[f.Status]++
		fmt.Fprintf(&b, "%-4s  %-*s  %s\n", f.Status, width, f.Check, f.Detail)
		if f.Fix != "" {
			fmt.Fprintf(&b, "      %-*s  fix: %s\n", width, "", f.Fix)
		}
	}
	fmt.Fprintf(&b, "%d ok, %d warn, %d fail\n", count[OK], count[Warn], count[Fail])
	return b.String()
}

// Subnet is one kit's network.
type Subnet struct {
	Kit    string
	Prefix netip.Prefix
	// Bridge is the host interface of berth's own network for the kit,
	// when it exists: its route and address are not a conflict, and its
	// NAT rule must be in place.
	Bridge string
}

// Port is a published port.
type Port struct {
	Name  string // the service, e.g. ml-ollama
	Addr  netip.Addr
	Port  uint16
	Proto string // tcp (default) or udp
}

// Path is a directory berth writes to: the state directory or a data path.
type Path struct {
	Name string // e.g. state, ml.ollama.modelsPath
	Path string
}

// IfaceAddr is an address of a host interface.
type IfaceAddr struct {
	Iface  string
	Prefix netip.Prefix
}

// Options are plain values, so that the CLI can fill them from flags or
// from the compiled config.
type Options struct {
	// Engine answers the engine's Info; nil skips the engine checks.
	Engine  func(ctx context.Context) (runtime.Info, error)
	Subnets []Subnet
	Ports   []Port
	Paths   []Path
	// Host is read for routes (/proc/net/route), NAT rules (iptables,
	// through Host.Run) and GPUs.
	Host gpu.Host
	// GPU runs the GPU checks; WantGPU makes "no GPU" a failure (a
	// service needs one and is not optional).
	GPU     bool
	WantGPU bool
	// Cluster checks this host as a node of a k3s cluster with Longhorn.
	Cluster bool

	// Addrs lists the host's interface addresses (default: net.Interfaces).
	Addrs func() ([]IfaceAddr, error)
	// Listen tries to listen on a port (default: net.Listen/ListenPacket).
	Listen func(network, address string) (io.Closer, error)
	// Statfs reports free and total bytes of the file system of a path
	// (default: statfs(2) of the path or, when it does not exist yet, of
	// its nearest existing parent).
	Statfs func(path string) (free, total uint64, err error)
}

// Disk thresholds. Models and database files are large: under 5 GiB a pull
// of one model fails, under 1 GiB the engine itself starts failing.
const (
	diskFail = 1 << 30
	diskWarn = 5 << 30
)

// Run runs every check that Options asks for.
func Run(ctx context.Context, opts Options) Report {
	r := &reporter{}
	var info *runtime.Info
	if opts.Engine != nil {
		info = checkEngine(ctx, r, opts.Engine)
	}
	checkSubnets(ctx, r, opts)
	checkPorts(r, opts)
	if opts.Cluster {
		checkCluster(r, opts)
	}
	checkDisk(r, opts)
	if opts.GPU || opts.WantGPU {
		checkGPU(ctx, r, opts, info)
	}
	return Report{Findings: r.findings}
}

type reporter struct{ findings []Finding }

func (r *reporter) add(check string, s Status, fix, format string, args ...any) {
	if s == OK {
		fix = ""
	}
	r.findings = append(r.findings, Finding{Check: check, Status: s, Detail: fmt.Sprintf(format, args...), Fix: fix})
}

func checkEngine(ctx context.Context, r *reporter, engine func(context.Context) (runtime.Info, error)) *runtime.Info {
	info, err := engine(ctx)
	if err != nil {
		r.add("engine", Fail, "start the engine (systemctl start docker) or pick another with --runtime", "not answering: %v", err)
		return nil
	}
	r.add("engine", OK, "", "%s %s (API %s), CDI %s, nvidia runtime %s", info.Name, dash(info.Version), dash(info.APIVersion), onOff(info.CDIEnabled), yesNo(info.NvidiaRuntime))
	return &info
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// route is one line of /proc/net/route.
type route struct {
	Iface  string
	Prefix netip.Prefix
}

// routes reads the IPv4 routing table. Its addresses are little-endian hex.
func routes(h gpu.Host) ([]route, error) {
	data, err := h.ReadFile("/proc/net/route")
	if err != nil {
		return nil, err
	}
	var out []route
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 8 {
			continue
		}
		dst, ok1 := hexIPv4(f[1])
		mask, ok2 := hexIPv4(f[7])
		if !ok1 || !ok2 {
			continue
		}
		bits, _ := net.IPMask(mask.AsSlice()).Size()
		out = append(out, route{Iface: f[0], Prefix: netip.PrefixFrom(dst, bits).Masked()})
	}
	return out, nil
}

func hexIPv4(s string) (netip.Addr, bool) {
	var v uint32
	if _, err := fmt.Sscanf(s, "%08X", &v); err != nil || len(s) != 8 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}), true
}

func localAddrs() ([]IfaceAddr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []IfaceAddr
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ip, ok := netip.AddrFromSlice(ipn.IP)
				bits, _ := ipn.Mask.Size()
				if ok {
					out = append(out, IfaceAddr{Iface: ifc.Name, Prefix: netip.PrefixFrom(ip.Unmap(), bits)})
				}
			}
		}
	}
	return out, nil
}

// checkSubnets looks for anything else on the host using a kit's subnet:
// a route (a VPN, a LAN, another engine's network) or an interface address.
// The default route overlaps everything and is skipped.
func checkSubnets(ctx context.Context, r *reporter, opts Options) {
	if len(opts.Subnets) == 0 {
		return
	}
	subnets := append([]Subnet(nil), opts.Subnets...)
	sort.Slice(subnets, func(i, j int) bool { return subnets[i].Kit < subnets[j].Kit })
	rts, rerr := routes(opts.Host)
	addrsFn := opts.Addrs
	if addrsFn == nil {
		addrsFn = localAddrs
	}
	addrs, aerr := addrsFn()
	nat, natErr := natRules(ctx, opts.Host)
	for _, s := range subnets {
		check := "subnet " + s.Kit
		var conflicts []string
		for _, rt := range rts {
			if rt.Prefix.Bits() == 0 || rt.Iface == s.Bridge || !rt.Prefix.Overlaps(s.Prefix) {
				continue
			}
			conflicts = append(conflicts, fmt.Sprintf("route %s on %s", rt.Prefix, rt.Iface))
		}
		for _, a := range addrs {
			if a.Iface == s.Bridge || !a.Prefix.Masked().Overlaps(s.Prefix) {
				continue
			}
			conflicts = append(conflicts, fmt.Sprintf("address %s on %s", a.Prefix, a.Iface))
		}
		sort.Strings(conflicts)
		switch {
		case len(conflicts) > 0:
			r.add(check, Fail, fmt.Sprintf("choose another subnet (%s.network.subnet) or remove what uses it", s.Kit), "%s overlaps %s", s.Prefix, strings.Join(conflicts, ", "))
		case rerr != nil || aerr != nil:
			r.add(check, Warn, "run berth doctor as root on the host itself", "%s: could not read the host's networks: %v", s.Prefix, errors.Join(rerr, aerr))
		case s.Bridge != "":
			r.add(check, OK, "", "%s is berth's own network (%s)", s.Prefix, s.Bridge)
		default:
			r.add(check, OK, "", "%s is free", s.Prefix)
		}
		if natErr == nil {
			checkNAT(r, s, nat)
		}
	}
	if natErr != nil {
		r.add("nat", Warn, "check by hand: iptables -t nat -S POSTROUTING", "NAT rules unknown: %v", natErr)
	}
}

// natRules reads the nat table's POSTROUTING chain, where Docker and
// Podman put the MASQUERADE rule of each bridge network.
func natRules(ctx context.Context, h gpu.Host) ([]string, error) {
	if h.Run == nil {
		return nil, errors.New("no command runner")
	}
	out, err := h.Run(ctx, "iptables", "-t", "nat", "-S", "POSTROUTING")
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

func checkNAT(r *reporter, s Subnet, rules []string) {
	check := "nat " + s.Kit
	for _, rule := range rules {
		f := strings.Fields(rule)
		src, masq := false, false
		for i, w := range f {
			if w == "-s" && i+1 < len(f) && f[i+1] == s.Prefix.String() {
				src = true
			}
			if w == "MASQUERADE" {
				masq = true
			}
		}
		if src && masq {
			r.add(check, OK, "", "%s is masqueraded", s.Prefix)
			return
		}
	}
	if s.Bridge == "" {
		r.add(check, OK, "", "%s: network not created yet; the engine adds its NAT rule with it", s.Prefix)
		return
	}
	r.add(check, Fail, `restart the engine to restore its rules, and check that daemon.json does not set "iptables": false`, "%s has no MASQUERADE rule: containers cannot reach outside", s.Prefix)
}

func checkPorts(r *reporter, opts Options) {
	ports := append([]Port(nil), opts.Ports...)
	sort.Slice(ports, func(i, j int) bool {
		if ports[i].Port != ports[j].Port {
			return ports[i].Port < ports[j].Port
		}
		return ports[i].Addr.Less(ports[j].Addr)
	})
	listen := opts.Listen
	if listen == nil {
		listen = func(network, address string) (io.Closer, error) {
			if strings.HasPrefix(network, "udp") {
				return net.ListenPacket(network, address)
			}
			return net.Listen(network, address)
		}
	}
	for _, p := range ports {
		proto := p.Proto
		if proto == "" {
			proto = "tcp"
		}
		addr := netip.AddrPortFrom(p.Addr, p.Port).String()
		check := fmt.Sprintf("port %s/%s", addr, proto)
		l, err := listen(proto, addr)
		if err == nil {
			l.Close()
			r.add(check, OK, "", "free for %s", p.Name)
			continue
		}
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			r.add(check, Fail, fmt.Sprintf("stop what listens there (ss -ltnp 'sport = :%d') or change %s's port", p.Port, p.Name), "in use, wanted by %s", p.Name)
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			r.add(check, Fail, fmt.Sprintf("publish %s on an address of this host", p.Name), "%s is not an address of this host", p.Addr)
		default:
			r.add(check, Fail, fmt.Sprintf("change %s's port", p.Name), "cannot listen: %v", err)
		}
	}
}

func statfs(path string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(existing(path), &st); err != nil {
		return 0, 0, fmt.Errorf("reading file system of %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// existing returns p or its nearest existing parent: berth creates data
// paths on first up, and they land on their parent's file system.
func existing(p string) string {
	for {
		if _, err := os.Stat(p); err == nil || p == filepath.Dir(p) {
			return p
		}
		p = filepath.Dir(p)
	}
}

func checkDisk(r *reporter, opts Options) {
	fs := opts.Statfs
	if fs == nil {
		fs = statfs
	}
	paths := append([]Path(nil), opts.Paths...)
	sort.SliceStable(paths, func(i, j int) bool { return paths[i].Path < paths[j].Path })
	for _, p := range paths {
		check := "disk " + p.Path
		free, total, err := fs(p.Path)
		switch {
		case err != nil:
			r.add(check, Warn, "check that the path is on a mounted file system", "%s: %v", p.Name, err)
		case free < diskFail:
			r.add(check, Fail, "free space on that file system or move "+p.Name, "%s: %s free of %s", p.Name, gib(free), gib(total))
		case free < diskWarn || (total > 0 && free < total/10):
			r.add(check, Warn, "free space on that file system or move "+p.Name, "%s: only %s free of %s", p.Name, gib(free), gib(total))
		default:
			r.add(check, OK, "", "%s: %s free of %s", p.Name, gib(free), gib(total))
		}
	}
}

func gib(n uint64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

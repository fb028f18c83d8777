package nspawn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/voidnxlabs/berth/runtime"
)

// networkRecord is ROOT/networks/<name>.json.
type networkRecord struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Subnet netip.Prefix      `json:"subnet"`
	Gw     netip.Addr        `json:"gateway"`
	Labels map[string]string `json:"labels,omitempty"`
	Bridge string            `json:"bridge"`
}

func (e *Engine) networkPath(name string) string {
	return filepath.Join(e.root, "networks", name+".json")
}

func (e *Engine) networks() ([]networkRecord, error) {
	ents, err := os.ReadDir(filepath.Join(e.root, "networks"))
	if err != nil {
		return nil, err
	}
	var out []networkRecord
	for _, en := range ents {
		if !strings.HasSuffix(en.Name(), ".json") {
			continue
		}
		var n networkRecord
		if err := readJSON(filepath.Join(e.root, "networks", en.Name()), &n); err != nil {
			return nil, fmt.Errorf("reading network %s: %w", en.Name(), err)
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b networkRecord) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// network finds a network by name or ID.
func (e *Engine) network(nameOrID string) (networkRecord, error) {
	var n networkRecord
	if err := readJSON(e.networkPath(filepath.Base(nameOrID)), &n); err == nil {
		return n, nil
	}
	ns, err := e.networks()
	if err != nil {
		return n, err
	}
	for _, n := range ns {
		if n.ID == nameOrID || len(nameOrID) >= 12 && strings.HasPrefix(n.ID, nameOrID) {
			return n, nil
		}
	}
	return n, fmt.Errorf("%w: network %s", runtime.ErrNotFound, nameOrID)
}

func matches(labels, want map[string]string) bool {
	for k, v := range want {
		have, ok := labels[k]
		if !ok || v != "" && have != v {
			return false
		}
	}
	return true
}

// ListNetworks lists networks carrying all the given labels (an empty value
// matches any value), with the running machines attached to them.
func (e *Engine) ListNetworks(ctx context.Context, labels map[string]string) ([]runtime.Network, error) {
	ns, err := e.networks()
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	ms, err := e.machines()
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	var out []runtime.Network
	for _, n := range ns {
		if !matches(n.Labels, labels) {
			continue
		}
		rn := runtime.Network{ID: n.ID, Name: n.Name, Subnet: n.Subnet, Gateway: n.Gw, Labels: n.Labels, Containers: map[string]netip.Addr{}, Bridge: n.Bridge}
		for _, m := range ms {
			if !e.alive(m) {
				continue
			}
			for _, ep := range m.Spec.Networks {
				if ep.Network == n.Name {
					rn.Containers[m.ID] = ep.IP
				}
			}
		}
		out = append(out, rn)
	}
	return out, nil
}

// bridgeName is the host's bridge for a network: at most 15 bytes, the
// kernel's limit, and stable for the network's name.
func bridgeName(network string) string {
	sum := sha256.Sum256([]byte(network))
	return "bb-" + hex.EncodeToString(sum[:])[:11]
}

// CreateNetwork records a network and makes its bridge. A subnet that
// overlaps another network's or an address of the host is a conflict.
func (e *Engine) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (string, error) {
	unlock, err := e.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	if spec.Name == "" || strings.ContainsAny(spec.Name, "/\x00") {
		return "", fmt.Errorf("creating network %q: invalid name", spec.Name)
	}
	ns, err := e.networks()
	if err != nil {
		return "", err
	}
	for _, n := range ns {
		if n.Name == spec.Name {
			return "", fmt.Errorf("creating network %q: %w", spec.Name, runtime.ErrConflict)
		}
		if n.Subnet.Overlaps(spec.Subnet) {
			return "", fmt.Errorf("creating network %q: %w: %s overlaps with network %s (%s)", spec.Name, runtime.ErrConflict, spec.Subnet, n.Name, n.Subnet)
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				p, ok := netip.AddrFromSlice(ipn.IP)
				if ok && spec.Subnet.Contains(p.Unmap()) {
					return "", fmt.Errorf("creating network %q: %w: %s overlaps with an address of this host (%s)", spec.Name, runtime.ErrConflict, spec.Subnet, p)
				}
			}
		}
	}
	gw := spec.Gateway
	if !gw.IsValid() {
		gw = spec.Subnet.Masked().Addr().Next()
	}
	b := make([]byte, 32)
	rand.Read(b)
	n := networkRecord{ID: hex.EncodeToString(b), Name: spec.Name, Subnet: spec.Subnet.Masked(), Gw: gw, Labels: spec.Labels, Bridge: bridgeName(spec.Name)}
	if err := e.ensureBridge(ctx, n); err != nil {
		_ = e.removeBridge(context.WithoutCancel(ctx), n)
		return "", fmt.Errorf("creating network %q: %w", spec.Name, err)
	}
	if err := writeJSON(e.networkPath(n.Name), n); err != nil {
		return "", fmt.Errorf("creating network %q: %w", spec.Name, err)
	}
	return n.ID, nil
}

// ensureBridge makes the network's bridge, its address and its firewall
// rules when missing: after a reboot they are gone and the next start
// makes them again.
func (e *Engine) ensureBridge(ctx context.Context, n networkRecord) error {
	if _, err := net.InterfaceByName(n.Bridge); err != nil {
		if err := run(ctx, "ip", "link", "add", n.Bridge, "type", "bridge"); err != nil {
			return err
		}
		if err := run(ctx, "ip", "addr", "add", netip.PrefixFrom(n.Gw, n.Subnet.Bits()).String(), "dev", n.Bridge); err != nil {
			return err
		}
		if err := run(ctx, "ip", "link", "set", n.Bridge, "up"); err != nil {
			return err
		}
	}
	// Loopback-sourced packets routed to the bridge, for ports published
	// on 127.0.0.1: on berth's own bridge only, which goes with the
	// network.
	p := "/proc/sys/net/ipv4/conf/" + n.Bridge + "/route_localnet"
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("setting %s: %w", p, err)
	}
	if err := e.hostOn(ctx); err != nil {
		return err
	}
	tag := "berth-net:" + n.Name
	rules := []rule{
		{"nat", "POSTROUTING", []string{"-s", n.Subnet.String(), "!", "-o", n.Bridge, "-j", "MASQUERADE"}, false},
		// Published ports reached from the host: the source is a local
		// address the machine cannot answer; masquerade it.
		{"nat", "POSTROUTING", []string{"-o", n.Bridge, "-m", "addrtype", "--src-type", "LOCAL", "-j", "MASQUERADE"}, false},
		// Nothing from outside the kit starts a connection into it
		// (another kit, the LAN): only answers and ports published on
		// a non-loopback address (DNAT) get in. First in berth's
		// chain, so that no other network's ACCEPT comes before it.
		{"filter", forwardChain, []string{"-o", n.Bridge, "!", "-i", n.Bridge, "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"}, true},
		// route_localnet lets the bridge carry 127.0.0.0/8 both ways: a
		// machine that sends to 127.0.0.1 through it (root in a machine
		// can, with a raw socket) would reach services that listen on
		// the host's loopback only (CVE-2020-8558 for kube-proxy). Only
		// answers to the host's own connections may come in.
		{"filter", "INPUT", []string{"-i", n.Bridge, "-d", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED", "-j", "DROP"}, true},
		// Docker sets the FORWARD policy to DROP: let the kit's traffic
		// through, between machines and out.
		{"filter", forwardChain, []string{"-i", n.Bridge, "-j", "ACCEPT"}, false},
		{"filter", forwardChain, []string{"-o", n.Bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT"}, false},
	}
	return ensureRules(ctx, tag, rules)
}

func (e *Engine) removeBridge(ctx context.Context, n networkRecord) error {
	if err := deleteRules(ctx, "berth-net:"+n.Name); err != nil {
		return err
	}
	if _, err := net.InterfaceByName(n.Bridge); err == nil {
		return run(ctx, "ip", "link", "del", n.Bridge)
	}
	return nil
}

// forwardChain holds berth's forwarding rules; FORWARD jumps to it first.
const forwardChain = "BERTH-FORWARD"

// hostState is ROOT/host.json: what berth changed on the host for its
// networks, to put back when the last one goes.
type hostState struct {
	// IPForward is net.ipv4.ip_forward as it was before berth set it.
	IPForward string `json:"ipForward"`
}

// hostOn turns on what every berth network needs from the host: IPv4
// forwarding (machines reach out through NAT) and berth's FORWARD chain.
// The previous ip_forward is recorded once, so that hostOff restores the
// host's own setting and not berth's.
func (e *Engine) hostOn(ctx context.Context) error {
	const fwd = "/proc/sys/net/ipv4/ip_forward"
	statePath := filepath.Join(e.root, "host.json")
	if _, err := os.Stat(statePath); errors.Is(err, os.ErrNotExist) {
		cur, err := os.ReadFile(fwd)
		if err != nil {
			return fmt.Errorf("reading %s: %w", fwd, err)
		}
		if err := writeJSON(statePath, hostState{IPForward: strings.TrimSpace(string(cur))}); err != nil {
			return err
		}
	}
	if err := os.WriteFile(fwd, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("setting %s: %w", fwd, err)
	}
	if run(ctx, "iptables", "-w", "-t", "filter", "-S", forwardChain) != nil {
		if err := run(ctx, "iptables", "-w", "-t", "filter", "-N", forwardChain); err != nil {
			return err
		}
	}
	return ensureRules(ctx, "berth-host", []rule{{"filter", "FORWARD", []string{"-j", forwardChain}, true}})
}

// hostOff undoes hostOn when no berth network is left: berth's chain and
// the jump to it go once no rule is left in it (another berth root may
// still have some), and ip_forward goes back to 0 if it was 0 and nothing
// else on the host NATs (Docker, libvirt, another berth need it on).
func (e *Engine) hostOff(ctx context.Context) error {
	ns, err := e.networks()
	if err != nil || len(ns) > 0 {
		return err
	}
	statePath := filepath.Join(e.root, "host.json")
	var st hostState
	if err := readJSON(statePath, &st); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if out, err := output(ctx, "iptables", "-w", "-t", "filter", "-S", forwardChain); err == nil {
		if strings.Contains(out, "-A "+forwardChain+" ") {
			return os.Remove(statePath) // another berth's networks
		}
		if err := deleteRules(ctx, "berth-host"); err != nil {
			return err
		}
		if err := run(ctx, "iptables", "-w", "-t", "filter", "-X", forwardChain); err != nil {
			return err
		}
	}
	nat, err := output(ctx, "iptables", "-w", "-t", "nat", "-S", "POSTROUTING")
	if err != nil {
		return err
	}
	if st.IPForward == "0" && !strings.Contains(nat, "MASQUERADE") && !strings.Contains(nat, "SNAT") {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0"), 0o644); err != nil {
			return fmt.Errorf("restoring ip_forward: %w", err)
		}
	}
	if err := os.Remove(statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// rule is one iptables rule; all of one owner carry the owner's comment.
// top puts it first in its chain.
type rule struct {
	table, chain string
	spec         []string
	top          bool
}

// ensureRules adds the rules that are missing, each tagged with a comment
// so that deleteRules finds them. FORWARD, OUTPUT and PREROUTING rules go
// first in the chain, ahead of Docker's.
func ensureRules(ctx context.Context, tag string, rules []rule) error {
	for _, r := range rules {
		spec := append(slices.Clone(r.spec), "-m", "comment", "--comment", tag)
		if run(ctx, "iptables", append([]string{"-w", "-t", r.table, "-C", r.chain}, spec...)...) == nil {
			continue
		}
		op := []string{"-A", r.chain}
		if r.top || r.chain == "FORWARD" || r.chain == "OUTPUT" || r.chain == "PREROUTING" {
			op = []string{"-I", r.chain, "1"}
		}
		if err := run(ctx, "iptables", append(append([]string{"-w", "-t", r.table}, op...), spec...)...); err != nil {
			return err
		}
	}
	return nil
}

// deleteRules deletes every rule tagged with tag.
func deleteRules(ctx context.Context, tag string) error {
	for _, table := range []string{"nat", "filter"} {
		out, err := output(ctx, "iptables", "-w", "-t", table, "-S")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(line, "-A ") || !strings.Contains(line, `--comment `+tag+` `) && !strings.HasSuffix(line, "--comment "+tag) && !strings.Contains(line, `--comment "`+tag+`"`) {
				continue
			}
			args := append([]string{"-w", "-t", table, "-D"}, splitRule(strings.TrimPrefix(line, "-A "))...)
			if err := run(ctx, "iptables", args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitRule splits an `iptables -S` line into arguments, honouring the
// double quotes iptables puts around comments.
func splitRule(s string) []string {
	var out []string
	var cur strings.Builder
	inq := false
	for _, r := range s {
		switch {
		case r == '"':
			inq = !inq
		case r == ' ' && !inq:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// RemoveNetwork removes a network and its bridge. It fails with
// runtime.ErrInUse while a running machine is attached.
func (e *Engine) RemoveNetwork(ctx context.Context, nameOrID string) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	n, err := e.network(nameOrID)
	if err != nil {
		return fmt.Errorf("removing network %q: %w", nameOrID, err)
	}
	ms, err := e.machines()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if !e.alive(m) {
			continue
		}
		for _, ep := range m.Spec.Networks {
			if ep.Network == n.Name {
				return fmt.Errorf("removing network %q: %w: machine %s is attached", nameOrID, runtime.ErrInUse, m.Spec.Name)
			}
		}
	}
	if err := e.removeBridge(ctx, n); err != nil {
		return fmt.Errorf("removing network %q: %w", nameOrID, err)
	}
	if err := os.Remove(e.networkPath(n.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing network %q: %w", nameOrID, err)
	}
	if err := e.hostOff(ctx); err != nil {
		return fmt.Errorf("removing network %q: restoring the host: %w", nameOrID, err)
	}
	return nil
}

// Connect attaches a machine to a network; a running one gets its
// interface at once.
func (e *Engine) Connect(ctx context.Context, ctr string, ep runtime.Endpoint) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	m, err := e.machine(ctr)
	if err != nil {
		return fmt.Errorf("connecting %q to network %q: %w", ctr, ep.Network, err)
	}
	n, err := e.network(ep.Network)
	if err != nil {
		return fmt.Errorf("connecting %q to network %q: %w", ctr, ep.Network, err)
	}
	ep.Network = n.Name
	for _, have := range m.Spec.Networks {
		if have.Network == n.Name {
			return fmt.Errorf("connecting %q to network %q: %w: already connected", ctr, ep.Network, runtime.ErrConflict)
		}
	}
	if e.alive(m) {
		if err := e.checkAddress(m, ep); err != nil {
			return fmt.Errorf("connecting %q to network %q: %w", ctr, ep.Network, err)
		}
		if err := e.plug(ctx, m, n, ep, len(m.Spec.Networks)); err != nil {
			return fmt.Errorf("connecting %q to network %q: %w", ctr, ep.Network, err)
		}
	}
	m.Spec.Networks = append(m.Spec.Networks, ep)
	return e.saveMachine(m)
}

// Disconnect detaches a machine from a network.
func (e *Engine) Disconnect(ctx context.Context, ctr, netw string) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	m, err := e.machine(ctr)
	if err != nil {
		return fmt.Errorf("disconnecting %q from network %q: %w", ctr, netw, err)
	}
	name := netw
	if n, err := e.network(netw); err == nil {
		name = n.Name
	}
	i := slices.IndexFunc(m.Spec.Networks, func(ep runtime.Endpoint) bool { return ep.Network == name })
	if i < 0 {
		return fmt.Errorf("disconnecting %q from network %q: %w: not connected", ctr, netw, runtime.ErrNotFound)
	}
	if e.alive(m) {
		_ = run(ctx, "ip", "link", "del", vethName(m.ID, name))
	}
	m.Spec.Networks = slices.Delete(m.Spec.Networks, i, i+1)
	return e.saveMachine(m)
}

// vethName is the host end of a machine's interface on a network.
func vethName(id, network string) string {
	sum := sha256.Sum256([]byte(id + "\x00" + network))
	return "vb" + hex.EncodeToString(sum[:])[:12]
}

// netnsName is the machine's network namespace under /run/netns.
func netnsName(id string) string { return "berth-" + id[:16] }

// checkAddress refuses an address another running machine has on the
// same network.
func (e *Engine) checkAddress(m *machineRecord, ep runtime.Endpoint) error {
	if !ep.IP.IsValid() {
		return nil
	}
	ms, err := e.machines()
	if err != nil {
		return err
	}
	for _, o := range ms {
		if o.ID == m.ID || !e.alive(o) {
			continue
		}
		for _, oep := range o.Spec.Networks {
			if oep.Network == ep.Network && oep.IP == ep.IP {
				return fmt.Errorf("%w: address %s on %s is in use by %s", runtime.ErrConflict, ep.IP, ep.Network, o.Spec.Name)
			}
		}
	}
	return nil
}

// plug gives a machine's namespace an interface on network n: a veth pair
// whose host end joins the bridge, with the address and, on the first
// network, the default route through the bridge.
func (e *Engine) plug(ctx context.Context, m *machineRecord, n networkRecord, ep runtime.Endpoint, index int) error {
	if err := e.ensureBridge(ctx, n); err != nil {
		return err
	}
	ns := netnsName(m.ID)
	host := vethName(m.ID, n.Name)
	inner := fmt.Sprintf("eth%d", index)
	// After a disconnect the index may name an interface that is still
	// there: take the next free name.
	for i := index; run(ctx, "ip", "-n", ns, "link", "show", inner) == nil; i++ {
		inner = fmt.Sprintf("eth%d", i+1)
	}
	_ = run(ctx, "ip", "link", "del", host) // a leftover of a crash
	if err := run(ctx, "ip", "link", "add", host, "type", "veth", "peer", "name", inner, "netns", ns); err != nil {
		return err
	}
	steps := [][]string{
		{"link", "set", host, "master", n.Bridge},
		{"link", "set", host, "up"},
	}
	if ep.IP.IsValid() {
		steps = append(steps,
			[]string{"-n", ns, "link", "set", inner, "address", macFor(ep.IP)},
			[]string{"-n", ns, "addr", "add", netip.PrefixFrom(ep.IP, n.Subnet.Bits()).String(), "dev", inner})
	}
	steps = append(steps, []string{"-n", ns, "link", "set", inner, "up"})
	if index == 0 {
		steps = append(steps, []string{"-n", ns, "route", "add", "default", "via", n.Gw.String()})
	}
	for _, s := range steps {
		if err := run(ctx, "ip", s...); err != nil {
			return err
		}
	}
	return nil
}

// macFor derives the interface's MAC from its address, as Docker does, so
// that a machine recreated at the same address keeps its MAC and the
// host's neighbour cache stays right.
func macFor(ip netip.Addr) string {
	a := ip.As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3])
}

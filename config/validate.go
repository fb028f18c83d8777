package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/voidnxlabs/berth/hostnet"
)

// reservedNames cannot be kit, service or stack names: they would make a
// TARGET on the command line ambiguous.
var reservedNames = map[string]bool{"all": true, "berth": true, "host": true, "none": true}

// validate runs the checks that look across options: addresses, subnets,
// published ports, references and cycles.
func validate(cfg *Config, c *errs) {
	checkNames(cfg, c)
	checkSubnets(cfg, c)
	checkAddresses(cfg, c)
	checkCapacity(cfg, c)
	checkPorts(cfg, c)
	checkExposed(cfg, c)
	checkRefs(cfg, c)
	checkCycles(cfg, c)
}

func checkNames(cfg *Config, c *errs) {
	containers := map[string]*Service{}
	for _, k := range cfg.Kits {
		if reservedNames[k.Name] {
			c.add(k.Pos, k.Name, "pick another kit name", "%q is a reserved name", k.Name)
		}
		for _, s := range k.Services {
			if !s.InFile {
				continue
			}
			if reservedNames[s.Name] {
				c.add(s.Pos, s.Path(), "pick another service name", "%q is a reserved name", s.Name)
			}
			if len(s.Container) > maxNameLen {
				c.add(s.Pos, s.Path(), fmt.Sprintf("shorten the kit or service name: the container name %s-%s is also a hostname (at most %d characters)", k.Name, s.Name, maxNameLen),
					"container name is %d characters long", len(s.Container))
			}
			if prev, ok := containers[s.Container]; ok {
				c.add(s.Pos, s.Path(), "rename one of them", "container name %q is also the name of %s (%s)", s.Container, prev.Path(), prev.Pos)
			}
			containers[s.Container] = s
		}
	}
	for _, st := range cfg.Stacks {
		switch {
		case reservedNames[st.Name]:
			c.add(st.Pos, "stacks."+st.Name, "pick another stack name", "%q is a reserved name", st.Name)
		case cfg.Kit(st.Name) != nil && cfg.Kit(st.Name).Pos.File != "":
			c.add(st.Pos, "stacks."+st.Name, "a TARGET would be ambiguous: rename the stack", "stack %q has the name of a kit", st.Name)
		case containers[st.Name] != nil:
			c.add(st.Pos, "stacks."+st.Name, "a TARGET would be ambiguous: rename the stack", "stack %q has the name of a container", st.Name)
		}
	}
}

func checkSubnets(cfg *Config, c *errs) {
	var enabled []*Kit
	for _, k := range cfg.Kits {
		if !k.Enable || !k.Subnet.IsValid() {
			continue
		}
		if k.Host.IsValid() && k.Subnet.Contains(k.Host) {
			if k.Host == k.Subnet.Masked().Addr() || k.Host == lastAddr(k.Subnet) {
				c.add(k.Pos, k.Name+".network.host", fmt.Sprintf("use an address such as %s", nthAddr(k.Subnet, 10)), "host address %s is the network or broadcast address of %s", k.Host, k.Subnet)
			}
		}
		for _, o := range enabled {
			if o.Subnet.Overlaps(k.Subnet) {
				// Report it where the user wrote a subnet, the later one when
				// both did: that is most likely the new line.
				at, other := k, o
				if at.SubnetPos.File == "" || (other.SubnetPos.File != "" && other.SubnetPos.Line > at.SubnetPos.Line) {
					at, other = o, k
				}
				pos := at.SubnetPos
				if pos.File == "" {
					pos = at.Pos
				}
				c.add(pos, at.Name+".network.subnet", fmt.Sprintf("give each kit its own network, e.g. %s", suggestSubnet(cfg)),
					"subnet %s overlaps kit %s's subnet %s", at.Subnet, other.Name, other.Subnet)
			}
		}
		enabled = append(enabled, k)
	}
}

// suggestSubnet proposes a free 192.168.2x0.0/24 for a message.
func suggestSubnet(cfg *Config) string {
	for i := 220; i < 256; i += 10 {
		p := netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/24", i))
		free := true
		for _, k := range cfg.Kits {
			if k.Subnet.IsValid() && k.Subnet.Overlaps(p) {
				free = false
			}
		}
		if free {
			return p.String()
		}
	}
	return "10.200.0.0/24"
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	bits := p.Bits()
	for i := bits; i < 32; i++ {
		a[i/8] |= 1 << (7 - uint(i%8))
	}
	return netip.AddrFrom4(a)
}

// SlotAddr returns the fixed address of a catalog slot in a kit's subnet.
func SlotAddr(k *Kit, slot int) netip.Addr { return nthAddr(k.Subnet, slot) }

func checkAddresses(cfg *Config, c *errs) {
	for _, k := range cfg.Kits {
		if !k.Enable || !k.Subnet.IsValid() {
			continue
		}
		taken := map[netip.Addr]*Service{}
		// Catalog slots are reserved even for disabled services, so that
		// enabling one later never moves another.
		if k.Builtin != nil {
			for _, s := range k.Services {
				if s.Catalog != nil && !s.IP.IsValid() {
					taken[SlotAddr(k, s.Catalog.Slot)] = s
				}
			}
		}
		var explicit []*Service
		for _, s := range k.Services {
			if s.IP.IsValid() {
				explicit = append(explicit, s)
			}
		}
		for _, s := range explicit {
			p, pos := s.Path()+".ip", s.PosOf("ip")
			switch {
			case !k.Subnet.Contains(s.IP):
				c.add(pos, p, fmt.Sprintf("pick an address inside %s", k.Subnet), "address %s is outside the %s subnet %s", s.IP, k.Name, k.Subnet)
			case s.IP == k.Host:
				c.add(pos, p, "the host address is the kit's gateway; pick another address", "address %s is the %s host address", s.IP, k.Name)
			case s.IP == k.Subnet.Masked().Addr() || s.IP == lastAddr(k.Subnet):
				c.add(pos, p, "pick an address between them", "address %s is the network or broadcast address", s.IP)
			default:
				if o, ok := taken[s.IP]; ok && o != s {
					who := o.Path()
					if !o.Enable {
						who += " (catalog slot, reserved even when disabled)"
					}
					c.add(pos, p, "pick a free address; 'berth plan --offline' shows the taken ones", "address %s is already used by %s", s.IP, who)
				} else {
					taken[s.IP] = s
				}
			}
		}
	}
}

type hostPort struct {
	ip   netip.Addr
	port uint16
}

// PublishedPorts returns the host ports a service publishes, with default
// addresses and container ports filled in.
func (s *Service) PublishedPorts(def netip.Addr) []Publish {
	var out []Publish
	for _, pb := range s.Publish {
		if pb.HostPort == 0 {
			// "publish: ADDR" publishes every port at the same number.
			for _, po := range s.Ports {
				out = append(out, Publish{HostIP: orAddr(pb.HostIP, def), HostPort: po.Port, ContainerPort: po.Port, Pos: pb.Pos})
			}
			continue
		}
		pb.HostIP = orAddr(pb.HostIP, def)
		out = append(out, pb)
	}
	return out
}

func orAddr(a, def netip.Addr) netip.Addr {
	if a.IsValid() {
		return a
	}
	return def
}

func checkPorts(cfg *Config, c *errs) {
	used := map[hostPort]*Service{}
	for _, s := range cfg.Enabled() {
		seen := map[uint16]string{}
		for _, po := range s.Ports {
			if po.Port == 0 {
				continue
			}
			if prev, ok := seen[po.Port]; ok {
				c.add(s.PosOf(po.Option), s.Path()+"."+po.Option, "give each port its own number", "port %d is also %s", po.Port, prev)
			}
			seen[po.Port] = s.Path() + "." + po.Option
		}
		if len(s.Publish) > 0 && len(s.Ports) == 0 {
			c.add(s.PosOf("publish"), s.Path()+".publish", "set port: or give HOSTPORT:PORT entries", "nothing to publish: the service has no port")
		}
		for _, pb := range s.PublishedPorts(cfg.PublishAddress) {
			for _, key := range []hostPort{{pb.HostIP, pb.HostPort}, {netip.IPv4Unspecified(), pb.HostPort}} {
				if o, ok := used[key]; ok && o != s {
					c.add(pb.Pos, s.Path()+".publish", "publish on another host port", "host port %s:%d is also published by %s", pb.HostIP, pb.HostPort, o.Path())
					break
				}
				if pb.HostIP.IsUnspecified() {
					// 0.0.0.0 clashes with every address on the same port.
					for k, o := range used {
						if k.port == pb.HostPort && o != s {
							c.add(pb.Pos, s.Path()+".publish", "publish on another host port", "host port %s:%d is also published by %s", pb.HostIP, pb.HostPort, o.Path())
						}
					}
				}
			}
			used[hostPort{pb.HostIP, pb.HostPort}] = s
		}
	}
}

func checkRefs(cfg *Config, c *errs) {
	for _, s := range cfg.Enabled() {
		for _, d := range s.DependsOn {
			p := s.Path() + ".dependsOn"
			t := cfg.Service(d.Kit, d.Service)
			switch {
			case t == nil:
				c.add(d.Pos, p, refHint(cfg, d.Kit, d.Service), "unknown service %s/%s", d.Kit, d.Service)
			case t == s:
				c.add(d.Pos, p, "remove it", "%s depends on itself", s.Path())
			case !t.Enable || !cfg.Kit(d.Kit).Enable:
				c.add(d.Pos, p, fmt.Sprintf("enable it: %s.%s.enable: true", d.Kit, d.Service), "%s depends on %s/%s, which is disabled", s.Path(), d.Kit, d.Service)
			}
		}
		for i, k := range s.Connect {
			pos := s.PosOf(fmt.Sprintf("connect[%d]", i))
			kit := cfg.Kit(k)
			switch {
			case kit == nil:
				hint := "known kits: " + strings.Join(cfgKitNames(cfg), ", ")
				if sg := suggest(k, cfgKitNames(cfg)); sg != "" {
					hint = fmt.Sprintf("did you mean %q?", sg)
				}
				c.add(pos, s.Path()+".connect", hint, "unknown kit %q", k)
			case k == s.Kit:
				c.add(pos, s.Path()+".connect", "a service is always on its own kit's network; remove it", "%s is the service's own kit", k)
			}
		}
	}
	for _, st := range cfg.Stacks {
		for _, m := range st.Members {
			if cfg.Service(m.Kit, m.Service) == nil {
				c.add(m.Pos, "stacks."+st.Name, refHint(cfg, m.Kit, m.Service), "unknown service %s/%s", m.Kit, m.Service)
			}
		}
	}
}

func cfgKitNames(cfg *Config) []string {
	var out []string
	for _, k := range cfg.Kits {
		out = append(out, k.Name)
	}
	return out
}

func refHint(cfg *Config, kit, svc string) string {
	k := cfg.Kit(kit)
	if k == nil {
		if sg := suggest(kit, cfgKitNames(cfg)); sg != "" {
			return fmt.Sprintf("did you mean %s/%s?", sg, svc)
		}
		return "known kits: " + strings.Join(cfgKitNames(cfg), ", ")
	}
	var names []string
	for _, s := range k.Services {
		names = append(names, s.Name)
	}
	if sg := suggest(svc, names); sg != "" {
		return fmt.Sprintf("did you mean %s/%s?", kit, sg)
	}
	return fmt.Sprintf("services of %s: %s", kit, strings.Join(names, ", "))
}

// checkCycles finds dependency cycles among enabled services and prints
// each one as a → b → a.
func checkCycles(cfg *Config, c *errs) {
	const (
		white = iota
		grey
		black
	)
	color := map[*Service]int{}
	var stack []*Service
	reported := map[string]bool{}
	var visit func(s *Service)
	visit = func(s *Service) {
		color[s] = grey
		stack = append(stack, s)
		for _, d := range s.DependsOn {
			t := cfg.Service(d.Kit, d.Service)
			if t == nil || t == s || !t.Enable {
				continue
			}
			switch color[t] {
			case white:
				visit(t)
			case grey:
				i := len(stack) - 1
				for stack[i] != t {
					i--
				}
				cycle := stack[i:]
				names := make([]string, 0, len(cycle)+1)
				for _, x := range cycle {
					names = append(names, x.Kit+"/"+x.Name)
				}
				names = append(names, t.Kit+"/"+t.Name)
				key := canonicalCycle(names[:len(names)-1])
				if !reported[key] {
					reported[key] = true
					c.add(d.Pos, s.Path()+".dependsOn", "remove one of these dependsOn entries", "dependency cycle: %s", strings.Join(names, " → "))
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[s] = black
	}
	for _, s := range cfg.Enabled() {
		if color[s] == white {
			visit(s)
		}
	}
}

func canonicalCycle(names []string) string {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return strings.Join(sorted, ",")
}

// checkCapacity refuses a kit whose subnet has fewer free addresses than
// the services that need one: the host address, the catalog slots and
// fixed addresses are taken first, then each enabled service without a
// fixed address takes one, and so does each service of another kit that
// connects to this one. The first service that does not fit is named.
func checkCapacity(cfg *Config, c *errs) {
	type need struct {
		pos  Pos
		path string
		who  string
	}
	for _, k := range cfg.Kits {
		if !k.Enable || !k.Subnet.IsValid() {
			continue
		}
		// Network and broadcast addresses are never handed out.
		size := (1 << (32 - k.Subnet.Bits())) - 2
		taken := map[netip.Addr]bool{}
		if k.Host.IsValid() {
			taken[k.Host] = true
		}
		var needs []need
		for _, s := range k.Services {
			switch {
			case s.IP.IsValid():
				taken[s.IP] = true
			case s.Catalog != nil:
				taken[SlotAddr(k, s.Catalog.Slot)] = true
			case s.Enable:
				needs = append(needs, need{s.Pos, s.Path(), s.Container})
			}
		}
		for _, o := range cfg.Enabled() {
			if o.Kit == k.Name {
				continue
			}
			for i, n := range o.Connect {
				if n == k.Name && cfg.Kit(o.Kit) != nil && cfg.Kit(o.Kit).Enable {
					needs = append(needs, need{o.PosOf(fmt.Sprintf("connect[%d]", i)), o.Path() + ".connect", o.Container})
				}
			}
		}
		free := size - len(taken)
		if len(needs) <= free {
			continue
		}
		sort.SliceStable(needs, func(i, j int) bool { return needs[i].who < needs[j].who })
		first := needs[free]
		c.add(first.pos, first.path, fmt.Sprintf("give kit %s a larger subnet (e.g. a /%d), or fewer services", k.Name, largerPrefix(k.Subnet.Bits(), len(taken)+len(needs))),
			"kit %s's subnet %s has %d free addresses for %d services that need one; %s does not fit", k.Name, k.Subnet, max(free, 0), len(needs), first.who)
	}
}

// largerPrefix is the longest prefix length that holds n addresses plus
// the network and broadcast addresses.
func largerPrefix(bits, n int) int {
	for b := bits; b >= 8; b-- {
		if (1<<(32-b))-2 >= n {
			return b
		}
	}
	return 8
}

// Exposure is one published port reachable from other machines.
type Exposure struct {
	Service *Service
	Publish Publish
}

// Exposed returns the published ports of enabled services that bind an
// address other than loopback, sorted by container and host port.
func (cfg *Config) Exposed() []Exposure {
	var out []Exposure
	for _, s := range cfg.Enabled() {
		for _, pb := range s.PublishedPorts(cfg.PublishAddress) {
			if !pb.HostIP.IsLoopback() {
				out = append(out, Exposure{Service: s, Publish: pb})
			}
		}
	}
	return out
}

// checkExposed refuses a publish beyond loopback unless publishExposed
// acknowledges it: the seed reaches services at their private addresses,
// and a port on 0.0.0.0 is open to the whole network, without a login for
// most of the kits' services.
func checkExposed(cfg *Config, c *errs) {
	if cfg.PublishExposed {
		return
	}
	var viaDefault []string
	seen := map[string]bool{}
	for _, e := range cfg.Exposed() {
		s, pb := e.Service, e.Publish
		if s.PublishExposed {
			continue
		}
		hint := fmt.Sprintf("publish on 127.0.0.1, or acknowledge it with %s.publishExposed: true", s.Path())
		if explicitAddr(s, pb.HostIP) {
			c.add(pb.Pos, s.Path()+".publish", hint, "port %d on %s is reachable from other machines", pb.HostPort, pb.HostIP)
			continue
		}
		if !seen[s.Path()] {
			seen[s.Path()] = true
			viaDefault = append(viaDefault, s.Path())
		}
	}
	if len(viaDefault) > 0 {
		c.add(cfg.PublishAddressPos, "publishAddress", "use 127.0.0.1, or acknowledge it with publishExposed: true",
			"%s publishes %s on %s, reachable from other machines", strings.Join(viaDefault, ", "), plural(len(viaDefault), "its ports", "their ports"), cfg.PublishAddress)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// explicitAddr says whether one of s's publish entries names a itself.
func explicitAddr(s *Service, a netip.Addr) bool {
	for _, pb := range s.Publish {
		if pb.HostIP == a {
			return true
		}
	}
	return false
}

// CheckHostNetworks reports kits whose subnet overlaps a network this host
// already has (an interface such as docker0, or a route): traffic for
// those addresses would go to the kit, or the kit's to them. A network
// equal to the kit's subnet whose interface holds the kit's host address
// is the kit's own bridge from an earlier apply.
func CheckHostNetworks(cfg *Config, nets []hostnet.Network) Errors {
	var c errs
	for _, k := range cfg.Kits {
		if !k.Enable || !k.Subnet.IsValid() || !k.hasEnabled() {
			continue
		}
		for _, n := range nets {
			if !n.Prefix.Overlaps(k.Subnet) {
				continue
			}
			if n.Prefix == k.Subnet && n.Addr == k.Host {
				continue
			}
			pos := k.SubnetPos
			if !pos.IsValid() {
				pos = k.Pos
			}
			if !pos.IsValid() {
				pos = Pos{File: cfg.File}
			}
			c.add(pos, k.Name+".network.subnet", fmt.Sprintf("pick a subnet this host does not use (see 'ip route'), e.g. %s; --offline skips host checks", suggestFreeSubnet(cfg, nets)),
				"subnet %s overlaps this host's network %s", k.Subnet, n)
			break
		}
	}
	return c.list.sorted()
}

func (k *Kit) hasEnabled() bool {
	for _, s := range k.Services {
		if s.Enable {
			return true
		}
	}
	return false
}

// suggestFreeSubnet proposes a /24 that neither a kit nor the host uses.
func suggestFreeSubnet(cfg *Config, nets []hostnet.Network) string {
	for _, base := range []string{"192.168.%d.0/24", "10.%d.0.0/24"} {
		for i := 220; i < 256; i += 10 {
			p := netip.MustParsePrefix(fmt.Sprintf(base, i))
			free := true
			for _, k := range cfg.Kits {
				free = free && !(k.Subnet.IsValid() && k.Subnet.Overlaps(p))
			}
			for _, n := range nets {
				free = free && !n.Prefix.Overlaps(p)
			}
			if free {
				return p.String()
			}
		}
	}
	return "10.250.0.0/24"
}

package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
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
	checkPorts(cfg, c)
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

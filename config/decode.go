package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"go.yaml.in/yaml/v3"

	"github.com/voidnxlabs/berth/kits"
)

// decoder turns the normalized node tree into a Config, collecting every
// problem instead of stopping at the first.
type decoder struct {
	file string
	dir  string // where relative envFile paths start
	errs *errs
}

func (d *decoder) pos(n *yaml.Node) Pos { return pos(d.file, n) }

func (d *decoder) fail(n *yaml.Node, path, hint, format string, args ...any) {
	d.errs.add(d.pos(n), path, hint, format, args...)
}

// nameRE is what kit, service and stack names look like: they become parts
// of container names, DNS names and shell function names. Their length is
// bounded by maxNameLen.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$|^[a-z]$`)

const nameHint = "use lowercase letters, digits and '-', starting with a letter, at most 63 characters"

// maxNameLen is the longest DNS label, hostname (sethostname allows 64
// bytes with the NUL) and container name berth gives out: container names
// are also DNS names on the kit network.
const maxNameLen = 63

var (
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
	envKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	userRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$`)
)

// mountSeparators split the SOURCE:TARGET:OPTIONS strings engines and unit
// files use for bind mounts.
const mountSeparators = ":,"

// reservedNets are IPv4 networks a kit network must never overlap: the
// host's loopback (route_localnet tricks reach it), multicast and the
// reserved class E, link-local (cloud metadata at 169.254.169.254) and
// "this network".
var reservedNets = []struct {
	net  netip.Prefix
	what string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\", reserved"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local, where cloud metadata services answer"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// checkImageRef validates an image reference with the grammar Docker and
// Podman use (github.com/distribution/reference), so that nothing but a
// reference reaches an engine or a unit file's Image= line.
func checkImageRef(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if _, err := reference.ParseNormalizedNamed(s); err != nil {
		return err
	}
	return nil
}

// pairs iterates over a mapping node's key/value pairs.
func pairs(n *yaml.Node, f func(k, v *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		f(n.Content[i], n.Content[i+1])
	}
}

func (d *decoder) config(root *yaml.Node, defaultProject string) *Config {
	cfg := &Config{File: d.file, Runtime: "auto", PublishAddress: netip.MustParseAddr("127.0.0.1"), VolumesPath: DefaultVolumesPath}
	cfg.Project = sanitizeProject(defaultProject)
	kitNodes := map[string][2]*yaml.Node{}
	var stacks *yaml.Node
	pairs(root, func(k, v *yaml.Node) {
		switch k.Value {
		case "project":
			if s, ok := d.str(v, "project"); ok {
				if !nameRE.MatchString(s) {
					d.fail(v, "project", nameHint, "invalid project name %q", s)
				}
				cfg.Project = s
			}
		case "runtime":
			if s, ok := d.enum(v, "runtime", Runtimes); ok {
				cfg.Runtime = s
			}
		case "publishAddress":
			if a, ok := d.ip(v, "publishAddress"); ok {
				cfg.PublishAddress = a
				cfg.PublishAddressPos = d.pos(v)
			}
		case "publishExposed":
			if b, ok := d.bool(v, "publishExposed"); ok {
				cfg.PublishExposed = b
			}
		case "containerPrefix":
			if s, ok := d.str(v, "containerPrefix"); ok {
				if s != "" && !nameRE.MatchString(s+"x") {
					d.fail(v, "containerPrefix", "lowercase letters, digits and '-', starting with a letter", "invalid containerPrefix %q", s)
				} else {
					cfg.ContainerPrefix = s
				}
			}
		case "volumesPath":
			if p, ok := d.absPath(v, "volumesPath"); ok {
				cfg.VolumesPath = p
			}
		case "stacks":
			stacks = v
		case "images":
			if v.Kind != yaml.MappingNode && v.Tag != "!!null" {
				d.fail(v, "images", "images is a mapping of recipe names to recipes", "expected a mapping, got %s", kindName(v))
				return
			}
			cfg.Images = v
		default:
			kitNodes[k.Value] = [2]*yaml.Node{k, v}
		}
	})
	if cfg.Project == "" {
		cfg.Project = "berth"
	}
	names := make([]string, 0, len(kitNodes))
	for n := range kitNodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		kv := kitNodes[name]
		if kit := d.kit(kv[0], kv[1]); kit != nil {
			cfg.Kits = append(cfg.Kits, kit)
		}
	}
	// A built-in kit absent from the file is still known (disabled), so
	// stacks and references can name it with a clear "disabled" message.
	for _, bk := range kits.All() {
		if _, ok := kitNodes[bk.Name]; !ok {
			cfg.Kits = append(cfg.Kits, builtinKit(bk, Pos{}, false))
		}
	}
	sort.Slice(cfg.Kits, func(i, j int) bool { return cfg.Kits[i].Name < cfg.Kits[j].Name })
	if stacks != nil {
		cfg.Stacks = d.stacks(stacks)
	}
	// Named volumes resolve once project and volumesPath are known,
	// wherever in the file they were set.
	for _, k := range cfg.Kits {
		for _, s := range k.Services {
			s.Container = cfg.ContainerPrefix + s.Container
			for i, m := range s.Mounts {
				if m.Volume != "" {
					s.Mounts[i].Source = path.Join(cfg.VolumesPath, cfg.Project, m.Volume)
				}
			}
		}
	}
	return cfg
}

// DefaultVolumesPath is where named volumes live unless volumesPath says
// otherwise.
const DefaultVolumesPath = "/var/lib/berth/volumes"

// VolumeRE is what a named volume's name looks like: it becomes a
// directory name, so no slashes and no leading dot.
var VolumeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// sanitizeProject turns a directory name into a valid project name.
func sanitizeProject(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == '.' || r == ' ':
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	for len(out) > 0 && out[0] >= '0' && out[0] <= '9' {
		out = out[1:]
	}
	if !nameRE.MatchString(out) {
		return ""
	}
	return out
}

// builtinKit makes a kit from the catalog with every service disabled.
func builtinKit(bk *kits.Kit, p Pos, enable bool) *Kit {
	k := &Kit{Name: bk.Name, Pos: p, Builtin: bk, Enable: enable, Subnet: bk.Subnet, Host: bk.Host}
	for _, cs := range bk.Services {
		k.Services = append(k.Services, catalogService(k, cs))
	}
	return k
}

func catalogService(k *Kit, cs *kits.Service) *Service {
	s := &Service{
		Kit: k.Name, Name: cs.Name, Container: cs.Container, Catalog: cs, Pos: k.Pos,
		Image: cs.Image, Hostname: cs.Name, Restart: "unless-stopped",
		Env: map[string]string{}, Labels: map[string]string{}, pos: map[string]Pos{},
	}
	for _, p := range cs.Ports {
		s.Ports = append(s.Ports, PortOpt{Option: p.Option, Port: p.Default, Protocol: p.Protocol})
	}
	for _, p := range cs.Paths {
		s.Paths = append(s.Paths, PathOpt{Option: p.Option, Host: p.Default, Target: p.Target, UID: p.UID, GID: p.GID})
	}
	s.Connect = append(s.Connect, cs.Connect...)
	if cs.Publish {
		s.Publish = []Publish{{}}
	}
	return s
}

func (d *decoder) kit(kn, v *yaml.Node) *Kit {
	name := kn.Value
	if !nameRE.MatchString(name) {
		d.fail(kn, name, nameHint, "invalid kit name %q", name)
		return nil
	}
	if v.Kind != yaml.MappingNode {
		if v.Tag == "!!null" {
			v = &yaml.Node{Kind: yaml.MappingNode, Line: v.Line, Column: v.Column}
		} else {
			d.fail(v, name, "a kit is a mapping: "+name+": {enable: true, ...}", "expected a mapping, got %s", kindName(v))
			return nil
		}
	}
	var kit *Kit
	if bk := kits.Get(name); bk != nil {
		kit = builtinKit(bk, d.pos(kn), true)
	} else {
		if hint := suggest(name, append(kitNames(), reservedKeys...)); hint != "" {
			// A near miss of a known kit or setting is almost surely a typo:
			// say so rather than silently starting a new kit.
			if v.Kind == yaml.MappingNode && !hasServiceWithImage(v) {
				d.fail(kn, name, fmt.Sprintf("did you mean %q?", hint), "unknown kit or setting %q", name)
				return nil
			}
		}
		kit = &Kit{Name: name, Pos: d.pos(kn), Enable: true}
	}
	var netNode *yaml.Node
	pairs(v, func(k, val *yaml.Node) {
		p := name + "." + k.Value
		switch k.Value {
		case "enable":
			if b, ok := d.bool(val, p); ok {
				kit.Enable = b
			}
		case "network":
			netNode = val
		case "description":
			d.str(val, p)
		default:
			d.service(kit, k, val)
		}
	})
	if netNode != nil {
		d.network(kit, netNode)
	} else if kit.Builtin == nil {
		d.fail(kn, name+".network.subnet", fmt.Sprintf("add network: {subnet: 192.168.220.0/24} under %s", name), "kit %q has no network subnet", name)
	}
	sort.Slice(kit.Services, func(i, j int) bool { return kit.Services[i].Name < kit.Services[j].Name })
	return kit
}

func kitNames() []string {
	var out []string
	for _, k := range kits.All() {
		out = append(out, k.Name)
	}
	return out
}

func hasServiceWithImage(v *yaml.Node) bool {
	found := false
	pairs(v, func(_, s *yaml.Node) {
		if s.Kind == yaml.MappingNode {
			pairs(s, func(k, _ *yaml.Node) {
				if k.Value == "image" {
					found = true
				}
			})
		}
	})
	return found
}

func (d *decoder) network(kit *Kit, v *yaml.Node) {
	p := kit.Name + ".network"
	if v.Kind != yaml.MappingNode {
		d.fail(v, p, "network: {subnet: 192.168.220.0/24, host: 192.168.220.10}", "expected a mapping, got %s", kindName(v))
		return
	}
	hostSet := false
	var subnetNode *yaml.Node
	pairs(v, func(k, val *yaml.Node) {
		switch k.Value {
		case "subnet":
			subnetNode = val
			if pr, ok := d.cidr(val, p+".subnet"); ok {
				kit.Subnet = pr
				kit.SubnetPos = d.pos(val)
			}
		case "host":
			if a, ok := d.ip(val, p+".host"); ok {
				kit.Host = a
				hostSet = true
			}
		default:
			d.unknown(k, p, []string{"subnet", "host"})
		}
	})
	if kit.Builtin == nil && subnetNode == nil {
		d.fail(v, p+".subnet", "add subnet: 192.168.220.0/24", "kit %q has no network subnet", kit.Name)
	}
	if subnetNode != nil && !hostSet && kit.Subnet.IsValid() {
		kit.Host = nthAddr(kit.Subnet, 10)
	}
	if kit.Subnet.IsValid() && kit.Host.IsValid() && !kit.Subnet.Contains(kit.Host) {
		d.fail(v, p+".host", fmt.Sprintf("pick an address inside %s, e.g. %s", kit.Subnet, nthAddr(kit.Subnet, 10)), "host address %s is outside the subnet %s", kit.Host, kit.Subnet)
	}
}

// nthAddr returns the n-th address of a prefix (n=10 → x.y.z.10 in a /24).
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

func (d *decoder) unknown(k *yaml.Node, parent string, known []string) {
	hint := ""
	if s := suggest(k.Value, known); s != "" {
		hint = fmt.Sprintf("did you mean %q?", s)
	} else {
		hint = "known options: " + strings.Join(known, ", ")
	}
	d.fail(k, join(parent, k.Value), hint, "unknown option %q", k.Value)
}

func (d *decoder) service(kit *Kit, kn, v *yaml.Node) {
	name := kn.Value
	p := kit.Name + "." + name
	var s *Service
	for _, cs := range kit.Services {
		if cs.Name == name {
			s = cs
		}
	}
	if s == nil {
		if kit.Builtin != nil {
			// In a built-in kit a near miss of a catalog service or kit option
			// is a typo, not a new service.
			var known []string
			for _, cs := range kit.Builtin.Services {
				known = append(known, cs.Name)
			}
			known = append(known, "enable", "network")
			if hint := suggest(name, known); hint != "" && !(v.Kind == yaml.MappingNode && hasKey(v, "image")) {
				d.fail(kn, p, fmt.Sprintf("did you mean %q?", hint), "unknown service or option %q in kit %s", name, kit.Name)
				return
			}
		}
		if !nameRE.MatchString(name) {
			d.fail(kn, p, nameHint, "invalid service name %q", name)
			return
		}
		s = &Service{Kit: kit.Name, Name: name, Container: kits.ContainerName(kit.Name, name), Pos: d.pos(kn),
			Hostname: name, Restart: "unless-stopped", Env: map[string]string{}, Labels: map[string]string{}, pos: map[string]Pos{}}
		kit.Services = append(kit.Services, s)
	}
	s.InFile = true
	s.Enable = true
	s.Pos = d.pos(kn)
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		// "ollama:" alone enables the service with its defaults.
	case v.Kind == yaml.ScalarNode && v.Tag == "!!bool":
		// "ollama: false" reads naturally as a switch.
		if b, ok := d.bool(v, p); ok {
			s.Enable = b
		}
	case v.Kind != yaml.MappingNode:
		d.fail(v, p, fmt.Sprintf("a service is a mapping: %s: {enable: true, ...}", name), "expected a mapping, got %s", kindName(v))
		return
	default:
		d.serviceOptions(s, v, p)
	}
	if _, set := s.pos["image"]; s.Catalog == nil && s.Image == "" && s.Enable && !set {
		d.fail(kn, p+".image", "services of your own need an image, e.g. image: docker.io/library/redis:7", "service %q has no image", name)
	}
}

func hasKey(n *yaml.Node, key string) bool {
	found := false
	pairs(n, func(k, _ *yaml.Node) {
		if k.Value == key {
			found = true
		}
	})
	return found
}

func (d *decoder) serviceOptions(s *Service, v *yaml.Node, p string) {
	known := serviceOptionNames()
	if s.Catalog != nil {
		for _, po := range s.Catalog.Ports {
			if po.Option != "port" {
				known = append(known, po.Option)
			}
		}
		for _, pa := range s.Catalog.Paths {
			known = append(known, pa.Option)
		}
	}
	var healthNode, envFileNode *yaml.Node
	pairs(v, func(k, val *yaml.Node) {
		op := p + "." + k.Value
		s.pos[k.Value] = d.pos(val)
		switch k.Value {
		case "enable":
			if b, ok := d.bool(val, op); ok {
				s.Enable = b
			}
		case "image":
			if str, ok := d.str(val, op); ok {
				if err := checkImageRef(str); err != nil {
					d.fail(val, op, "an image reference looks like registry.example.com/name:tag, name:tag or name@sha256:<digest>, in lowercase", "invalid image reference %q: %v", str, err)
				}
				s.Image = str
			}
		case "port":
			if s.Catalog != nil && s.Catalog.Ports[0].Option != "port" {
				var opts []string
				for _, po := range s.Catalog.Ports {
					opts = append(opts, po.Option)
				}
				d.fail(k, op, "use "+strings.Join(opts, " or "), "%s has no option \"port\"", p)
				return
			}
			if n, ok := d.port(val, op); ok {
				if len(s.Ports) == 0 || s.Ports[0].Option != "port" {
					s.Ports = append([]PortOpt{{Option: "port", Protocol: "tcp"}}, s.Ports...)
				}
				s.Ports[0].Port = n
			}
		case "ports":
			for i, item := range d.list(val, op) {
				if n, ok := d.port(item, fmt.Sprintf("%s[%d]", op, i)); ok {
					s.Ports = append(s.Ports, PortOpt{Option: fmt.Sprintf("ports[%d]", i), Port: n, Protocol: "tcp"})
				}
			}
		case "ip":
			if a, ok := d.ip(val, op); ok {
				s.IP = a
			}
		case "hostname":
			if str, ok := d.str(val, op); ok {
				if !hostnameRE.MatchString(str) || len(str) > maxNameLen {
					d.fail(val, op, fmt.Sprintf("a hostname is letters, digits, '-' and '.', at most %d characters", maxNameLen), "invalid hostname %q", str)
				}
				s.Hostname = str
			}
		case "env":
			for k2, v2 := range d.strMap(val, op) {
				if !envKeyRE.MatchString(k2) {
					d.fail(val, op, "variable names are letters, digits, '_', '.' and '-', starting with a letter or '_'", "invalid variable name %q", k2)
					continue
				}
				s.Env[k2] = v2
				if s.explicitEnv == nil {
					s.explicitEnv = map[string]bool{}
				}
				s.explicitEnv[k2] = true
			}
		case "envFile":
			envFileNode = val
		case "labels":
			for k2, v2 := range d.strMap(val, op) {
				if strings.HasPrefix(k2, "io.berth.") {
					d.fail(val, op+"."+k2, "berth sets io.berth.* labels itself", "label %q is reserved", k2)
					continue
				}
				s.Labels[k2] = v2
			}
		case "command":
			s.Command = d.command(val, op)
		case "entrypoint":
			s.Entrypoint = d.command(val, op)
		case "user":
			if str, ok := d.str(val, op); ok {
				if !userRE.MatchString(str) {
					d.fail(val, op, "write user, uid, user:group or uid:gid", "invalid user %q", str)
				}
				s.User = str
			}
		case "workdir":
			if str, ok := d.absPath(val, op); ok {
				s.Workdir = str
			}
		case "mounts":
			s.Mounts = d.mounts(val, op)
		case "gpu":
			s.GPU = d.gpu(val, op)
		case "resources":
			d.resources(s, val, op)
		case "health":
			healthNode = val
		case "dependsOn":
			s.DependsOn = d.deps(s, val, op)
		case "publish":
			s.Publish = d.publish(val, op)
		case "publishExposed":
			s.PublishExposed, _ = d.bool(val, op)
		case "restart":
			if str, ok := d.enum(val, op, []string{"no", "always", "unless-stopped", "on-failure"}); ok {
				s.Restart = str
			}
		case "connect":
			s.Connect = nil
			for i, item := range d.list(val, op) {
				if str, ok := d.str(item, fmt.Sprintf("%s[%d]", op, i)); ok {
					s.Connect = append(s.Connect, str)
					s.pos["connect["+strconv.Itoa(i)+"]"] = d.pos(item)
				}
			}
		default:
			if s.Catalog != nil {
				for i, po := range s.Ports {
					if po.Option == k.Value {
						if n, ok := d.port(val, op); ok {
							s.Ports[i].Port = n
						}
						return
					}
				}
				for i, pa := range s.Paths {
					if pa.Option == k.Value {
						if str, ok := d.absPath(val, op); ok {
							s.Paths[i].Host = str
						}
						return
					}
				}
			}
			d.unknown(k, p, known)
		}
	})
	if healthNode != nil {
		s.Health = d.health(s, healthNode, p+".health")
	}
	if envFileNode != nil {
		d.envFiles(s, envFileNode, p+".envFile")
	}
}

// envFiles reads each envFile and merges its values beneath the ones env
// set. A relative path is opened beneath the config's directory and may
// not leave it; an absolute path is taken as written.
func (d *decoder) envFiles(s *Service, n *yaml.Node, p string) {
	items := []*yaml.Node{n}
	if n.Kind != yaml.ScalarNode {
		items = d.list(n, p)
	}
	fromFiles := map[string]string{}
	for i, item := range items {
		ip := p
		if n.Kind != yaml.ScalarNode {
			ip = fmt.Sprintf("%s[%d]", p, i)
		}
		name, ok := d.str(item, ip)
		if !ok {
			continue
		}
		file, data, err := readBeneath(d.dir, name)
		if err != nil {
			d.fail(item, ip, "give a file of KEY=VALUE lines, relative to berth.yaml's directory or absolute", "reading env file: %v", err)
			continue
		}
		s.EnvFiles = append(s.EnvFiles, file)
		vars, err := ParseDotEnv(file, data)
		if err != nil {
			var es Errors
			if errors.As(err, &es) {
				for _, e := range es {
					d.errs.add(e.Pos, ip, e.Hint, "%s", e.Msg)
				}
				continue
			}
			d.fail(item, ip, "", "%v", err)
			continue
		}
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := vars[k]
			// An env file's values go where env's do: the same rules.
			if !envKeyRE.MatchString(k) {
				d.fail(item, ip, "variable names are letters, digits, '_', '.' and '-', starting with a letter or '_'", "%s: invalid variable name %q", file, k)
				continue
			}
			if r, bad := controlChar(v); bad {
				d.fail(item, ip, controlHint, "%s: %s contains the control character %U", file, k, r)
				continue
			}
			fromFiles[k] = v
		}
	}
	for k, v := range fromFiles {
		if _, set := s.explicitEnv[k]; !set {
			s.Env[k] = v
		}
	}
}

// --- scalar decoders: each reports its own problem and returns ok=false.

func (d *decoder) scalar(n *yaml.Node, p, want, hint string) bool {
	if d.errs.isBad(n) {
		return false // reported while parsing
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.fail(n, p, hint, "expected %s, got %s", want, kindName(n))
		return false
	}
	return true
}

func (d *decoder) str(n *yaml.Node, p string) (string, bool) {
	if !d.scalar(n, p, "a string", "") {
		return "", false
	}
	return n.Value, true
}

func (d *decoder) bool(n *yaml.Node, p string) (bool, bool) {
	if !d.scalar(n, p, "true or false", "write true or false") {
		return false, false
	}
	if n.Tag != "!!bool" {
		d.fail(n, p, "write true or false", "expected true or false, got %q", n.Value)
		return false, false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", true
}

func (d *decoder) enum(n *yaml.Node, p string, values []string) (string, bool) {
	s, ok := d.str(n, p)
	if !ok {
		return "", false
	}
	for _, v := range values {
		if v == s {
			return s, true
		}
	}
	hint := "one of: " + strings.Join(values, ", ")
	if sg := suggest(s, values); sg != "" {
		hint = fmt.Sprintf("did you mean %q? (one of: %s)", sg, strings.Join(values, ", "))
	}
	d.fail(n, p, hint, "invalid value %q", s)
	return "", false
}

func (d *decoder) int(n *yaml.Node, p string) (int64, bool) {
	if !d.scalar(n, p, "a whole number", "") {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || n.Tag == "!!str" && n.Style != 0 {
		d.fail(n, p, "write a whole number without quotes", "expected a whole number, got %q", n.Value)
		return 0, false
	}
	return v, true
}

func (d *decoder) port(n *yaml.Node, p string) (uint16, bool) {
	if !d.scalar(n, p, "a port number", "ports are 1-65535") {
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 1 || v > 65535 {
		d.fail(n, p, "ports are 1-65535", "invalid port %q", n.Value)
		return 0, false
	}
	return uint16(v), true
}

func (d *decoder) ip(n *yaml.Node, p string) (netip.Addr, bool) {
	s, ok := d.str(n, p)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		d.fail(n, p, "write an IPv4 address such as 192.168.200.20", "invalid IPv4 address %q", s)
		return netip.Addr{}, false
	}
	return a, true
}

func (d *decoder) cidr(n *yaml.Node, p string) (netip.Prefix, bool) {
	s, ok := d.str(n, p)
	if !ok {
		return netip.Prefix{}, false
	}
	pr, err := netip.ParsePrefix(s)
	if err != nil || !pr.Addr().Is4() {
		d.fail(n, p, "write an IPv4 network such as 192.168.220.0/24", "invalid subnet %q", s)
		return netip.Prefix{}, false
	}
	if pr.Masked() != pr {
		d.fail(n, p, fmt.Sprintf("did you mean %s?", pr.Masked()), "subnet %s has host bits set", s)
		return netip.Prefix{}, false
	}
	if pr.Bits() > 28 || pr.Bits() < 8 {
		d.fail(n, p, "use a prefix length between /8 and /28 (the seed uses /24)", "subnet %s is too %s", s, map[bool]string{true: "small", false: "large"}[pr.Bits() > 28])
		return netip.Prefix{}, false
	}
	for _, r := range reservedNets {
		if r.net.Overlaps(pr) {
			d.fail(n, p, "use a private network such as 192.168.220.0/24 or 10.220.0.0/24", "subnet %s overlaps %s (%s)", s, r.net, r.what)
			return netip.Prefix{}, false
		}
	}
	return pr, true
}

func (d *decoder) absPath(n *yaml.Node, p string) (string, bool) {
	s, ok := d.str(n, p)
	if !ok {
		return "", false
	}
	if !path.IsAbs(s) {
		d.fail(n, p, "write an absolute path, e.g. /var/lib/"+s, "path %q is not absolute", s)
		return "", false
	}
	if strings.ContainsAny(s, mountSeparators) {
		d.fail(n, p, "rename the directory, or pick one without ':' or ','", "path %q contains ':' or ','", s)
		return "", false
	}
	return path.Clean(s), true
}

func (d *decoder) duration(n *yaml.Node, p string) (time.Duration, bool) {
	s, ok := d.str(n, p)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.fail(n, p, "write a duration such as 30s, 2m or 1h", "invalid duration %q", s)
		return 0, false
	}
	return v, true
}

// size parses 512m, 8g, 1GiB, 1.5G or a plain byte count.
func (d *decoder) size(n *yaml.Node, p string) (int64, bool) {
	s, ok := d.str(n, p)
	if !ok {
		return 0, false
	}
	v, err := ParseSize(s)
	if err != nil {
		d.fail(n, p, "write a size such as 512m, 8g or 1GiB", "invalid size %q", s)
		return 0, false
	}
	return v, true
}

// ParseSize parses a memory size: a byte count, or a number with a unit
// k, m, g, t (powers of 1024, as Docker reads them), optionally followed
// by "b" or "ib".
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(f * mult), nil
}

func (d *decoder) list(n *yaml.Node, p string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, p, "write a list: [a, b]", "expected a list, got %s", kindName(n))
		return nil
	}
	return n.Content
}

func (d *decoder) strMap(n *yaml.Node, p string) map[string]string {
	out := map[string]string{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return out
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, p, "write a mapping: {KEY: value}", "expected a mapping, got %s", kindName(n))
		return out
	}
	pairs(n, func(k, v *yaml.Node) {
		if d.errs.isBad(v) {
			return
		}
		if v.Kind != yaml.ScalarNode {
			d.fail(v, p+"."+k.Value, "values are strings", "expected a string, got %s", kindName(v))
			return
		}
		out[k.Value] = v.Value
	})
	return out
}

func (d *decoder) command(n *yaml.Node, p string) []string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		if d.errs.isBad(n) {
			return nil
		}
		return strings.Fields(n.Value)
	}
	var out []string
	for i, item := range d.list(n, p) {
		if s, ok := d.str(item, fmt.Sprintf("%s[%d]", p, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) mounts(n *yaml.Node, p string) []Mount {
	var out []Mount
	for i, item := range d.list(n, p) {
		ip := fmt.Sprintf("%s[%d]", p, i)
		var m Mount
		if d.errs.isBad(item) {
			continue
		}
		switch item.Kind {
		case yaml.ScalarNode:
			parts := strings.Split(item.Value, ":")
			if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw") {
				d.fail(item, ip, "write HOST:CONTAINER or HOST:CONTAINER:ro", "invalid mount %q", item.Value)
				continue
			}
			m = Mount{Source: parts[0], Target: parts[1], ReadOnly: len(parts) == 3 && parts[2] == "ro"}
			if !strings.HasPrefix(m.Source, "/") {
				m.Volume, m.Source = m.Source, ""
			}
		case yaml.MappingNode:
			pairs(item, func(k, v *yaml.Node) {
				switch k.Value {
				case "source":
					m.Source, _ = d.str(v, ip+".source")
				case "volume":
					m.Volume, _ = d.str(v, ip+".volume")
				case "target":
					m.Target, _ = d.str(v, ip+".target")
				case "readOnly":
					m.ReadOnly, _ = d.bool(v, ip+".readOnly")
				default:
					d.unknown(k, ip, []string{"source", "volume", "target", "readOnly"})
				}
			})
		default:
			d.fail(item, ip, "write HOST:CONTAINER[:ro]", "expected a mount, got %s", kindName(item))
			continue
		}
		bad := false
		switch {
		case m.Volume != "" && m.Source != "":
			d.fail(item, ip, "a mount is either a host path (source) or a named volume (volume)", "mount has both source and volume")
			bad = true
		case m.Volume != "":
			if !VolumeRE.MatchString(m.Volume) {
				d.fail(item, ip, "name a volume with letters, digits, '_', '.' and '-', or write an absolute host path", "invalid volume name %q", m.Volume)
				bad = true
			}
		case !path.IsAbs(m.Source):
			d.fail(item, ip, "write an absolute host path, e.g. /srv/data, or a volume name", "mount source %q is not absolute", m.Source)
			bad = true
		}
		if !path.IsAbs(m.Target) {
			d.fail(item, ip, "write an absolute container path, e.g. /data", "mount target %q is not absolute", m.Target)
			bad = true
		}
		for _, x := range []string{m.Source, m.Target} {
			if strings.ContainsAny(x, mountSeparators) {
				// Engines and unit files join mounts as SOURCE:TARGET:OPTIONS
				// (Volume=, --bind=, -v): a ':' or ',' would add a mount or
				// an option nobody wrote.
				d.fail(item, ip, "rename the directory, or mount a parent that has no ':' or ','", "mount path %q contains ':' or ','", x)
				bad = true
			}
		}
		if !bad {
			if m.Volume == "" {
				m.Source = path.Clean(m.Source)
			}
			m.Target = path.Clean(m.Target)
			out = append(out, m)
		}
	}
	return out
}

var (
	pciRE = regexp.MustCompile(`^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$`)
	// uuidRE is NVIDIA's GPU UUID (GPU-<uuid>), a MIG device's (MIG-<uuid>)
	// and the older MIG form MIG-GPU-<uuid>/<gi>/<ci>.
	uuidRE = regexp.MustCompile(`^(GPU|MIG)-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$|^MIG-GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/[0-9]{1,2}/[0-9]{1,2}$`)
)

// gpuID accepts a GPU UUID or PCI address, never an index: NVML's order is
// not stable across reboots. Anything else would reach the engine's device
// request, CDI or the unit file as it is.
func (d *decoder) gpuID(n *yaml.Node, p string) (string, bool) {
	s, ok := d.str(n, p)
	if !ok {
		return "", false
	}
	if uuidRE.MatchString(s) || pciRE.MatchString(s) {
		return s, true
	}
	d.fail(n, p, "name GPUs by UUID (GPU-…, see 'berth gpu') or PCI address (0000:01:00.0); indexes change across reboots", "invalid GPU id %q", s)
	return "", false
}

func (d *decoder) gpu(n *yaml.Node, p string) *GPU {
	if d.errs.isBad(n) {
		return nil
	}
	g := &GPU{Mode: "auto"}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "all" {
			g.All = true
			return g
		}
		if n.Value == "none" || n.Tag == "!!bool" && n.Value == "false" {
			return &GPU{None: true}
		}
		if v, err := strconv.Atoi(n.Value); err == nil && n.Tag == "!!int" {
			if v < 1 {
				d.fail(n, p, "write a count of 1 or more, all, or none", "invalid GPU count %d", v)
				return nil
			}
			g.Count = v
			return g
		}
		d.fail(n, p, "write all, a count, or a list of GPU UUIDs or PCI addresses", "invalid gpu value %q", n.Value)
		return nil
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if id, ok := d.gpuID(item, fmt.Sprintf("%s[%d]", p, i)); ok {
				g.IDs = append(g.IDs, id)
			}
		}
		return g
	case yaml.MappingNode:
		pairs(n, func(k, v *yaml.Node) {
			op := p + "." + k.Value
			switch k.Value {
			case "devices":
				if v.Kind == yaml.ScalarNode {
					sub := d.gpu(v, op)
					if sub != nil {
						g.All, g.Count = sub.All, sub.Count
					}
					return
				}
				for i, item := range d.list(v, op) {
					if id, ok := d.gpuID(item, fmt.Sprintf("%s[%d]", op, i)); ok {
						g.IDs = append(g.IDs, id)
					}
				}
			case "vendor":
				g.Vendor, _ = d.enum(v, op, []string{"nvidia", "amd", "intel"})
			case "capabilities":
				for i, item := range d.list(v, op) {
					if s, ok := d.enum(item, fmt.Sprintf("%s[%d]", op, i), []string{"gpu", "compute", "utility", "graphics", "video", "display", "compat32"}); ok {
						g.Capabilities = append(g.Capabilities, s)
					}
				}
			case "mode":
				if s, ok := d.enum(v, op, []string{"auto", "cdi", "nvidia-runtime", "devices"}); ok {
					g.Mode = s
				}
			case "optional":
				g.Optional, _ = d.bool(v, op)
			default:
				d.unknown(k, p, []string{"devices", "vendor", "capabilities", "mode", "optional"})
			}
		})
		if !g.All && g.Count == 0 && len(g.IDs) == 0 {
			g.All = true
		}
		return g
	}
	d.fail(n, p, "write all, a count, or a list of GPU UUIDs", "invalid gpu value")
	return nil
}

func (d *decoder) resources(s *Service, n *yaml.Node, p string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, p, "resources: {memory: 8g, cpus: 2}", "expected a mapping, got %s", kindName(n))
		return
	}
	pairs(n, func(k, v *yaml.Node) {
		op := p + "." + k.Value
		switch k.Value {
		case "memory":
			if b, ok := d.size(v, op); ok {
				if b < 6<<20 && b != 0 {
					d.fail(v, op, "Docker needs at least 6m", "memory limit %q is too small", v.Value)
				}
				s.Resources.MemoryBytes = b
			}
		case "cpus":
			if d.scalar(v, op, "a number of cores", "") {
				f, err := strconv.ParseFloat(v.Value, 64)
				if err != nil || f <= 0 || f > 4096 {
					d.fail(v, op, "write a number of cores such as 2 or 0.5", "invalid cpus %q", v.Value)
				} else {
					s.Resources.CPUs = f
				}
			}
		case "shmSize":
			if b, ok := d.size(v, op); ok {
				s.Resources.ShmBytes = b
			}
		case "pids":
			if i, ok := d.int(v, op); ok {
				if i < 1 {
					d.fail(v, op, "write a positive process count", "invalid pids limit %d", i)
				}
				s.Resources.Pids = i
			}
		default:
			d.unknown(k, p, []string{"memory", "cpus", "shmSize", "pids"})
		}
	})
}

func (d *decoder) health(s *Service, n *yaml.Node, p string) *Health {
	if n.Kind == yaml.ScalarNode && n.Value == "none" {
		return &Health{Kind: "none"}
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, p, "health: {http: /health}, health: {tcp: true} or health: {exec: [CMD, ARG]}", "expected a mapping, got %s", kindName(n))
		return nil
	}
	h := &Health{Interval: 2 * time.Second, Timeout: 2 * time.Second, Retries: 3}
	hostSide, hasExec := false, false
	pairs(n, func(k, v *yaml.Node) {
		op := p + "." + k.Value
		switch k.Value {
		case "http":
			if str, ok := d.str(v, op); ok {
				if !strings.HasPrefix(str, "/") {
					d.fail(v, op, "write a path such as /health", "HTTP health path %q must start with /", str)
				}
				h.Kind, h.Path = "http", str
				hostSide = true
			}
		case "tcp":
			if b, ok := d.bool(v, op); ok && b {
				h.Kind = "tcp"
				hostSide = true
			}
		case "exec":
			if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
				h.Command, h.Shell = []string{v.Value}, true
			} else {
				h.Command = d.command(v, op)
			}
			if len(h.Command) == 0 || h.Command[0] == "" {
				d.fail(v, op, "write a command such as [pg_isready, -q] or a shell line", "empty exec health command")
			}
			h.Kind = "exec"
			hasExec = true
		case "retries":
			if i, ok := d.int(v, op); ok {
				if i < 1 {
					d.fail(v, op, "write 1 or more", "invalid retries %d", i)
				}
				h.Retries = int(i)
			}
		case "port":
			h.Port, _ = d.port(v, op)
		case "interval":
			h.Interval, _ = d.duration(v, op)
		case "timeout":
			h.Timeout, _ = d.duration(v, op)
		case "startPeriod":
			h.StartPeriod, _ = d.duration(v, op)
		default:
			d.unknown(k, p, []string{"http", "tcp", "exec", "port", "interval", "timeout", "startPeriod", "retries"})
		}
	})
	if h.Kind == "" {
		d.fail(n, p, "add http: /path, tcp: true or exec: [CMD, ARG]", "health check needs http, tcp or exec")
		return nil
	}
	if hostSide && hasExec {
		d.fail(n, p, "keep either exec or http/tcp", "health check has both exec and a host-side kind")
		return nil
	}
	return h
}

// ref parses "kit/service" or "service" (in kit).
func (d *decoder) ref(n *yaml.Node, p, kit string) (Ref, bool) {
	s, ok := d.str(n, p)
	if !ok {
		return Ref{}, false
	}
	k, svc, found := strings.Cut(s, "/")
	if !found {
		if kit == "" {
			d.fail(n, p, "write kit/service, e.g. ml/ollama", "%q names no kit", s)
			return Ref{}, false
		}
		k, svc = kit, s
	}
	if k == "" || svc == "" || strings.Contains(svc, "/") {
		d.fail(n, p, "write kit/service, e.g. ml/ollama", "invalid service reference %q", s)
		return Ref{}, false
	}
	return Ref{Kit: k, Service: svc, Pos: d.pos(n)}, true
}

func (d *decoder) deps(s *Service, n *yaml.Node, p string) []Dep {
	var out []Dep
	switch n.Kind {
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if r, ok := d.ref(item, fmt.Sprintf("%s[%d]", p, i), s.Kit); ok {
				out = append(out, Dep{Kit: r.Kit, Service: r.Service, Condition: "started", Pos: r.Pos})
			}
		}
	case yaml.MappingNode:
		pairs(n, func(k, v *yaml.Node) {
			r, ok := d.ref(k, p, s.Kit)
			if !ok {
				return
			}
			cond, ok := d.enum(v, p+"."+k.Value, []string{"started", "healthy"})
			if ok {
				out = append(out, Dep{Kit: r.Kit, Service: r.Service, Condition: cond, Pos: r.Pos})
			}
		})
	default:
		d.fail(n, p, "dependsOn: [ml/ollama] or dependsOn: {ml/ollama: healthy}", "expected a list or mapping, got %s", kindName(n))
	}
	return out
}

func (d *decoder) publish(n *yaml.Node, p string) []Publish {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		if n.Tag == "!!bool" {
			if n.Value == "false" {
				return nil
			}
			// publish: true publishes all ports on publishAddress.
			return []Publish{{Pos: d.pos(n)}}
		}
		a, ok := d.ip(n, p)
		if !ok {
			return nil
		}
		return []Publish{{HostIP: a, Pos: d.pos(n)}}
	}
	var out []Publish
	for i, item := range d.list(n, p) {
		ip := fmt.Sprintf("%s[%d]", p, i)
		s, ok := d.str(item, ip)
		if !ok {
			continue
		}
		pb, err := parsePublish(s)
		if err != nil {
			d.fail(item, ip, "write [ADDR:]HOSTPORT[:PORT], e.g. 127.0.0.1:8080:80 or 8080", "invalid publish entry %q: %v", s, err)
			continue
		}
		pb.Pos = d.pos(item)
		out = append(out, pb)
	}
	return out
}

func parsePublish(s string) (Publish, error) {
	var pb Publish
	parts := strings.Split(s, ":")
	if len(parts) == 3 || (len(parts) == 2 && strings.Contains(parts[0], ".")) {
		a, err := netip.ParseAddr(parts[0])
		if err != nil || !a.Is4() {
			return pb, fmt.Errorf("bad address %q", parts[0])
		}
		pb.HostIP = a
		parts = parts[1:]
	}
	if len(parts) < 1 || len(parts) > 2 {
		return pb, fmt.Errorf("too many parts")
	}
	nums := make([]uint16, len(parts))
	for i, s := range parts {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 65535 {
			return pb, fmt.Errorf("bad port %q", s)
		}
		nums[i] = uint16(v)
	}
	pb.HostPort = nums[0]
	pb.ContainerPort = nums[len(nums)-1]
	return pb, nil
}

func (d *decoder) stacks(n *yaml.Node) []*Stack {
	if n.Kind != yaml.MappingNode {
		d.fail(n, "stacks", "stacks: {ai: [ml/ollama, dev/chat-ui]}", "expected a mapping, got %s", kindName(n))
		return nil
	}
	var out []*Stack
	pairs(n, func(k, v *yaml.Node) {
		p := "stacks." + k.Value
		if !nameRE.MatchString(k.Value) {
			d.fail(k, p, nameHint, "invalid stack name %q", k.Value)
			return
		}
		st := &Stack{Name: k.Value, Pos: d.pos(k)}
		for i, item := range d.list(v, p) {
			if r, ok := d.ref(item, fmt.Sprintf("%s[%d]", p, i), ""); ok {
				st.Members = append(st.Members, r)
			}
		}
		out = append(out, st)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortServices(ss []*Service) {
	sort.Slice(ss, func(i, j int) bool { return ss[i].Container < ss[j].Container })
}

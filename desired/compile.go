package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/kits"
	"github.com/voidnxlabs/berth/runtime"
)

// Options tune Compile.
type Options struct {
	// Secret returns the value of a generated secret. When nil, secrets
	// compile to a placeholder: fine for offline plans, never for an apply.
	Secret func(name string) (string, error)
	// SecretFile returns a host file holding the secret name, owned by
	// uid:gid with mode 0400, for a container to mount. When nil (and
	// Secret is set) every secret goes in the environment.
	SecretFile func(name string, uid, gid int) (string, error)
	// Previous holds addresses given out in earlier applies (container name
	// and network name joined by "@"), so that first-free addresses stay
	// where they were when services are added.
	Previous map[string]netip.Addr
}

// NetworkName is the engine name of a kit's network.
func NetworkName(project, kit string) string { return project + "-" + kit }

// Compile turns a validated config into the desired state.
func Compile(cfg *config.Config, opts Options) (*State, error) {
	st := &State{Project: cfg.Project}
	alloc := newAllocator(cfg, opts.Previous)
	enabledKits := map[string]*config.Kit{}
	for _, k := range cfg.Kits {
		if !k.Enable {
			continue
		}
		enabled := false
		for _, s := range k.Services {
			enabled = enabled || s.Enable
		}
		if !enabled {
			continue
		}
		enabledKits[k.Name] = k
		spec := runtime.NetworkSpec{
			Name:    NetworkName(cfg.Project, k.Name),
			Subnet:  k.Subnet,
			Gateway: k.Host,
			Labels:  map[string]string{runtime.LabelProject: cfg.Project, runtime.LabelKit: k.Name},
		}
		st.Networks = append(st.Networks, Network{Kit: k.Name, Spec: spec, Hash: hashOf(spec.Subnet.String(), spec.Gateway.String())})
	}
	// Addresses first: {url:…} templates need every service's address.
	addrs := map[*config.Service]netip.Addr{}
	for _, s := range cfg.Enabled() {
		if enabledKits[s.Kit] == nil {
			continue
		}
		a, err := alloc.primary(s)
		if err != nil {
			return nil, err
		}
		addrs[s] = a
	}
	for _, s := range cfg.Enabled() {
		if enabledKits[s.Kit] == nil {
			continue
		}
		c, err := compileService(cfg, s, addrs, enabledKits, alloc, opts)
		if err != nil {
			return nil, err
		}
		st.Containers = append(st.Containers, c)
	}
	sort.Slice(st.Networks, func(i, j int) bool { return st.Networks[i].Spec.Name < st.Networks[j].Spec.Name })
	sort.Slice(st.Containers, func(i, j int) bool { return st.Containers[i].Spec.Name < st.Containers[j].Spec.Name })
	return st, nil
}

func compileService(cfg *config.Config, s *config.Service, addrs map[*config.Service]netip.Addr,
	enabledKits map[string]*config.Kit, alloc *allocator, opts Options) (Container, error) {
	cs := s.Catalog
	var mainPort uint16
	if len(s.Ports) > 0 {
		mainPort = s.Ports[0].Port
	}
	expand := func(v string) string {
		v = strings.ReplaceAll(v, "{port}", strconv.Itoa(int(mainPort)))
		for strings.Contains(v, "{url:") {
			i := strings.Index(v, "{url:")
			j := strings.IndexByte(v[i:], '}')
			if j < 0 {
				break
			}
			ref := v[i+5 : i+j]
			url := ""
			if kit, svc, ok := strings.Cut(ref, "/"); ok {
				if t := cfg.Service(kit, svc); t != nil && addrs[t].IsValid() && len(t.Ports) > 0 {
					url = fmt.Sprintf("http://%s:%d", addrs[t], t.Ports[0].Port)
				}
			}
			v = v[:i] + url + v[i+j+1:]
		}
		return v
	}

	spec := runtime.ContainerSpec{
		Name:     s.Container,
		Image:    s.Image,
		Hostname: s.Hostname,
		User:     s.User,
		Restart:  s.Restart,
		Labels: map[string]string{
			runtime.LabelProject: cfg.Project,
			runtime.LabelKit:     s.Kit,
			runtime.LabelService: s.Name,
		},
		StopTimeout: 10 * time.Second,
	}
	for k, v := range s.Labels {
		spec.Labels[k] = v
	}
	env := map[string]string{}
	if cs != nil {
		for k, v := range cs.Env {
			env[k] = expand(v)
		}
		for _, c := range cs.Command {
			spec.Cmd = append(spec.Cmd, expand(c))
		}
		if cs.User != "" && spec.User == "" {
			spec.User = cs.User
		}
	}
	for k, v := range s.Env {
		env[k] = v
	}
	if s.Command != nil {
		spec.Cmd = s.Command
	}
	spec.Entrypoint = s.Entrypoint
	spec.WorkingDir = s.Workdir

	c := Container{Kit: s.Kit, Service: s.Name, Address: addrs[s]}
	for _, p := range s.Ports {
		c.Listen = append(c.Listen, p.Port)
		c.PortOptions = append(c.PortOptions, Port{Option: p.Option, Port: p.Port, Protocol: p.Protocol})
	}
	if cs != nil {
		c.AliasPrefix = cs.AliasPrefix
		c.Backup = cs.Backup
		var digest []string
		for _, sec := range cs.Secrets {
			if _, set := s.Env[sec.Env]; set {
				continue // the user gives the value
			}
			if sec.FileEnv != "" {
				if _, set := s.Env[sec.FileEnv]; set {
					continue
				}
			}
			val := "<secret:" + sec.Name + ">"
			if opts.Secret != nil {
				v, err := opts.Secret(sec.Name)
				if err != nil {
					return Container{}, fmt.Errorf("reading secret %s: %w", sec.Name, err)
				}
				val = v
			}
			digest = append(digest, sec.Name+"="+val)
			ref := SecretRef{Name: sec.Name, Env: sec.Env}
			// Without SecretFile (offline plans, the cluster renderer, which
			// turns the placeholder into a Kubernetes Secret) the value, or
			// its placeholder, goes in the environment.
			if sec.FileEnv != "" && opts.SecretFile != nil {
				uid, gid := sec.UID, sec.GID
				if n, err := strconv.Atoi(strings.Split(s.User, ":")[0]); err == nil && s.User != "" {
					uid = n // the user runs the image as another uid
				}
				host, err := opts.SecretFile(sec.Name, uid, gid)
				if err != nil {
					return Container{}, fmt.Errorf("writing secret file %s: %w", sec.Name, err)
				}
				ref = SecretRef{Name: sec.Name, Env: sec.FileEnv, File: SecretTarget + "/" + sec.Name, HostFile: host, UID: uid, GID: gid}
				env[ref.Env] = ref.File
				spec.Mounts = append(spec.Mounts, runtime.Mount{Source: host, Target: ref.File, ReadOnly: true})
			} else {
				env[sec.Env] = val
			}
			c.Secrets = append(c.Secrets, sec.Name)
			c.SecretRefs = append(c.SecretRefs, ref)
		}
		if len(digest) > 0 {
			spec.Labels[LabelSecrets] = secretDigest(digest)
		}
	} else {
		c.AliasPrefix = s.Container
	}
	for k, v := range env {
		spec.Env = append(spec.Env, k+"="+v)
	}
	sort.Strings(spec.Env)

	// Networks: the kit's own first, then the kits it connects to.
	spec.Networks = append(spec.Networks, runtime.Endpoint{
		Network: NetworkName(cfg.Project, s.Kit), IP: addrs[s], Aliases: []string{s.Name, s.Container},
	})
	var connect []string
	if cs != nil && cs.ConnectAll {
		for name := range enabledKits {
			if name != s.Kit {
				connect = append(connect, name)
			}
		}
	} else {
		for _, k := range s.Connect {
			if enabledKits[k] != nil {
				connect = append(connect, k)
			}
		}
	}
	sort.Strings(connect)
	for _, k := range connect {
		a, err := alloc.secondary(s, enabledKits[k])
		if err != nil {
			return Container{}, err
		}
		spec.Networks = append(spec.Networks, runtime.Endpoint{
			Network: NetworkName(cfg.Project, k), IP: a, Aliases: []string{s.Container},
		})
	}

	for _, pb := range s.PublishedPorts(cfg.PublishAddress) {
		spec.Ports = append(spec.Ports, runtime.Port{HostIP: pb.HostIP, HostPort: pb.HostPort, ContainerPort: pb.ContainerPort, Protocol: "tcp"})
	}
	sort.Slice(spec.Ports, func(i, j int) bool { return spec.Ports[i].ContainerPort < spec.Ports[j].ContainerPort })

	for _, p := range s.Paths {
		spec.Mounts = append(spec.Mounts, runtime.Mount{Source: p.Host, Target: p.Target})
		c.DataPaths = append(c.DataPaths, DataPath{Option: s.Path() + "." + p.Option, Host: p.Host, Target: p.Target, UID: p.UID, GID: p.GID, Mode: 0o755})
	}
	for i, m := range s.Mounts {
		spec.Mounts = append(spec.Mounts, runtime.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		if m.Volume != "" {
			// A named volume's directory exists even when mounted read-only:
			// berth owns it, so it is created like a data path.
			c.DataPaths = append(c.DataPaths, DataPath{Option: fmt.Sprintf("%s.mounts[%d]", s.Path(), i), Host: m.Source, Target: m.Target, UID: -1, GID: -1, Mode: 0o755})
			continue
		}
		if !m.ReadOnly {
			c.DataPaths = append(c.DataPaths, DataPath{Option: fmt.Sprintf("%s.mounts[%d]", s.Path(), i), Host: m.Source, Target: m.Target, UID: -1, GID: -1, Mode: 0o755})
		}
	}

	spec.Resources = runtime.Resources{
		MemoryBytes: s.Resources.MemoryBytes,
		NanoCPUs:    int64(s.Resources.CPUs * 1e9),
		ShmBytes:    s.Resources.ShmBytes,
		PidsLimit:   s.Resources.Pids,
	}
	if spec.Resources.ShmBytes == 0 && cs != nil && cs.ShmSize != "" {
		spec.Resources.ShmBytes, _ = config.ParseSize(cs.ShmSize)
	}

	switch {
	case s.GPU != nil && s.GPU.None:
	case s.GPU != nil:
		c.GPU = &GPU{All: s.GPU.All, Count: s.GPU.Count, IDs: s.GPU.IDs, Vendor: s.GPU.Vendor,
			Capabilities: s.GPU.Capabilities, Mode: s.GPU.Mode, Optional: s.GPU.Optional}
	case cs != nil && cs.GPU != kits.GPUNone:
		// The seed passes GPUs to every ML container. Services that also run
		// on CPU ask for them optionally, so a host without a GPU still works.
		c.GPU = &GPU{All: true, Mode: "auto", Optional: cs.GPU == kits.GPUOptional}
	}

	c.Health = health(s)
	if c.Health != nil && c.Health.Kind == "exec" {
		c.Health.Container = s.Container
		// The engine runs the same check where it has health checks of its
		// own (Docker, Podman), so that docker ps and Compose-style tools
		// see it; berth's wait and status run it through exec on every
		// engine.
		test := append([]string{"CMD"}, c.Health.Command...)
		if s.Health.Shell {
			test = []string{"CMD-SHELL", s.Health.Command[0]}
		}
		spec.Healthcheck = &runtime.Healthcheck{Test: test, Interval: c.Health.Interval, Timeout: c.Health.Timeout,
			StartPeriod: c.Health.StartPeriod, Retries: c.Health.Retries}
	}
	for _, d := range s.DependsOn {
		t := cfg.Service(d.Kit, d.Service)
		c.DependsOn = append(c.DependsOn, Dependency{Name: t.Container, Condition: Condition(d.Condition)})
	}
	sort.Slice(c.DependsOn, func(i, j int) bool { return c.DependsOn[i].Name < c.DependsOn[j].Name })

	c.Hash = ContainerHash(spec, c.GPU)
	spec.Labels[runtime.LabelConfigHash] = c.Hash
	c.Spec = spec
	return c, nil
}

func health(s *config.Service) *Health {
	if s.Health != nil {
		if s.Health.Kind == "none" {
			return nil
		}
		h := &Health{Kind: s.Health.Kind, Path: s.Health.Path, Port: s.Health.Port,
			Interval: s.Health.Interval, Timeout: s.Health.Timeout, StartPeriod: s.Health.StartPeriod}
		if h.Kind == "exec" {
			h.Command, h.Retries = s.Health.Command, s.Health.Retries
			if s.Health.Shell {
				h.Command = []string{"/bin/sh", "-c", s.Health.Command[0]}
			}
			return h
		}
		if h.Port == 0 && len(s.Ports) > 0 {
			h.Port = s.Ports[0].Port
		}
		return h
	}
	if s.Catalog == nil || s.Catalog.Health.Kind == "" {
		return nil
	}
	ch := s.Catalog.Health
	h := &Health{Kind: ch.Kind, Path: ch.Path, Interval: 2 * time.Second, Timeout: 2 * time.Second, StartPeriod: ch.StartPeriod}
	for _, p := range s.Ports {
		if p.Option == ch.PortOption {
			h.Port = p.Port
		}
	}
	return h
}

// ContainerHash is the config hash of a container: a digest of the
// canonical JSON of everything that needs a recreate to change. The hash
// and generation labels are left out (the hash cannot cover itself, and a
// new generation alone must not recreate anything).
func ContainerHash(spec runtime.ContainerSpec, gpu *GPU) string {
	labels := map[string]string{}
	for k, v := range spec.Labels {
		if k != runtime.LabelConfigHash && k != runtime.LabelGeneration {
			labels[k] = v
		}
	}
	spec.Labels = labels
	// encoding/json sorts map keys, so equal specs give equal bytes.
	b, err := json.Marshal(struct {
		Spec runtime.ContainerSpec
		GPU  *GPU
	}{spec, gpu})
	if err != nil {
		panic(fmt.Sprintf("hashing container spec: %v", err)) // plain data cannot fail to marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

func catalogSecretEnv(kit, service, name string) string {
	k := kits.Get(kit)
	if k == nil {
		return ""
	}
	for _, s := range k.Services {
		if s.Name != service {
			continue
		}
		for _, sec := range s.Secrets {
			if sec.Name == name {
				return sec.Env
			}
		}
	}
	return ""
}

// secretDigest digests name=value pairs for LabelSecrets.
func secretDigest(pairs []string) string {
	sort.Strings(pairs)
	return hashOf(pairs...)
}

// RefreshSecrets gives st's containers the secrets as they are now: values
// in the environment are replaced, secret files rewritten, and the digest
// and config hash follow. A rollback uses it, so that applying an earlier
// generation never brings back a secret that 'secret rotate' replaced.
func (st *State) RefreshSecrets(secret func(string) (string, error), secretFile func(string, int, int) (string, error)) error {
	for i := range st.Containers {
		c := &st.Containers[i]
		if len(c.SecretRefs) == 0 && len(c.Secrets) > 0 {
			// A generation recorded before SecretRefs existed: its
			// secrets were all in the environment, under the catalog's
			// variable names.
			for _, name := range c.Secrets {
				if env := catalogSecretEnv(c.Kit, c.Service, name); env != "" {
					c.SecretRefs = append(c.SecretRefs, SecretRef{Name: name, Env: env})
				}
			}
		}
		if len(c.SecretRefs) == 0 {
			continue
		}
		var digest []string
		for j, ref := range c.SecretRefs {
			v, err := secret(ref.Name)
			if err != nil {
				return fmt.Errorf("reading secret %s: %w", ref.Name, err)
			}
			digest = append(digest, ref.Name+"="+v)
			if ref.File != "" {
				p, err := secretFile(ref.Name, ref.UID, ref.GID)
				if err != nil {
					return fmt.Errorf("writing secret file %s: %w", ref.Name, err)
				}
				for k, m := range c.Spec.Mounts {
					if m.Target == ref.File {
						c.Spec.Mounts[k].Source = p
					}
				}
				c.SecretRefs[j].HostFile = p
				continue
			}
			for k, kv := range c.Spec.Env {
				if strings.HasPrefix(kv, ref.Env+"=") {
					c.Spec.Env[k] = ref.Env + "=" + v
				}
			}
		}
		c.Spec.Labels[LabelSecrets] = secretDigest(digest)
		c.Hash = ContainerHash(c.Spec, c.GPU)
		c.Spec.Labels[runtime.LabelConfigHash] = c.Hash
	}
	return nil
}

func hashOf(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])[:16]
}

// allocator hands out addresses: catalog slots, explicit ip, then the first
// free address, remembering earlier choices.
type allocator struct {
	cfg      *config.Config
	previous map[string]netip.Addr
	taken    map[string]map[netip.Addr]string // network → address → owner
}

func newAllocator(cfg *config.Config, previous map[string]netip.Addr) *allocator {
	a := &allocator{cfg: cfg, previous: previous, taken: map[string]map[netip.Addr]string{}}
	for _, k := range cfg.Kits {
		m := map[netip.Addr]string{}
		a.taken[k.Name] = m
		if !k.Subnet.IsValid() {
			continue
		}
		m[k.Host] = "host"
		for _, s := range k.Services {
			switch {
			case s.IP.IsValid():
				m[s.IP] = s.Container
			case s.Catalog != nil:
				m[config.SlotAddr(k, s.Catalog.Slot)] = s.Container
			}
		}
	}
	// Addresses given out before stay with their owners: reserve them
	// before anything is handed out, so a service added to the config
	// cannot take an address a running container holds (which would move
	// that container and recreate it). Enabled services only: a disabled
	// one's address is free again.
	for _, k := range cfg.Kits {
		if !k.Enable {
			continue
		}
		for _, s := range k.Services {
			if !s.Enable {
				continue
			}
			nets := []string{k.Name}
			if !s.IP.IsValid() && s.Catalog != nil {
				nets = nil // its own address is its catalog slot
			}
			nets = append(nets, s.Connect...)
			for _, n := range nets {
				if s.IP.IsValid() && n == k.Name {
					continue
				}
				nk := cfg.Kit(n)
				prev, ok := previous[s.Container+"@"+n]
				if nk == nil || !ok || !nk.Subnet.Contains(prev) {
					continue
				}
				if _, used := a.taken[n][prev]; !used {
					a.taken[n][prev] = s.Container
				}
			}
		}
	}
	return a
}

// primary returns the address of s on its own kit's network.
func (a *allocator) primary(s *config.Service) (netip.Addr, error) {
	k := a.cfg.Kit(s.Kit)
	switch {
	case s.IP.IsValid():
		return s.IP, nil
	case s.Catalog != nil:
		return config.SlotAddr(k, s.Catalog.Slot), nil
	}
	return a.free(s.Container, k, false)
}

// secondary returns the address of s on another kit's network. They are
// handed out from the top of the subnet down, away from the slots.
func (a *allocator) secondary(s *config.Service, k *config.Kit) (netip.Addr, error) {
	return a.free(s.Container, k, true)
}

func (a *allocator) free(owner string, k *config.Kit, fromTop bool) (netip.Addr, error) {
	m := a.taken[k.Name]
	key := owner + "@" + k.Name
	if prev, ok := a.previous[key]; ok && k.Subnet.Contains(prev) {
		if o, used := m[prev]; !used || o == owner {
			m[prev] = owner
			return prev, nil
		}
	}
	first, last := k.Subnet.Masked().Addr().Next(), lastAddrOf(k.Subnet).Prev()
	if fromTop {
		for x := last; x.IsValid() && !x.Less(first); x = x.Prev() {
			if _, used := m[x]; !used {
				m[x] = owner
				return x, nil
			}
		}
	} else {
		// Start above the host address, as the seed does (.10 host, .11…).
		start := k.Host.Next()
		if !k.Subnet.Contains(start) {
			start = first
		}
		for x := start; k.Subnet.Contains(x) && !last.Less(x); x = x.Next() {
			if _, used := m[x]; !used {
				m[x] = owner
				return x, nil
			}
		}
		for x := first; x.Less(start); x = x.Next() {
			if _, used := m[x]; !used {
				m[x] = owner
				return x, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("kit %s: no free address left in %s for %s", k.Name, k.Subnet, owner)
}

func lastAddrOf(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 1 << (7 - uint(i%8))
	}
	return netip.AddrFrom4(a)
}

// Addresses returns the allocation table of a state, for the next Compile's
// Options.Previous.
func (st *State) Addresses() map[string]netip.Addr {
	out := map[string]netip.Addr{}
	for _, c := range st.Containers {
		for _, ep := range c.Spec.Networks {
			kit := strings.TrimPrefix(ep.Network, st.Project+"-")
			out[c.Spec.Name+"@"+kit] = ep.IP
		}
	}
	return out
}

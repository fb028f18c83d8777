package podman

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/voidnxlabs/berth/runtime"
)

// Annotations berth keeps on a Podman container for what libpod's inspect
// does not report back.
const (
	// annImage is the reference as berth asked for it: Podman reports
	// short names qualified ("localhost/name:tag").
	annImage = "io.berth.image"
	// annNetworks is "network=address,…" for the static addresses given at
	// create: libpod reports no address for a container that is not
	// running.
	annNetworks = "io.berth.networks"
	// annPids is the pids limit berth asked for: Podman reports its own
	// default (2048) for a container that asked for none.
	annPids = "io.berth.pids-limit"
)

// macFor derives a container's MAC address from its IPv4 address, as
// Docker's bridge driver does (02:42 and the four bytes). A container
// recreated at the same address then keeps its MAC, so the host's neighbour
// cache stays right; with Podman's random MACs the host sends to the old
// container's MAC until the entry goes stale, tens of seconds.
func macFor(ip netip.Addr) string {
	if !ip.Is4() {
		return ""
	}
	a := ip.As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3])
}

// The subset of libpod's SpecGenerator berth sets.
type (
	specNamespace struct {
		NSMode string `json:"nsmode"`
	}
	specNetwork struct {
		StaticIPs []string `json:"static_ips,omitempty"`
		StaticMAC string   `json:"static_mac,omitempty"`
		Aliases   []string `json:"aliases,omitempty"`
	}
	specPort struct {
		HostIP        string `json:"host_ip,omitempty"`
		ContainerPort uint16 `json:"container_port"`
		HostPort      uint16 `json:"host_port"`
		Protocol      string `json:"protocol,omitempty"`
	}
	specMount struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options,omitempty"`
	}
	specDevice struct {
		Path string `json:"path"`
	}
	specCgroupRule struct {
		Allow  bool   `json:"allow"`
		Type   string `json:"type,omitempty"`
		Major  *int64 `json:"major,omitempty"`
		Minor  *int64 `json:"minor,omitempty"`
		Access string `json:"access,omitempty"`
	}
	specRlimit struct {
		Type string `json:"type"`
		Hard uint64 `json:"hard"`
		Soft uint64 `json:"soft"`
	}
	specResources struct {
		Memory *struct {
			Limit int64 `json:"limit"`
		} `json:"memory,omitempty"`
		CPU *struct {
			Quota  int64  `json:"quota"`
			Period uint64 `json:"period"`
		} `json:"cpu,omitempty"`
		Pids *struct {
			Limit int64 `json:"limit"`
		} `json:"pids,omitempty"`
	}
	specHealth struct {
		Test        []string      `json:"Test"`
		Interval    time.Duration `json:"Interval,omitempty"`
		Timeout     time.Duration `json:"Timeout,omitempty"`
		StartPeriod time.Duration `json:"StartPeriod,omitempty"`
		Retries     int           `json:"Retries,omitempty"`
	}
	specGenerator struct {
		Name              string                 `json:"name"`
		Image             string                 `json:"image"`
		Hostname          string                 `json:"hostname,omitempty"`
		Entrypoint        []string               `json:"entrypoint,omitempty"`
		Command           []string               `json:"command,omitempty"`
		Env               map[string]string      `json:"env,omitempty"`
		User              string                 `json:"user,omitempty"`
		WorkDir           string                 `json:"work_dir,omitempty"`
		Labels            map[string]string      `json:"labels,omitempty"`
		Annotations       map[string]string      `json:"annotations,omitempty"`
		NetNS             specNamespace          `json:"netns"`
		Networks          map[string]specNetwork `json:"Networks,omitempty"`
		PortMappings      []specPort             `json:"portmappings,omitempty"`
		Mounts            []specMount            `json:"mounts,omitempty"`
		Devices           []specDevice           `json:"devices,omitempty"`
		DeviceCgroupRules []specCgroupRule       `json:"device_cgroup_rule,omitempty"`
		Groups            []string               `json:"groups,omitempty"`
		ShmSize           *int64                 `json:"shm_size,omitempty"`
		Resources         *specResources         `json:"resource_limits,omitempty"`
		Rlimits           []specRlimit           `json:"r_limits,omitempty"`
		RestartPolicy     string                 `json:"restart_policy,omitempty"`
		Health            *specHealth            `json:"healthconfig,omitempty"`
		StopTimeout       *uint                  `json:"stop_timeout,omitempty"`
		Init              bool                   `json:"init,omitempty"`
		// Hidden from the host's environment: Podman would otherwise
		// copy in the API service's proxy variables.
		HTTPProxy *bool `json:"httpproxy,omitempty"`
	}
)

// cpuPeriod is the CFS period NanoCPUs are expressed in, Docker's and
// Podman's default.
const cpuPeriod = 100_000

func (e *Engine) toSpec(spec runtime.ContainerSpec) (specGenerator, error) {
	no := false
	s := specGenerator{
		Name:        spec.Name,
		Image:       spec.Image,
		Hostname:    spec.Hostname,
		Entrypoint:  spec.Entrypoint,
		Command:     spec.Cmd,
		User:        spec.User,
		WorkDir:     spec.WorkingDir,
		Labels:      spec.Labels,
		Annotations: map[string]string{annImage: spec.Image, annPids: strconv.FormatInt(spec.Resources.PidsLimit, 10)},
		Groups:      spec.GroupAdd,
		HTTPProxy:   &no,
	}
	if len(spec.Env) > 0 {
		s.Env = map[string]string{}
		for _, kv := range spec.Env {
			k, v, _ := strings.Cut(kv, "=")
			s.Env[k] = v
		}
	}
	if len(spec.Networks) == 0 {
		s.NetNS.NSMode = "bridge"
	} else {
		s.NetNS.NSMode = "bridge"
		s.Networks = map[string]specNetwork{}
		var ann []string
		for _, ep := range spec.Networks {
			n := specNetwork{Aliases: ep.Aliases}
			if ep.IP.IsValid() {
				n.StaticIPs = []string{ep.IP.String()}
				n.StaticMAC = macFor(ep.IP)
				ann = append(ann, ep.Network+"="+ep.IP.String())
			}
			s.Networks[ep.Network] = n
		}
		s.Annotations[annNetworks] = strings.Join(ann, ",")
	}
	for _, p := range spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if !p.HostIP.IsValid() {
			return s, fmt.Errorf("port %d/%s: no host address to publish on", p.ContainerPort, proto)
		}
		s.PortMappings = append(s.PortMappings, specPort{HostIP: p.HostIP.String(), ContainerPort: p.ContainerPort, HostPort: p.HostPort, Protocol: proto})
	}
	for _, m := range spec.Mounts {
		opts := []string{"rbind"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		s.Mounts = append(s.Mounts, specMount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts})
	}
	for _, d := range spec.Devices {
		// libpod parses "host:container:permissions" as the CLI does.
		path := d.Host
		if d.Container != "" && d.Container != d.Host || d.Permissions != "" {
			ctr := d.Container
			if ctr == "" {
				ctr = d.Host
			}
			path += ":" + ctr
			if d.Permissions != "" {
				path += ":" + d.Permissions
			}
		}
		s.Devices = append(s.Devices, specDevice{Path: path})
	}
	for _, r := range spec.DeviceCgroupRules {
		rule, err := parseCgroupRule(r)
		if err != nil {
			return s, err
		}
		s.DeviceCgroupRules = append(s.DeviceCgroupRules, rule)
	}
	for _, g := range spec.GPUs {
		devs, err := gpuDevices(g)
		if err != nil {
			return s, err
		}
		s.Devices = append(s.Devices, devs...)
	}
	r := spec.Resources
	if r.ShmBytes > 0 {
		s.ShmSize = &r.ShmBytes
	}
	if r.MemoryBytes > 0 || r.NanoCPUs > 0 || r.PidsLimit > 0 {
		s.Resources = &specResources{}
		if r.MemoryBytes > 0 {
			s.Resources.Memory = &struct {
				Limit int64 `json:"limit"`
			}{r.MemoryBytes}
		}
		if r.NanoCPUs > 0 {
			s.Resources.CPU = &struct {
				Quota  int64  `json:"quota"`
				Period uint64 `json:"period"`
			}{r.NanoCPUs * cpuPeriod / 1e9, cpuPeriod}
		}
		if r.PidsLimit > 0 {
			s.Resources.Pids = &struct {
				Limit int64 `json:"limit"`
			}{r.PidsLimit}
		}
	}
	for _, u := range e.withDefaultUlimits(spec.Ulimits) {
		s.Rlimits = append(s.Rlimits, specRlimit{Type: u.Name, Soft: uint64(u.Soft), Hard: uint64(u.Hard)})
	}
	switch spec.Restart {
	case "", "no":
		s.RestartPolicy = "no"
	default:
		s.RestartPolicy = spec.Restart
	}
	if h := spec.Healthcheck; h != nil {
		s.Health = &specHealth{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	if spec.StopTimeout > 0 {
		t := uint(spec.StopTimeout / time.Second)
		s.StopTimeout = &t
	}
	s.Init = spec.Init
	return s, nil
}

// withDefaultUlimits adds the engine's default limits the spec leaves out.
func (e *Engine) withDefaultUlimits(us []runtime.Ulimit) []runtime.Ulimit {
	out := slices.Clone(us)
	for _, d := range e.ulimits {
		if !slices.ContainsFunc(us, func(u runtime.Ulimit) bool { return u.Name == d.Name }) {
			out = append(out, d)
		}
	}
	return out
}

// parseCgroupRule parses Docker's "type major:minor access" rule.
func parseCgroupRule(r string) (specCgroupRule, error) {
	f := strings.Fields(r)
	if len(f) != 3 {
		return specCgroupRule{}, fmt.Errorf("device cgroup rule %q: want \"type major:minor access\"", r)
	}
	rule := specCgroupRule{Allow: true, Type: f[0], Access: f[2]}
	maj, min, ok := strings.Cut(f[1], ":")
	if !ok {
		return specCgroupRule{}, fmt.Errorf("device cgroup rule %q: want major:minor", r)
	}
	num := func(s string) (*int64, error) {
		if s == "*" {
			return nil, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("device cgroup rule %q: %w", r, err)
		}
		return &n, nil
	}
	var err error
	if rule.Major, err = num(maj); err != nil {
		return specCgroupRule{}, err
	}
	if rule.Minor, err = num(min); err != nil {
		return specCgroupRule{}, err
	}
	return rule, nil
}

// gpuDevices turns a GPU request into libpod devices. Podman resolves a CDI
// name ("nvidia.com/gpu=UUID") from the specs in /etc/cdi; the nvidia
// driver request, which Podman has no notion of, goes through CDI names
// too, as the nvidia container toolkit documents for Podman.
func gpuDevices(g runtime.GPURequest) ([]specDevice, error) {
	var out []specDevice
	switch g.Driver {
	case "cdi":
		for _, id := range g.DeviceIDs {
			out = append(out, specDevice{Path: id})
		}
	case "nvidia", "":
		if len(g.DeviceIDs) == 0 {
			if g.Count != -1 && g.Count != 0 {
				return nil, fmt.Errorf("gpu request for %d devices: podman takes all gpus or named ones", g.Count)
			}
			out = append(out, specDevice{Path: "nvidia.com/gpu=all"})
		}
		for _, id := range g.DeviceIDs {
			out = append(out, specDevice{Path: "nvidia.com/gpu=" + id})
		}
	default:
		return nil, fmt.Errorf("gpu driver %q: podman supports cdi and nvidia", g.Driver)
	}
	return out, nil
}

// CreateContainer creates a container attached to all its networks at
// their addresses.
func (e *Engine) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	s, err := e.toSpec(spec)
	if err != nil {
		return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
	}
	// libpod checks neither the image nor the networks before it makes
	// the container, and its error for a missing local image is a pull
	// failure: check both first so that the errors say what is missing.
	if _, err := e.InspectImage(ctx, spec.Image); err != nil {
		return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
	}
	var res struct {
		ID string `json:"Id"`
	}
	if err := e.do(ctx, http.MethodPost, "/containers/create", nil, s, &res); err != nil {
		if strings.Contains(err.Error(), "network not found") || strings.Contains(err.Error(), "unable to find network") {
			err = fmt.Errorf("%w: %v", runtime.ErrNotFound, err)
		}
		return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
	}
	return res.ID, nil
}

// inspectJSON is the subset of libpod's container inspect berth reads.
type inspectJSON struct {
	ID           string `json:"Id"`
	RestartCount int    `json:"RestartCount"`
	Name         string `json:"Name"`
	Image        string `json:"Image"`
	ImageName    string `json:"ImageName"`
	State        struct {
		Status    string `json:"Status"`
		ExitCode  int    `json:"ExitCode"`
		Pid       int    `json:"Pid"`
		StartedAt string `json:"StartedAt"`
		Health    *struct {
			Status string `json:"Status"`
		} `json:"Health"`
	} `json:"State"`
	Config struct {
		Labels      map[string]string `json:"Labels"`
		Annotations map[string]string `json:"Annotations"`
		Env         []string          `json:"Env"`
		Cmd         []string          `json:"Cmd"`
		Tty         bool              `json:"Tty"`
	} `json:"Config"`
	NetworkSettings struct {
		Networks map[string]struct {
			IPAddress string `json:"IPAddress"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
	HostConfig struct {
		Memory       int64 `json:"Memory"`
		NanoCpus     int64 `json:"NanoCpus"`
		CPUQuota     int64 `json:"CpuQuota"`
		CPUPeriod    int64 `json:"CpuPeriod"`
		ShmSize      int64 `json:"ShmSize"`
		PidsLimit    int64 `json:"PidsLimit"`
		PortBindings map[string][]struct {
			HostIP   string `json:"HostIp"`
			HostPort string `json:"HostPort"`
		} `json:"PortBindings"`
	} `json:"HostConfig"`
	Mounts []struct {
		Type        string `json:"Type"`
		Source      string `json:"Source"`
		Destination string `json:"Destination"`
		RW          bool   `json:"RW"`
	} `json:"Mounts"`
}

// InspectContainer reports one container.
func (e *Engine) InspectContainer(ctx context.Context, nameOrID string) (runtime.Container, error) {
	var in inspectJSON
	if err := e.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(nameOrID)+"/json", nil, nil, &in); err != nil {
		return runtime.Container{}, fmt.Errorf("inspecting container %q: %w", nameOrID, err)
	}
	return fromInspect(in), nil
}

// states maps libpod's states to Docker's, which runtime uses: libpod says
// "configured" before the first start and "stopped" for a container that
// has run since its OCI state was cleaned.
var states = map[string]string{
	"configured": runtime.StateCreated,
	"created":    runtime.StateCreated,
	"running":    runtime.StateRunning,
	"paused":     runtime.StatePaused,
	"stopping":   runtime.StateRunning,
	"stopped":    runtime.StateExited,
	"exited":     runtime.StateExited,
	"removing":   runtime.StateDead,
}

func fromInspect(in inspectJSON) runtime.Container {
	out := runtime.Container{
		ID:           in.ID,
		Name:         in.Name,
		Image:        in.ImageName,
		ImageID:      "sha256:" + in.Image,
		Labels:       in.Config.Labels,
		State:        states[in.State.Status],
		ExitCode:     in.State.ExitCode,
		RestartCount: in.RestartCount,
		Networks:     map[string]netip.Addr{},
		Cmd:          in.Config.Cmd,
		TTY:          in.Config.Tty,
	}
	if out.State == "" {
		out.State = in.State.Status
	}
	if ref := in.Config.Annotations[annImage]; ref != "" {
		out.Image = ref
	}
	if h := in.State.Health; h != nil {
		out.Health = h.Status
	}
	if t, err := time.Parse(time.RFC3339Nano, in.State.StartedAt); err == nil && t.Year() > 1 {
		out.StartedAt = t
	}
	// Podman adds its own variables to the environment; report what berth
	// can compare, sorted.
	for _, kv := range in.Config.Env {
		if strings.HasPrefix(kv, "container=") {
			continue
		}
		out.Env = append(out.Env, kv)
	}
	slices.Sort(out.Env)
	static := map[string]netip.Addr{}
	for _, kv := range strings.Split(in.Config.Annotations[annNetworks], ",") {
		if n, a, ok := strings.Cut(kv, "="); ok {
			static[n], _ = netip.ParseAddr(a)
		}
	}
	for name, ep := range in.NetworkSettings.Networks {
		a, err := netip.ParseAddr(ep.IPAddress)
		if err != nil {
			// Not running: report the address it is configured to get.
			a = static[name]
		}
		out.Networks[name] = a
	}
	hc := in.HostConfig
	out.Resources = runtime.Resources{MemoryBytes: hc.Memory, NanoCPUs: hc.NanoCpus, ShmBytes: hc.ShmSize, PidsLimit: hc.PidsLimit}
	if p, err := strconv.ParseInt(in.Config.Annotations[annPids], 10, 64); err == nil {
		out.Resources.PidsLimit = p
	}
	if out.Resources.NanoCPUs == 0 && hc.CPUQuota > 0 && hc.CPUPeriod > 0 {
		out.Resources.NanoCPUs = hc.CPUQuota * 1e9 / hc.CPUPeriod
	}
	for p, bs := range hc.PortBindings {
		num, proto, _ := strings.Cut(p, "/")
		cp, _ := strconv.ParseUint(num, 10, 16)
		for _, b := range bs {
			hp, _ := strconv.ParseUint(b.HostPort, 10, 16)
			hip, _ := netip.ParseAddr(b.HostIP)
			out.Ports = append(out.Ports, runtime.Port{HostIP: hip, HostPort: uint16(hp), ContainerPort: uint16(cp), Protocol: proto})
		}
	}
	slices.SortFunc(out.Ports, func(a, b runtime.Port) int {
		if a.ContainerPort != b.ContainerPort {
			return int(a.ContainerPort) - int(b.ContainerPort)
		}
		return strings.Compare(a.Protocol, b.Protocol)
	})
	for _, m := range in.Mounts {
		if m.Type != "bind" {
			continue
		}
		out.Mounts = append(out.Mounts, runtime.Mount{Source: m.Source, Target: m.Destination, ReadOnly: !m.RW})
	}
	return out
}

// listSummary is one entry of libpod's container list.
type listSummary struct {
	ID string `json:"Id"`
}

// ListContainers lists containers, running or not, carrying all the given
// labels, with full detail.
func (e *Engine) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.Container, error) {
	return e.listContainers(ctx, labels)
}

func (e *Engine) listContainers(ctx context.Context, labels map[string]string) ([]runtime.Container, error) {
	q := filters(labelFilter(labels))
	q.Set("all", "true")
	var res []listSummary
	if err := e.do(ctx, http.MethodGet, "/containers/json", q, nil, &res); err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	out := make([]runtime.Container, len(res))
	errs := make([]error, len(res))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, s := range res {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = e.InspectContainer(ctx, s.ID)
		}()
	}
	wg.Wait()
	var kept []runtime.Container
	for i, c := range out {
		if isNotFound(errs[i]) {
			continue // removed since the list
		}
		if errs[i] != nil {
			return nil, errs[i]
		}
		kept = append(kept, c)
	}
	slices.SortFunc(kept, func(a, b runtime.Container) int { return strings.Compare(a.Name, b.Name) })
	return kept, nil
}

// StartContainer starts a container; starting a running one is no error.
func (e *Engine) StartContainer(ctx context.Context, nameOrID string) error {
	if err := e.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(nameOrID)+"/start", nil, nil, nil); err != nil {
		if strings.Contains(err.Error(), "network not found") || strings.Contains(err.Error(), "unable to find network") {
			err = fmt.Errorf("%w: %v", runtime.ErrNotFound, err)
		}
		return fmt.Errorf("starting container %q: %w", nameOrID, err)
	}
	return nil
}

// StopContainer stops a container, killing it after timeout.
func (e *Engine) StopContainer(ctx context.Context, nameOrID string, timeout time.Duration) error {
	q := url.Values{"timeout": {strconv.Itoa(int(timeout / time.Second))}}
	if err := e.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(nameOrID)+"/stop", q, nil, nil); err != nil {
		return fmt.Errorf("stopping container %q: %w", nameOrID, err)
	}
	return nil
}

// RemoveContainer removes a container, running or not, never its volumes:
// berth never deletes data.
func (e *Engine) RemoveContainer(ctx context.Context, nameOrID string) error {
	q := url.Values{"force": {"true"}, "v": {"false"}}
	var reports []struct {
		Err string `json:"Err"`
	}
	if err := e.do(ctx, http.MethodDelete, "/containers/"+url.PathEscape(nameOrID), q, nil, &reports); err != nil {
		return fmt.Errorf("removing container %q: %w", nameOrID, err)
	}
	for _, r := range reports {
		if r.Err != "" {
			return fmt.Errorf("removing container %q: %w", nameOrID, mapErr(0, errors.New(r.Err)))
		}
	}
	return nil
}

var _ runtime.HostPIDer = (*Engine)(nil)

// HostPID reports the host PID of a running container's first process;
// Podman's socket is always on this machine.
func (e *Engine) HostPID(ctx context.Context, nameOrID string) (int, error) {
	var in inspectJSON
	if err := e.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(nameOrID)+"/json", nil, nil, &in); err != nil {
		return 0, fmt.Errorf("inspecting container %q: %w", nameOrID, err)
	}
	if in.State.Pid <= 0 {
		return 0, fmt.Errorf("container %q: %w: not running", nameOrID, runtime.ErrConflict)
	}
	return in.State.Pid, nil
}

// statsJSON is libpod's answer to one sample of stats.
type statsJSON struct {
	Error *struct {
		Message string `json:"message"`
	} `json:"Error"`
	Stats []struct {
		CPUNano  uint64 `json:"CPUNano"`
		MemUsage uint64 `json:"MemUsage"`
		PIDs     uint64 `json:"PIDs"`
	} `json:"Stats"`
}

// Stats reads one sample of the container's resource use. libpod's
// MemUsage is already the working set (usage less inactive file pages).
func (e *Engine) Stats(ctx context.Context, nameOrID string) (runtime.Stats, error) {
	c, err := e.InspectContainer(ctx, nameOrID)
	if err != nil {
		return runtime.Stats{}, err
	}
	if c.State != runtime.StateRunning {
		return runtime.Stats{}, fmt.Errorf("reading the stats of %q: %w", nameOrID, runtime.ErrNotRunning)
	}
	var out statsJSON
	q := url.Values{"containers": {c.ID}, "stream": {"false"}}
	if err := e.do(ctx, http.MethodGet, "/containers/stats", q, nil, &out); err != nil {
		return runtime.Stats{}, fmt.Errorf("reading the stats of %q: %w", nameOrID, err)
	}
	if out.Error != nil && out.Error.Message != "" {
		return runtime.Stats{}, fmt.Errorf("reading the stats of %q: %s", nameOrID, out.Error.Message)
	}
	if len(out.Stats) != 1 {
		return runtime.Stats{}, fmt.Errorf("reading the stats of %q: %d samples in the answer", nameOrID, len(out.Stats))
	}
	s := out.Stats[0]
	return runtime.Stats{CPUSeconds: float64(s.CPUNano) / 1e9, MemoryBytes: s.MemUsage, PIDs: s.PIDs}, nil
}

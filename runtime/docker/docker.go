// Package docker implements runtime.Engine on the Docker Engine API through
// github.com/moby/moby/client, negotiating the API version so that it works
// with Debian's docker.io 20.10 (API 1.41) as well as current releases.
package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/voidnxlabs/berth/runtime"
)

// Engine is a Docker engine.
type Engine struct {
	c *client.Client
}

var _ runtime.Engine = (*Engine)(nil)

// New connects to the engine named by the environment (DOCKER_HOST and
// friends, else the local socket) and checks that it answers.
func New(ctx context.Context) (*Engine, error) {
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("creating docker client: %w", err)
	}
	e := &Engine{c: c}
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("connecting to docker: %w", mapErr(err))
	}
	return e, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.c.Close() }

// mapErr turns the client's error kinds into runtime's sentinels so callers
// can decide without knowing the engine.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("%w: %v", runtime.ErrUnreachable, err)
	case strings.Contains(msg, "active endpoints"):
		return fmt.Errorf("%w: %v", runtime.ErrInUse, err)
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: %v", runtime.ErrNotFound, err)
	case cerrdefs.IsConflict(err),
		// Docker 20.10 answers 403 to an overlapping pool and 500 to an
		// address that is taken; both are conflicts for berth.
		strings.Contains(msg, "overlaps with"),
		strings.Contains(msg, "Address already in use"),
		strings.Contains(msg, "already exists"),
		strings.Contains(msg, "is already in use"):
		return fmt.Errorf("%w: %v", runtime.ErrConflict, err)
	}
	return err
}

// Info describes the engine.
func (e *Engine) Info(ctx context.Context) (runtime.Info, error) {
	res, err := e.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return runtime.Info{}, fmt.Errorf("getting docker info: %w", mapErr(err))
	}
	_, nvidia := res.Info.Runtimes["nvidia"]
	info := runtime.Info{
		Name:          "docker",
		Version:       res.Info.ServerVersion,
		APIVersion:    e.c.ClientVersion(),
		CDIEnabled:    len(res.Info.CDISpecDirs) > 0,
		NvidiaRuntime: nvidia,
		// Docker's built-in nvidia device driver runs the toolkit's hook;
		// CDI names only resolve with CDI enabled in daemon.json.
		GPUDrivers: []string{"nvidia"},
	}
	if info.CDIEnabled {
		info.GPUDrivers = append(info.GPUDrivers, "cdi")
	}
	return info, nil
}

func labelFilters(labels map[string]string) client.Filters {
	f := client.Filters{}
	for k, v := range labels {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	return f
}

// ListNetworks lists networks carrying all the given labels (an empty value
// matches any value), with their attached containers.
func (e *Engine) ListNetworks(ctx context.Context, labels map[string]string) ([]runtime.Network, error) {
	res, err := e.c.NetworkList(ctx, client.NetworkListOptions{Filters: labelFilters(labels)})
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", mapErr(err))
	}
	var out []runtime.Network
	for _, s := range res.Items {
		// The list does not carry endpoints on every API version.
		n, err := e.inspectNetwork(ctx, s.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // removed since the list
		}
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b runtime.Network) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (e *Engine) inspectNetwork(ctx context.Context, id string) (runtime.Network, error) {
	res, err := e.c.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
	if err != nil {
		return runtime.Network{}, fmt.Errorf("inspecting network %q: %w", id, mapErr(err))
	}
	n := res.Network
	out := runtime.Network{ID: n.ID, Name: n.Name, Labels: n.Labels, Containers: map[string]netip.Addr{}}
	for _, c := range n.IPAM.Config {
		if c.Subnet.Addr().Is4() {
			out.Subnet = c.Subnet
			out.Gateway = c.Gateway
			break
		}
	}
	for id, ep := range n.Containers {
		out.Containers[id] = ep.IPv4Address.Addr()
	}
	// A bridge network's interface is br-<first 12 of the ID> unless the
	// network names its own.
	out.Bridge = n.Options["com.docker.network.bridge.name"]
	if out.Bridge == "" && n.Driver == "bridge" && len(n.ID) >= 12 {
		out.Bridge = "br-" + n.ID[:12]
	}
	return out, nil
}

// CreateNetwork creates a bridge network with the spec's subnet and gateway.
func (e *Engine) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (string, error) {
	cfg := network.IPAMConfig{Subnet: spec.Subnet, Gateway: spec.Gateway}
	res, err := e.c.NetworkCreate(ctx, spec.Name, client.NetworkCreateOptions{
		Driver: "bridge",
		IPAM:   &network.IPAM{Driver: "default", Config: []network.IPAMConfig{cfg}},
		Labels: spec.Labels,
	})
	if err != nil {
		return "", fmt.Errorf("creating network %q: %w", spec.Name, mapErr(err))
	}
	return res.ID, nil
}

// RemoveNetwork removes a network. It fails with runtime.ErrInUse while
// endpoints are attached.
func (e *Engine) RemoveNetwork(ctx context.Context, nameOrID string) error {
	if _, err := e.c.NetworkRemove(ctx, nameOrID, client.NetworkRemoveOptions{}); err != nil {
		return fmt.Errorf("removing network %q: %w", nameOrID, mapErr(err))
	}
	return nil
}

func endpointSettings(ep runtime.Endpoint) *network.EndpointSettings {
	s := &network.EndpointSettings{Aliases: ep.Aliases}
	if ep.IP.IsValid() {
		s.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ep.IP}
	}
	return s
}

// Connect attaches a container to a network.
func (e *Engine) Connect(ctx context.Context, ctr string, ep runtime.Endpoint) error {
	_, err := e.c.NetworkConnect(ctx, ep.Network, client.NetworkConnectOptions{Container: ctr, EndpointConfig: endpointSettings(ep)})
	if err != nil {
		return fmt.Errorf("connecting %q to network %q: %w", ctr, ep.Network, mapErr(err))
	}
	return nil
}

// Disconnect detaches a container from a network, forcibly, so that stale
// endpoints of containers that no longer exist can be cleared too.
func (e *Engine) Disconnect(ctx context.Context, ctr, netw string) error {
	_, err := e.c.NetworkDisconnect(ctx, netw, client.NetworkDisconnectOptions{Container: ctr, Force: true})
	if err != nil {
		return fmt.Errorf("disconnecting %q from network %q: %w", ctr, netw, mapErr(err))
	}
	return nil
}

// ListContainers lists containers, running or not, carrying all the given
// labels, with full detail.
func (e *Engine) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.Container, error) {
	res, err := e.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labelFilters(labels)})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", mapErr(err))
	}
	// The list lacks start time, exit code and resources: inspect each,
	// a few at a time, since the daemon answers inspects concurrently.
	out := make([]runtime.Container, len(res.Items))
	errs := make([]error, len(res.Items))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, s := range res.Items {
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
		if errors.Is(errs[i], runtime.ErrNotFound) {
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

// InspectContainer reports one container.
func (e *Engine) InspectContainer(ctx context.Context, nameOrID string) (runtime.Container, error) {
	res, err := e.c.ContainerInspect(ctx, nameOrID, client.ContainerInspectOptions{})
	if err != nil {
		return runtime.Container{}, fmt.Errorf("inspecting container %q: %w", nameOrID, mapErr(err))
	}
	return fromInspect(res.Container), nil
}

func fromInspect(c container.InspectResponse) runtime.Container {
	out := runtime.Container{
		ID:       c.ID,
		Name:     strings.TrimPrefix(c.Name, "/"),
		ImageID:  c.Image,
		Networks: map[string]netip.Addr{},
	}
	if c.Config != nil {
		out.Image = c.Config.Image
		out.Labels = c.Config.Labels
		out.Env = slices.Sorted(slices.Values(c.Config.Env))
		out.Cmd = c.Config.Cmd
		out.TTY = c.Config.Tty
	}
	if s := c.State; s != nil {
		out.State = string(s.Status)
		out.ExitCode = s.ExitCode
		if s.Health != nil {
			out.Health = string(s.Health.Status)
		}
		if t, err := time.Parse(time.RFC3339Nano, s.StartedAt); err == nil && t.Year() > 1 {
			out.StartedAt = t
		}
	}
	out.RestartCount = c.RestartCount
	if ns := c.NetworkSettings; ns != nil {
		for name, ep := range ns.Networks {
			if ep == nil {
				continue
			}
			addr := ep.IPAddress
			// A stopped container has no live address; report the one
			// it is configured to get so plans can compare it.
			if !addr.IsValid() && ep.IPAMConfig != nil {
				addr = ep.IPAMConfig.IPv4Address
			}
			out.Networks[name] = addr
		}
	}
	if hc := c.HostConfig; hc != nil {
		out.Resources = runtime.Resources{
			MemoryBytes: hc.Memory,
			NanoCPUs:    hc.NanoCPUs,
			ShmBytes:    hc.ShmSize,
		}
		if hc.PidsLimit != nil {
			out.Resources.PidsLimit = *hc.PidsLimit
		}
		for p, bs := range hc.PortBindings {
			for _, b := range bs {
				hp, _ := strconv.ParseUint(b.HostPort, 10, 16)
				out.Ports = append(out.Ports, runtime.Port{HostIP: b.HostIP, HostPort: uint16(hp), ContainerPort: p.Num(), Protocol: string(p.Proto())})
			}
		}
		slices.SortFunc(out.Ports, func(a, b runtime.Port) int {
			if a.ContainerPort != b.ContainerPort {
				return int(a.ContainerPort) - int(b.ContainerPort)
			}
			return strings.Compare(a.Protocol, b.Protocol)
		})
		for _, m := range hc.Mounts {
			out.Mounts = append(out.Mounts, runtime.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		}
	}
	return out
}

// CreateContainer creates a container on its first network, then attaches
// it to the others: API versions before 1.44 accept one network at create.
// If an attach fails, the container is removed again so that a failed
// create leaves nothing behind.
func (e *Engine) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	cfg, hc, nc, err := toCreate(spec)
	if err != nil {
		return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
	}
	res, err := e.c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: spec.Name, Config: cfg, HostConfig: hc, NetworkingConfig: nc})
	if err != nil {
		return "", fmt.Errorf("creating container %q: %w", spec.Name, mapErr(err))
	}
	for _, ep := range spec.Networks[min(1, len(spec.Networks)):] {
		if err := e.Connect(ctx, res.ID, ep); err != nil {
			// Cleanup must run even when ctx is what failed.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			_ = e.RemoveContainer(cctx, res.ID)
			cancel()
			return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
		}
	}
	return res.ID, nil
}

func toCreate(spec runtime.ContainerSpec) (*container.Config, *container.HostConfig, *network.NetworkingConfig, error) {
	cfg := &container.Config{
		Hostname:     spec.Hostname,
		Image:        spec.Image,
		Entrypoint:   spec.Entrypoint,
		Cmd:          spec.Cmd,
		Env:          spec.Env,
		User:         spec.User,
		WorkingDir:   spec.WorkingDir,
		Labels:       spec.Labels,
		ExposedPorts: network.PortSet{},
	}
	if spec.StopTimeout > 0 {
		s := int(spec.StopTimeout / time.Second)
		cfg.StopTimeout = &s
	}
	if h := spec.Healthcheck; h != nil {
		cfg.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	hc := &container.HostConfig{
		PortBindings:  network.PortMap{},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(spec.Restart)},
		GroupAdd:      spec.GroupAdd,
		ShmSize:       spec.Resources.ShmBytes,
	}
	if spec.Restart == "" {
		hc.RestartPolicy.Name = container.RestartPolicyDisabled
	}
	if spec.Init {
		t := true
		hc.Init = &t
	}
	hc.Memory = spec.Resources.MemoryBytes
	hc.NanoCPUs = spec.Resources.NanoCPUs
	if spec.Resources.PidsLimit != 0 {
		p := spec.Resources.PidsLimit
		hc.PidsLimit = &p
	}
	for _, p := range spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, ok := network.PortFrom(p.ContainerPort, network.IPProtocol(proto))
		if !ok {
			return nil, nil, nil, fmt.Errorf("invalid port %d/%s", p.ContainerPort, proto)
		}
		if !p.HostIP.IsValid() {
			return nil, nil, nil, fmt.Errorf("port %d/%s: no host address to publish on", p.ContainerPort, proto)
		}
		cfg.ExposedPorts[port] = struct{}{}
		hc.PortBindings[port] = append(hc.PortBindings[port], network.PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(int(p.HostPort))})
	}
	for _, m := range spec.Mounts {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	for _, d := range spec.Devices {
		ctr := d.Container
		if ctr == "" {
			ctr = d.Host
		}
		perm := d.Permissions
		if perm == "" {
			perm = "rwm"
		}
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: d.Host, PathInContainer: ctr, CgroupPermissions: perm})
	}
	hc.DeviceCgroupRules = spec.DeviceCgroupRules
	for _, g := range spec.GPUs {
		caps := g.Capabilities
		if len(caps) == 0 {
			caps = []string{"gpu"}
		}
		hc.DeviceRequests = append(hc.DeviceRequests, container.DeviceRequest{Driver: g.Driver, Count: g.Count, DeviceIDs: g.DeviceIDs, Capabilities: [][]string{caps}})
	}
	for _, u := range spec.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	if len(spec.Networks) > 0 {
		ep := spec.Networks[0]
		hc.NetworkMode = container.NetworkMode(ep.Network)
		nc.EndpointsConfig[ep.Network] = endpointSettings(ep)
	}
	return cfg, hc, nc, nil
}

// StartContainer starts a container; starting a running one is no error.
func (e *Engine) StartContainer(ctx context.Context, nameOrID string) error {
	if _, err := e.c.ContainerStart(ctx, nameOrID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting container %q: %w", nameOrID, mapErr(err))
	}
	return nil
}

// StopContainer stops a container, killing it after timeout.
func (e *Engine) StopContainer(ctx context.Context, nameOrID string, timeout time.Duration) error {
	s := int(timeout / time.Second)
	if _, err := e.c.ContainerStop(ctx, nameOrID, client.ContainerStopOptions{Timeout: &s}); err != nil {
		return fmt.Errorf("stopping container %q: %w", nameOrID, mapErr(err))
	}
	return nil
}

// RemoveContainer removes a container, running or not. Anonymous volumes
// are kept: berth never deletes data.
func (e *Engine) RemoveContainer(ctx context.Context, nameOrID string) error {
	if _, err := e.c.ContainerRemove(ctx, nameOrID, client.ContainerRemoveOptions{Force: true}); err != nil {
		return fmt.Errorf("removing container %q: %w", nameOrID, mapErr(err))
	}
	return nil
}

// InspectImage reports an image present in the engine.
func (e *Engine) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	res, err := e.c.ImageInspect(ctx, ref)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("inspecting image %q: %w", ref, mapErr(err))
	}
	return runtime.Image{ID: res.ID, RepoTags: res.RepoTags, Size: res.Size}, nil
}

// PullImage pulls ref, reporting progress from the engine's JSON stream.
func (e *Engine) PullImage(ctx context.Context, ref string, progress func(runtime.ProgressEvent)) error {
	res, err := e.c.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pulling image %q: %w", ref, mapErr(err))
	}
	defer res.Close()
	for m, err := range res.JSONMessages(ctx) {
		if err != nil {
			return fmt.Errorf("pulling image %q: %w", ref, mapErr(err))
		}
		if m.Error != nil {
			return fmt.Errorf("pulling image %q: %s", ref, m.Error.Message)
		}
		if progress != nil && m.Status != "" {
			ev := runtime.ProgressEvent{ID: m.ID, Status: m.Status}
			if m.Progress != nil {
				ev.Current, ev.Total = m.Progress.Current, m.Progress.Total
			}
			progress(ev)
		}
	}
	return nil
}

// RemoveImage removes a reference, never forcing: an image in use stays.
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	if _, err := e.c.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
		return fmt.Errorf("removing image %q: %w", ref, mapErr(err))
	}
	return nil
}

// loadMessage is one line of the load stream; API 1.41 still sends the
// error in a plain "error" field besides errorDetail.
type loadMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// LoadImage loads a docker-load tarball and returns the references (or
// IDs, for untagged images) it loaded.
func (e *Engine) LoadImage(ctx context.Context, tarball io.Reader) ([]string, error) {
	res, err := e.c.ImageLoad(ctx, tarball, client.ImageLoadWithQuiet(true))
	if err != nil {
		return nil, fmt.Errorf("loading image: %w", mapErr(err))
	}
	defer res.Close()
	var refs []string
	dec := json.NewDecoder(bufio.NewReader(res))
	for {
		var m loadMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("loading image: reading response: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return nil, fmt.Errorf("loading image: %s", m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return nil, fmt.Errorf("loading image: %s", m.Error)
		}
		for line := range strings.Lines(m.Stream) {
			line = strings.TrimSpace(line)
			if r, ok := strings.CutPrefix(line, "Loaded image: "); ok {
				refs = append(refs, r)
			} else if r, ok := strings.CutPrefix(line, "Loaded image ID: "); ok {
				refs = append(refs, r)
			}
		}
	}
	return refs, nil
}

// Logs copies a container's logs, demultiplexed unless it has a TTY.
func (e *Engine) Logs(ctx context.Context, ctr string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	c, err := e.InspectContainer(ctx, ctr)
	if err != nil {
		return err
	}
	lo := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Timestamps: opts.Timestamps}
	if !opts.Since.IsZero() {
		lo.Since = strconv.FormatInt(opts.Since.Unix(), 10)
	}
	if opts.Tail >= 0 {
		lo.Tail = strconv.Itoa(opts.Tail)
	}
	rc, err := e.c.ContainerLogs(ctx, ctr, lo)
	if err != nil {
		return fmt.Errorf("reading logs of %q: %w", ctr, mapErr(err))
	}
	defer rc.Close()
	if c.TTY {
		_, err = io.Copy(stdout, rc)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, rc)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading logs of %q: %w", ctr, err)
	}
	return nil
}

var _ runtime.HostPIDer = (*Engine)(nil)

// HostPID reports the host PID of a running container's first process. A
// daemon reached over TCP or SSH runs its containers elsewhere, so only a
// daemon on a local socket answers.
func (e *Engine) HostPID(ctx context.Context, nameOrID string) (int, error) {
	if !strings.HasPrefix(e.c.DaemonHost(), "unix://") {
		return 0, fmt.Errorf("container %q: %w (DOCKER_HOST=%s)", nameOrID, runtime.ErrNoHostPID, e.c.DaemonHost())
	}
	res, err := e.c.ContainerInspect(ctx, nameOrID, client.ContainerInspectOptions{})
	if err != nil {
		return 0, fmt.Errorf("inspecting container %q: %w", nameOrID, mapErr(err))
	}
	if res.Container.State == nil || res.Container.State.Pid <= 0 {
		return 0, fmt.Errorf("container %q: %w: not running", nameOrID, runtime.ErrConflict)
	}
	return res.Container.State.Pid, nil
}

// Stats reads one sample of the container's resource use (the engine's
// one-shot stats, which do not wait for a second sample).
func (e *Engine) Stats(ctx context.Context, nameOrID string) (runtime.Stats, error) {
	res, err := e.c.ContainerStats(ctx, nameOrID, client.ContainerStatsOptions{})
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("reading the stats of %q: %w", nameOrID, mapErr(err))
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return runtime.Stats{}, fmt.Errorf("reading the stats of %q: %w", nameOrID, err)
	}
	// A container that does not run answers an empty sample.
	if st.Read.IsZero() || st.Read.Year() < 2 {
		return runtime.Stats{}, fmt.Errorf("reading the stats of %q: %w", nameOrID, runtime.ErrNotRunning)
	}
	return runtime.Stats{
		CPUSeconds:  float64(st.CPUStats.CPUUsage.TotalUsage) / 1e9,
		MemoryBytes: workingSet(st.MemoryStats.Usage, st.MemoryStats.Stats),
		PIDs:        st.PidsStats.Current,
	}, nil
}

// workingSet is the memory in use less the page cache the kernel can
// reclaim: inactive_file on cgroup v2, total_inactive_file on v1, as
// docker stats and the kubelet count it.
func workingSet(usage uint64, stats map[string]uint64) uint64 {
	inactive, ok := stats["inactive_file"]
	if !ok {
		inactive = stats["total_inactive_file"]
	}
	if inactive > usage {
		return 0
	}
	return usage - inactive
}

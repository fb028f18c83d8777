// Package fake is an in-memory runtime.Engine with the semantics of a real
// one: unique names, address and subnet conflicts, networks that refuse
// removal while in use, container state transitions and image presence.
// Tests inject faults with Fail and Hook.
//
// Containers do not run programs. The engine emulates the fixture program
// (internal/fixture/server): its -stdout, -stderr, -exit and -cat flags (and
// FIXTURE_* variables) drive logs, exec output and exit codes.
package fake

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Engine is an in-memory engine, safe for concurrent use.
type Engine struct {
	mu         sync.Mutex
	seq        int
	networks   map[string]*network // by ID
	containers map[string]*ctr     // by ID
	images     map[string]string   // ref → image ID
	faults     []*fault
	calls      map[string]int

	// Hook, when set, is called before every operation with the method name
	// and its target; an error it returns is the operation's result.
	Hook func(op, target string) error
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

type network struct {
	runtime.Network
	stale map[string]netip.Addr // endpoints of containers that are gone
}

type ctr struct {
	spec    runtime.ContainerSpec
	id      string
	imageID string
	state   string
	exit    int
	started time.Time
	// endpoints is the configured attachment of the container: network ID →
	// endpoint. Addresses are held only while it runs, as in Docker.
	endpoints map[string]runtime.Endpoint
	logs      []logLine
}

type logLine struct {
	stderr bool
	text   string
}

type fault struct {
	op  string
	nth int
	err error
}

var _ runtime.Engine = (*Engine)(nil)

// New returns an empty engine.
func New() *Engine {
	return &Engine{
		networks:   map[string]*network{},
		containers: map[string]*ctr{},
		images:     map[string]string{},
		calls:      map[string]int{},
		Now:        time.Now,
	}
}

// Fail makes the nth call of op from now on (1 for the next one) fail with
// err; op is an Engine method name such as "CreateContainer".
func (e *Engine) Fail(op string, nth int, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &fault{op: op, nth: e.calls[op] + nth, err: err})
}

// Calls reports how many times op was called.
func (e *Engine) Calls(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[op]
}

// AddImage makes an image present under ref with the given ID.
func (e *Engine) AddImage(ref, id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.images[normalize(ref)] = id
}

// Kill ends a running container as if its process died with code.
func (e *Engine) Kill(nameOrID string, code int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(nameOrID)
	if err != nil {
		return err
	}
	c.state, c.exit = runtime.StateExited, code
	return nil
}

// AddStaleEndpoint leaves an endpoint of a container that no longer exists
// on a network, as a crashed daemon does (moby#42119): the network then
// refuses removal until the endpoint is disconnected.
func (e *Engine) AddStaleEndpoint(netw, containerID string, ip netip.Addr) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.findNetwork(netw)
	if err != nil {
		return err
	}
	n.stale[containerID] = ip
	return nil
}

// enter counts a call and returns the injected fault for it, if any.
// Callers hold e.mu.
func (e *Engine) enter(op, target string) error {
	e.calls[op]++
	for i, f := range e.faults {
		if f.op == op && f.nth == e.calls[op] {
			e.faults = slices.Delete(e.faults, i, i+1)
			return f.err
		}
	}
	if e.Hook != nil {
		return e.Hook(op, target)
	}
	return nil
}

func (e *Engine) newID() string {
	e.seq++
	sum := sha256.Sum256([]byte("fake" + strconv.Itoa(e.seq)))
	return hex.EncodeToString(sum[:])
}

// normalize gives a reference its implied tag, as engines do.
func normalize(ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return ref
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") && !strings.Contains(last, "@") {
		return ref + ":latest"
	}
	return ref
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		hv, ok := have[k]
		if !ok || (v != "" && hv != v) {
			return false
		}
	}
	return true
}

// Info describes the fake.
func (e *Engine) Info(ctx context.Context) (runtime.Info, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Info", ""); err != nil {
		return runtime.Info{}, err
	}
	return runtime.Info{Name: "fake", Version: "0", APIVersion: "1.41", GPUDrivers: []string{"nvidia"}}, nil
}

func (e *Engine) findNetwork(nameOrID string) (*network, error) {
	for _, n := range e.networks {
		if n.ID == nameOrID || n.Name == nameOrID {
			return n, nil
		}
	}
	for _, n := range e.networks {
		if len(nameOrID) >= 12 && strings.HasPrefix(n.ID, nameOrID) {
			return n, nil
		}
	}
	return nil, fmt.Errorf("network %q: %w", nameOrID, runtime.ErrNotFound)
}

func (e *Engine) findContainer(nameOrID string) (*ctr, error) {
	for _, c := range e.containers {
		if c.id == nameOrID || c.spec.Name == nameOrID {
			return c, nil
		}
	}
	for _, c := range e.containers {
		if len(nameOrID) >= 12 && strings.HasPrefix(c.id, nameOrID) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("container %q: %w", nameOrID, runtime.ErrNotFound)
}

// netView reports a network with the endpoints of running containers.
func (e *Engine) netView(n *network) runtime.Network {
	out := n.Network
	out.Bridge = "fk-" + n.ID[:min(12, len(n.ID))]
	out.Labels = maps.Clone(n.Labels)
	out.Containers = maps.Clone(n.stale)
	for _, c := range e.containers {
		if ep, ok := c.endpoints[n.ID]; ok && c.state == runtime.StateRunning {
			out.Containers[c.id] = ep.IP
		}
	}
	return out
}

// ListNetworks lists networks with all the given labels.
func (e *Engine) ListNetworks(ctx context.Context, labels map[string]string) ([]runtime.Network, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("ListNetworks", ""); err != nil {
		return nil, err
	}
	var out []runtime.Network
	for _, n := range e.networks {
		if matches(n.Labels, labels) {
			out = append(out, e.netView(n))
		}
	}
	slices.SortFunc(out, func(a, b runtime.Network) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// CreateNetwork creates a network; names are unique and subnets may not
// overlap.
func (e *Engine) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("CreateNetwork", spec.Name); err != nil {
		return "", err
	}
	if _, err := e.findNetwork(spec.Name); err == nil {
		return "", fmt.Errorf("creating network %q: %w", spec.Name, runtime.ErrConflict)
	}
	if !spec.Subnet.IsValid() {
		return "", fmt.Errorf("creating network %q: no subnet", spec.Name)
	}
	if spec.Gateway.IsValid() && !spec.Subnet.Contains(spec.Gateway) {
		return "", fmt.Errorf("creating network %q: gateway %s outside subnet %s", spec.Name, spec.Gateway, spec.Subnet)
	}
	for _, n := range e.networks {
		if n.Subnet.Overlaps(spec.Subnet) {
			return "", fmt.Errorf("creating network %q: subnet %s overlaps with network %q: %w", spec.Name, spec.Subnet, n.Name, runtime.ErrConflict)
		}
	}
	gw := spec.Gateway
	if !gw.IsValid() {
		gw = spec.Subnet.Masked().Addr().Next()
	}
	id := e.newID()
	e.networks[id] = &network{
		Network: runtime.Network{ID: id, Name: spec.Name, Subnet: spec.Subnet.Masked(), Gateway: gw, Labels: maps.Clone(spec.Labels)},
		stale:   map[string]netip.Addr{},
	}
	return id, nil
}

// RemoveNetwork removes a network with no active endpoints.
func (e *Engine) RemoveNetwork(ctx context.Context, nameOrID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("RemoveNetwork", nameOrID); err != nil {
		return err
	}
	n, err := e.findNetwork(nameOrID)
	if err != nil {
		return fmt.Errorf("removing network: %w", err)
	}
	if v := e.netView(n); len(v.Containers) > 0 {
		return fmt.Errorf("removing network %q: network has active endpoints: %w", n.Name, runtime.ErrInUse)
	}
	// Stopped containers keep their configuration, which now names a network
	// that is gone; starting them fails, as in Docker.
	delete(e.networks, n.ID)
	return nil
}

// addrInUse reports whether ip is held on network n by a running container
// other than except.
func (e *Engine) addrInUse(n *network, ip netip.Addr, except string) bool {
	if ip == n.Gateway {
		return true
	}
	for id, a := range n.stale {
		if a == ip && id != except {
			return true
		}
	}
	for _, c := range e.containers {
		if ep, ok := c.endpoints[n.ID]; ok && c.id != except && c.state == runtime.StateRunning && ep.IP == ip {
			return true
		}
	}
	return false
}

// allocate picks the first free address of n for a container without a
// static one.
func (e *Engine) allocate(n *network, c *ctr) netip.Addr {
	for a := n.Subnet.Addr().Next(); n.Subnet.Contains(a); a = a.Next() {
		if !e.addrInUse(n, a, c.id) && !e.reserved(n, a, c.id) {
			return a
		}
	}
	return netip.Addr{}
}

// reserved reports whether any container is configured with ip on n.
func (e *Engine) reserved(n *network, ip netip.Addr, except string) bool {
	for _, c := range e.containers {
		if ep, ok := c.endpoints[n.ID]; ok && c.id != except && ep.IP == ip {
			return true
		}
	}
	return false
}

func (e *Engine) attach(c *ctr, ep runtime.Endpoint) error {
	n, err := e.findNetwork(ep.Network)
	if err != nil {
		return err
	}
	if _, ok := c.endpoints[n.ID]; ok {
		return fmt.Errorf("endpoint %q already exists in network %q: %w", c.spec.Name, n.Name, runtime.ErrConflict)
	}
	if ep.IP.IsValid() {
		if !n.Subnet.Contains(ep.IP) {
			return fmt.Errorf("address %s is outside the subnet %s of network %q", ep.IP, n.Subnet, n.Name)
		}
		if c.state == runtime.StateRunning && e.addrInUse(n, ep.IP, c.id) {
			return fmt.Errorf("address %s on network %q: Address already in use: %w", ep.IP, n.Name, runtime.ErrConflict)
		}
	}
	if c.state == runtime.StateRunning && !ep.IP.IsValid() {
		ep.IP = e.allocate(n, c)
	}
	ep.Network = n.Name
	c.endpoints[n.ID] = ep
	return nil
}

// Connect attaches a container to a network.
func (e *Engine) Connect(ctx context.Context, container string, ep runtime.Endpoint) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Connect", container); err != nil {
		return err
	}
	c, err := e.findContainer(container)
	if err != nil {
		return fmt.Errorf("connecting to network %q: %w", ep.Network, err)
	}
	if err := e.attach(c, ep); err != nil {
		return fmt.Errorf("connecting %q to network %q: %w", container, ep.Network, err)
	}
	return nil
}

// Disconnect detaches a container, or a stale endpoint, from a network.
func (e *Engine) Disconnect(ctx context.Context, container, netw string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Disconnect", container); err != nil {
		return err
	}
	n, err := e.findNetwork(netw)
	if err != nil {
		return fmt.Errorf("disconnecting %q: %w", container, err)
	}
	if _, ok := n.stale[container]; ok {
		delete(n.stale, container)
		return nil
	}
	c, err := e.findContainer(container)
	if err != nil {
		return fmt.Errorf("disconnecting from network %q: %w", netw, err)
	}
	if _, ok := c.endpoints[n.ID]; !ok {
		return fmt.Errorf("container %q is not connected to network %q: %w", container, netw, runtime.ErrNotFound)
	}
	delete(c.endpoints, n.ID)
	return nil
}

func (e *Engine) view(c *ctr) runtime.Container {
	out := runtime.Container{
		ID:        c.id,
		Name:      c.spec.Name,
		Image:     c.spec.Image,
		ImageID:   c.imageID,
		Labels:    maps.Clone(c.spec.Labels),
		State:     c.state,
		ExitCode:  c.exit,
		StartedAt: c.started,
		Networks:  map[string]netip.Addr{},
		Ports:     slices.Clone(c.spec.Ports),
		Resources: c.spec.Resources,
		Env:       slices.Sorted(slices.Values(c.spec.Env)),
		Mounts:    slices.Clone(c.spec.Mounts),
		Cmd:       slices.Clone(c.spec.Cmd),
	}
	for id, ep := range c.endpoints {
		name := ep.Network
		if n, ok := e.networks[id]; ok {
			name = n.Name
		}
		out.Networks[name] = ep.IP
	}
	for i := range out.Ports {
		if out.Ports[i].Protocol == "" {
			out.Ports[i].Protocol = "tcp"
		}
	}
	slices.SortFunc(out.Ports, func(a, b runtime.Port) int {
		if a.ContainerPort != b.ContainerPort {
			return int(a.ContainerPort) - int(b.ContainerPort)
		}
		return strings.Compare(a.Protocol, b.Protocol)
	})
	return out
}

// ListContainers lists containers with all the given labels.
func (e *Engine) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("ListContainers", ""); err != nil {
		return nil, err
	}
	var out []runtime.Container
	for _, c := range e.containers {
		if matches(c.spec.Labels, labels) {
			out = append(out, e.view(c))
		}
	}
	slices.SortFunc(out, func(a, b runtime.Container) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// InspectContainer reports one container.
func (e *Engine) InspectContainer(ctx context.Context, nameOrID string) (runtime.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("InspectContainer", nameOrID); err != nil {
		return runtime.Container{}, err
	}
	c, err := e.findContainer(nameOrID)
	if err != nil {
		return runtime.Container{}, fmt.Errorf("inspecting container: %w", err)
	}
	return e.view(c), nil
}

// CreateContainer creates a container; its name must be free, its image
// present and its networks existing.
func (e *Engine) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("CreateContainer", spec.Name); err != nil {
		return "", err
	}
	if spec.Name != "" {
		if _, err := e.findContainer(spec.Name); err == nil {
			return "", fmt.Errorf("creating container %q: name %w", spec.Name, runtime.ErrConflict)
		}
	}
	imageID, ok := e.images[normalize(spec.Image)]
	if !ok && strings.HasPrefix(spec.Image, "sha256:") {
		for _, id := range e.images {
			if id == spec.Image {
				imageID, ok = id, true
			}
		}
	}
	if !ok {
		return "", fmt.Errorf("creating container %q: image %q: %w", spec.Name, spec.Image, runtime.ErrNotFound)
	}
	for _, p := range spec.Ports {
		if !p.HostIP.IsValid() {
			return "", fmt.Errorf("creating container %q: port %d: no host address to publish on", spec.Name, p.ContainerPort)
		}
	}
	c := &ctr{id: e.newID(), imageID: imageID, state: runtime.StateCreated, endpoints: map[string]runtime.Endpoint{}}
	c.spec = spec
	c.spec.Labels = maps.Clone(spec.Labels)
	c.spec.Networks = nil
	for _, ep := range spec.Networks {
		if err := e.attach(c, ep); err != nil {
			return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
		}
	}
	if c.spec.Name == "" {
		c.spec.Name = c.id[:12]
	}
	e.containers[c.id] = c
	return c.id, nil
}

// StartContainer starts a container: its networks must still exist and its
// static addresses be free.
func (e *Engine) StartContainer(ctx context.Context, nameOrID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("StartContainer", nameOrID); err != nil {
		return err
	}
	c, err := e.findContainer(nameOrID)
	if err != nil {
		return fmt.Errorf("starting container: %w", err)
	}
	if c.state == runtime.StateRunning {
		return nil
	}
	for id, ep := range c.endpoints {
		n, ok := e.networks[id]
		if !ok {
			return fmt.Errorf("starting container %q: network %q: %w", c.spec.Name, ep.Network, runtime.ErrNotFound)
		}
		if ep.IP.IsValid() && e.addrInUse(n, ep.IP, c.id) {
			return fmt.Errorf("starting container %q: address %s on network %q: Address already in use: %w", c.spec.Name, ep.IP, n.Name, runtime.ErrConflict)
		}
	}
	for id, ep := range c.endpoints {
		if !ep.IP.IsValid() {
			ep.IP = e.allocate(e.networks[id], c)
			c.endpoints[id] = ep
		}
	}
	c.state, c.exit, c.started = runtime.StateRunning, 0, e.Now()
	p := parseProgram(c.spec.Entrypoint, c.spec.Cmd, c.spec.Env)
	if p.stdout != "" {
		c.logs = append(c.logs, logLine{text: p.stdout + "\n"})
	}
	if p.stderr != "" {
		c.logs = append(c.logs, logLine{stderr: true, text: p.stderr + "\n"})
	}
	if p.exit != nil && p.exitAfter == 0 {
		c.state, c.exit = runtime.StateExited, *p.exit
	}
	return nil
}

// StopContainer stops a running container.
func (e *Engine) StopContainer(ctx context.Context, nameOrID string, timeout time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("StopContainer", nameOrID); err != nil {
		return err
	}
	c, err := e.findContainer(nameOrID)
	if err != nil {
		return fmt.Errorf("stopping container: %w", err)
	}
	if c.state == runtime.StateRunning {
		// The fixture does not catch SIGTERM, so it dies of it.
		c.state, c.exit = runtime.StateExited, 143
	}
	return nil
}

// RemoveContainer removes a container, running or not.
func (e *Engine) RemoveContainer(ctx context.Context, nameOrID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("RemoveContainer", nameOrID); err != nil {
		return err
	}
	c, err := e.findContainer(nameOrID)
	if err != nil {
		return fmt.Errorf("removing container: %w", err)
	}
	delete(e.containers, c.id)
	return nil
}

// InspectImage reports an image by reference or ID.
func (e *Engine) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("InspectImage", ref); err != nil {
		return runtime.Image{}, err
	}
	id, ok := e.images[normalize(ref)]
	if !ok {
		for _, have := range e.images {
			if have == ref {
				id, ok = have, true
			}
		}
	}
	if !ok {
		return runtime.Image{}, fmt.Errorf("inspecting image %q: %w", ref, runtime.ErrNotFound)
	}
	img := runtime.Image{ID: id}
	for r, have := range e.images {
		if have == id && !strings.HasPrefix(r, "sha256:") {
			img.RepoTags = append(img.RepoTags, r)
		}
	}
	slices.Sort(img.RepoTags)
	return img, nil
}

// RemoveImage removes a reference unless a container uses the image it is
// the last reference of.
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("RemoveImage", ref); err != nil {
		return err
	}
	key := normalize(ref)
	id, ok := e.images[key]
	if !ok {
		return fmt.Errorf("removing image %q: %w", ref, runtime.ErrNotFound)
	}
	refs := 0
	for _, have := range e.images {
		if have == id {
			refs++
		}
	}
	if refs == 1 {
		for _, c := range e.containers {
			if c.imageID == id {
				return fmt.Errorf("removing image %q: used by container %q: %w", ref, c.spec.Name, runtime.ErrConflict)
			}
		}
	}
	delete(e.images, key)
	return nil
}

// PullImage pulls ref for real, from a registry on this machine in tests,
// and records its config digest as the image ID.
func (e *Engine) PullImage(ctx context.Context, ref string, progress func(runtime.ProgressEvent)) error {
	e.mu.Lock()
	err := e.enter("PullImage", ref)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("pulling image %q: %w", ref, err)
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		if strings.Contains(err.Error(), "MANIFEST_UNKNOWN") || strings.Contains(err.Error(), "NAME_UNKNOWN") {
			return fmt.Errorf("pulling image %q: %w: %v", ref, runtime.ErrNotFound, err)
		}
		return fmt.Errorf("pulling image %q: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("pulling image %q: %w", ref, err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("pulling image %q: %w", ref, err)
		}
		size, _ := l.Size()
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("pulling image %q: %w", ref, err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("pulling image %q: %w", ref, err)
		}
		if progress != nil {
			progress(runtime.ProgressEvent{ID: d.Hex[:12], Status: "Downloading", Current: n, Total: size})
			progress(runtime.ProgressEvent{ID: d.Hex[:12], Status: "Pull complete"})
		}
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("pulling image %q: %w", ref, err)
	}
	e.mu.Lock()
	e.images[normalize(ref)] = cfg.String()
	e.mu.Unlock()
	return nil
}

// LoadImage reads a docker-load tarball's manifest and records its images.
func (e *Engine) LoadImage(ctx context.Context, tarball io.Reader) ([]string, error) {
	e.mu.Lock()
	err := e.enter("LoadImage", "")
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var manifest []struct {
		Config   string
		RepoTags []string
	}
	tr := tar.NewReader(tarball)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("loading image: %w", err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				return nil, fmt.Errorf("loading image: reading manifest: %w", err)
			}
		}
	}
	if manifest == nil {
		return nil, errors.New("loading image: no manifest.json in the tarball")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var refs []string
	for _, m := range manifest {
		// Docker names an image by its config digest; the tarball names
		// the config blob after it.
		hexd := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m.Config, "blobs/sha256/"), "sha256:"), ".json")
		id := "sha256:" + hexd
		for _, t := range m.RepoTags {
			e.images[normalize(t)] = id
			refs = append(refs, t)
		}
		if len(m.RepoTags) == 0 {
			e.images[id] = id
			refs = append(refs, id)
		}
	}
	return refs, nil
}

// program is what the fake understands of the fixture's flags.
type program struct {
	stdout, stderr string
	exit           *int
	exitAfter      time.Duration
	cat            bool
	stat           string
}

func parseProgram(entrypoint, cmd, env []string) program {
	var p program
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "FIXTURE_STDOUT":
			p.stdout = v
		case "FIXTURE_STDERR":
			p.stderr = v
		case "FIXTURE_EXIT":
			if n, err := strconv.Atoi(v); err == nil {
				p.exit = &n
			}
		case "FIXTURE_EXIT_AFTER":
			p.exitAfter, _ = time.ParseDuration(v)
		}
	}
	args := append(slices.Clone(entrypoint), cmd...)
	for i := 0; i < len(args); i++ {
		flag, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		next := func() string {
			if hasVal {
				return val
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch flag {
		case "stdout":
			p.stdout = next()
		case "stderr":
			p.stderr = next()
		case "exit":
			if n, err := strconv.Atoi(next()); err == nil {
				p.exit = &n
			}
		case "exit-after":
			p.exitAfter, _ = time.ParseDuration(next())
		case "cat":
			p.cat = true
		case "stat":
			p.stat = next()
		}
	}
	return p
}

// Exec emulates the fixture program run as cmd.
func (e *Engine) Exec(ctx context.Context, container string, opts runtime.ExecOptions) (int, error) {
	e.mu.Lock()
	if err := e.enter("Exec", container); err != nil {
		e.mu.Unlock()
		return -1, err
	}
	c, err := e.findContainer(container)
	if err == nil && c.state != runtime.StateRunning {
		err = fmt.Errorf("container %q is not running: %w", container, runtime.ErrConflict)
	}
	e.mu.Unlock()
	if err != nil {
		return -1, fmt.Errorf("creating exec: %w", err)
	}
	p := parseProgram(nil, opts.Cmd, opts.Env)
	if p.stat != "" {
		// The fake's container file system is its mounts and devices.
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, m := range c.spec.Mounts {
			if m.Target == p.stat {
				return 0, nil
			}
		}
		for _, d := range c.spec.Devices {
			if d.Container == p.stat || (d.Container == "" && d.Host == p.stat) {
				return 0, nil
			}
		}
		return 1, nil
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if opts.TTY {
		// A terminal has one stream.
		stderr = stdout
	}
	if p.cat {
		if opts.Stdin != nil {
			if _, err := io.Copy(stdout, opts.Stdin); err != nil {
				return -1, err
			}
		}
		return 0, nil
	}
	nl := "\n"
	if opts.TTY {
		nl = "\r\n"
	}
	if p.stdout != "" {
		io.WriteString(stdout, p.stdout+nl)
	}
	if p.stderr != "" {
		io.WriteString(stderr, p.stderr+nl)
	}
	if p.exit != nil {
		return *p.exit, nil
	}
	return 0, nil
}

// Logs writes what the container's program printed.
func (e *Engine) Logs(ctx context.Context, container string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	e.mu.Lock()
	if err := e.enter("Logs", container); err != nil {
		e.mu.Unlock()
		return err
	}
	c, err := e.findContainer(container)
	var lines []logLine
	if err == nil {
		lines = slices.Clone(c.logs)
	}
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("reading logs: %w", err)
	}
	if opts.Tail >= 0 && opts.Tail < len(lines) {
		lines = lines[len(lines)-opts.Tail:]
	}
	for _, l := range lines {
		w := stdout
		if l.stderr {
			w = stderr
		}
		io.WriteString(w, l.text)
	}
	if opts.Follow {
		<-ctx.Done()
	}
	return nil
}

// Close does nothing.
func (e *Engine) Close() error { return nil }

// Stats reports a running container's use as a steady fake load: one
// CPU-second per second since it started, the memory limit's half (64 MiB
// without one) and one process; an error for a container that does not run.
func (e *Engine) Stats(ctx context.Context, nameOrID string) (runtime.Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter("Stats", nameOrID); err != nil {
		return runtime.Stats{}, err
	}
	c, err := e.findContainer(nameOrID)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("reading stats: %w", err)
	}
	if c.state != runtime.StateRunning {
		return runtime.Stats{}, fmt.Errorf("reading stats of %q: %w", nameOrID, runtime.ErrNotRunning)
	}
	mem := uint64(64 << 20)
	if l := c.spec.Resources.MemoryBytes; l > 0 {
		mem = uint64(l) / 2
	}
	return runtime.Stats{CPUSeconds: time.Since(c.started).Seconds(), MemoryBytes: mem, PIDs: 1}, nil
}

// Probe is a health probe (health.ProbeFunc) for the fake's containers,
// which run no program: a check passes while a container the engine runs
// has addr, and fails with "connection refused" otherwise, so health
// follows the engine's state.
func (e *Engine) Probe(ctx context.Context, addr netip.Addr, _ *desired.Health) error {
	cs, err := e.ListContainers(ctx, nil)
	if err != nil {
		return err
	}
	for _, c := range cs {
		for _, a := range c.Networks {
			if a == addr && c.State == runtime.StateRunning {
				return nil
			}
		}
	}
	return errors.New("connection refused")
}

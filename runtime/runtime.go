// Package runtime is berth's narrow view of a container engine: the specs
// berth asks an engine to realise, what it observes back, and the labels by
// which it recognises what it owns.
//
// Implementations live in sub-packages (runtime/docker, runtime/fake); every
// implementation passes the conformance suite in runtime/runtimetest.
package runtime

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Labels berth puts on every object it creates. Owned objects are found by
// these labels only, never by name.
const (
	LabelProject    = "io.berth.project"
	LabelKit        = "io.berth.kit"
	LabelService    = "io.berth.service"
	LabelConfigHash = "io.berth.config-hash"
	LabelGeneration = "io.berth.generation"
)

// Errors a caller must tell apart.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("already exists")
	ErrUnreachable = errors.New("engine unreachable")
	// ErrInUse reports an object that cannot be removed while others use
	// it, such as a network that still has endpoints.
	ErrInUse = errors.New("in use")
)

// NetworkSpec is a private bridge network for one kit.
type NetworkSpec struct {
	Name    string
	Subnet  netip.Prefix
	Gateway netip.Addr // the kit's host address
	Labels  map[string]string
}

// Network is a network as the engine reports it.
type Network struct {
	ID      string
	Name    string
	Subnet  netip.Prefix
	Gateway netip.Addr
	Labels  map[string]string
	// Containers maps attached container IDs to their address on this network.
	Containers map[string]netip.Addr
	// Bridge is the host's interface for the network (Docker's br-<id>,
	// Podman's podmanN, nspawn's own name); empty when the engine cannot
	// say. Checks of the host's firewall and forwarding look it up here.
	Bridge string
}

// Endpoint attaches a container to a network at a fixed address.
type Endpoint struct {
	Network string // network name
	IP      netip.Addr
	Aliases []string
}

// Port publishes a container port on the host. A zero HostIP means no
// publication is wanted on a specific address and is invalid: berth always
// names the host address (127.0.0.1 by default).
type Port struct {
	HostIP        netip.Addr
	HostPort      uint16
	ContainerPort uint16
	Protocol      string // "tcp" or "udp"
}

// Mount is a bind mount of a host path.
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
}

// Device is a host device node made available in the container.
type Device struct {
	Host        string
	Container   string
	Permissions string // "rwm"
}

// GPURequest asks the engine to inject GPUs through its device-request
// mechanism (the nvidia driver hook or CDI).
type GPURequest struct {
	Driver       string   // "nvidia" or "cdi"
	Count        int      // -1 means all
	DeviceIDs    []string // UUIDs, or CDI names when Driver is "cdi"
	Capabilities []string // e.g. gpu, compute, utility
}

// Resources limits a container. Zero means unlimited.
type Resources struct {
	MemoryBytes int64
	NanoCPUs    int64
	ShmBytes    int64
	PidsLimit   int64
}

// Ulimit is one resource limit for the container's processes.
type Ulimit struct {
	Name string
	Soft int64
	Hard int64
}

// Healthcheck is the engine-side health check, used when an image carries the
// tools for it. berth's own readiness checks run from the host.
type Healthcheck struct {
	Test        []string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// ContainerSpec is everything berth asks an engine to create. Two specs that
// are equal produce equivalent containers.
type ContainerSpec struct {
	Name              string
	Image             string
	Hostname          string
	Entrypoint        []string
	Cmd               []string
	Env               []string // KEY=VALUE, sorted
	User              string
	WorkingDir        string
	Labels            map[string]string
	Networks          []Endpoint // the first is the primary network
	Ports             []Port
	Mounts            []Mount
	Devices           []Device
	DeviceCgroupRules []string
	GroupAdd          []string
	GPUs              []GPURequest
	Resources         Resources
	Ulimits           []Ulimit
	Restart           string // no | always | unless-stopped | on-failure
	Healthcheck       *Healthcheck
	StopTimeout       time.Duration
	Init              bool
}

// State of a container as the engine reports it.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateExited     = "exited"
	StateDead       = "dead"
)

// Container is a container as the engine reports it.
type Container struct {
	ID        string
	Name      string
	Image     string // the reference it was created from
	ImageID   string // the image's content ID when created
	Labels    map[string]string
	State     string
	Health    string // "", starting, healthy, unhealthy
	ExitCode  int
	StartedAt time.Time
	// RestartCount is how often the engine restarted the container under
	// its restart policy since it was created (0 where the engine does
	// not count).
	RestartCount int
	Networks     map[string]netip.Addr // network name → address
	Ports        []Port
	Resources    Resources
	// Env, Mounts and Cmd are reported so that a plan can say what changed
	// when the config hash differs.
	Env    []string
	Mounts []Mount
	Cmd    []string
	TTY    bool
}

// Image is an image present in the engine.
type Image struct {
	ID       string
	RepoTags []string
	Size     int64
}

// Info describes the engine.
type Info struct {
	Name          string // docker, podman, fake
	Version       string
	APIVersion    string
	CDIEnabled    bool
	NvidiaRuntime bool
	// GPUDrivers are the GPURequest drivers the engine accepts: "nvidia"
	// (a device driver that runs the NVIDIA toolkit's hook, as Docker's
	// built-in one does) and "cdi" (device names resolved from CDI specs
	// when the container is created). GPU code asks this, never Name.
	GPUDrivers []string
}

// Accepts reports whether the engine takes GPU requests of driver.
func (i Info) Accepts(driver string) bool { return slices.Contains(i.GPUDrivers, driver) }

// ProgressEvent reports progress of a long engine operation (a pull).
type ProgressEvent struct {
	ID      string // layer or item
	Status  string
	Current int64
	Total   int64
}

// ExecOptions runs a command in a running container.
type ExecOptions struct {
	Cmd    []string
	Env    []string
	User   string
	TTY    bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Resize, when set, delivers terminal size changes (rows, cols).
	Resize <-chan [2]uint
}

// LogOptions selects a container's logs.
type LogOptions struct {
	Follow     bool
	Since      time.Time
	Tail       int // -1 for all
	Timestamps bool
}

// Engine is what berth needs from a container engine, and nothing more.
type Engine interface {
	Info(ctx context.Context) (Info, error)

	ListNetworks(ctx context.Context, labels map[string]string) ([]Network, error)
	CreateNetwork(ctx context.Context, spec NetworkSpec) (id string, err error)
	RemoveNetwork(ctx context.Context, nameOrID string) error
	Connect(ctx context.Context, container string, ep Endpoint) error
	Disconnect(ctx context.Context, container, network string) error

	ListContainers(ctx context.Context, labels map[string]string) ([]Container, error)
	InspectContainer(ctx context.Context, nameOrID string) (Container, error)
	CreateContainer(ctx context.Context, spec ContainerSpec) (id string, err error)
	StartContainer(ctx context.Context, nameOrID string) error
	StopContainer(ctx context.Context, nameOrID string, timeout time.Duration) error
	RemoveContainer(ctx context.Context, nameOrID string) error // forced; never removes volumes

	InspectImage(ctx context.Context, ref string) (Image, error)
	PullImage(ctx context.Context, ref string, progress func(ProgressEvent)) error
	LoadImage(ctx context.Context, tarball io.Reader) ([]string, error)
	// RemoveImage removes a reference; the image goes with its last one.
	// An image that containers use is not removed (ErrConflict).
	RemoveImage(ctx context.Context, ref string) error

	Exec(ctx context.Context, container string, opts ExecOptions) (exitCode int, err error)
	Logs(ctx context.Context, container string, opts LogOptions, stdout, stderr io.Writer) error

	Close() error
}

// Stats is a running container's use of the machine at one moment.
type Stats struct {
	// CPUSeconds is the CPU time its processes used since it started,
	// summed over cores.
	CPUSeconds float64 `json:"cpuSeconds"`
	// MemoryBytes is the memory in use, without the page cache the kernel
	// can reclaim (what `docker stats` shows, and what the OOM killer
	// weighs against a limit).
	MemoryBytes uint64 `json:"memoryBytes"`
	// PIDs is the number of processes and threads.
	PIDs uint64 `json:"pids"`
}

// StatsReader is the capability of an engine that reports the resource use
// of its running containers. A container that is not running answers an
// error wrapping ErrNotFound or ErrNotRunning.
type StatsReader interface {
	Stats(ctx context.Context, nameOrID string) (Stats, error)
}

// ErrNotRunning says that a container exists but does not run.
var ErrNotRunning = errors.New("container is not running")

// HostPIDer is the capability of an engine whose containers run on this
// machine: it reports the host PID of a running container's first
// process, through which berth reaches the container's namespaces (to
// bring its toolbox into an image that has no shell). An engine across a
// network does not implement it, or answers ErrNoHostPID.
type HostPIDer interface {
	HostPID(ctx context.Context, nameOrID string) (int, error)
}

// ErrNoHostPID says that the engine's containers do not run on this
// machine, so their processes cannot be reached from here.
var ErrNoHostPID = errors.New("the engine's containers do not run on this machine")

// EnvValue is the value of key in a KEY=VALUE list, "" when it is not set.
func EnvValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

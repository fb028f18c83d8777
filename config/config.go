// Package config loads berth.yaml: typed options with their file positions,
// Nix-style dotted keys, ${VAR} interpolation, the option registry behind
// `berth options` and `berth schema`, and validation that reports every
// problem at once.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/voidnxlabs/berth/kits"
)

// DefaultFile is the config file name looked up in the working directory.
const DefaultFile = "berth.yaml"

// Config is a loaded, validated berth.yaml.
type Config struct {
	File    string
	Project string
	// ContainerPrefix starts every container name (containerPrefix).
	ContainerPrefix string
	Runtime         string
	PublishAddress  netip.Addr
	// PublishAddressPos is where publishAddress was set; zero for the
	// default.
	PublishAddressPos Pos
	// PublishExposed acknowledges that ports published on an address
	// other than loopback are reachable from other machines.
	PublishExposed bool
	// VolumesPath holds the named volumes, one directory per project and
	// volume: <VolumesPath>/<Project>/<name>.
	VolumesPath string
	Kits        []*Kit // sorted by name
	Stacks      []*Stack
	// Images holds the raw image recipes; the image package decodes them.
	Images *yaml.Node
}

// Kit is one kit of services on its own network.
type Kit struct {
	Name    string
	Pos     Pos
	Builtin *kits.Kit // nil for a kit of the user's
	Enable  bool
	Subnet  netip.Prefix
	Host    netip.Addr
	// SubnetPos is where the subnet was set; zero for a catalog default.
	SubnetPos Pos
	// Services holds every service of the kit: catalog services (enabled or
	// not) and the user's own, sorted by name.
	Services []*Service
}

// Service is one service's options with defaults applied.
type Service struct {
	Kit       string
	Name      string
	Container string
	Pos       Pos
	Catalog   *kits.Service // nil for a service of the user's
	InFile    bool          // the service appears in the config file

	Enable   bool
	Image    string
	Ports    []PortOpt // the main port first
	IP       netip.Addr
	Hostname string
	Env      map[string]string
	// EnvFiles are the envFile paths, resolved; their values are already
	// merged into Env beneath the ones env sets.
	EnvFiles   []string
	Command    []string
	Entrypoint []string
	User       string
	Workdir    string
	Paths      []PathOpt // catalog data paths
	Mounts     []Mount
	GPU        *GPU
	Resources  Resources
	Health     *Health
	DependsOn  []Dep
	Publish    []Publish
	// PublishExposed acknowledges, for this service, publishing on an
	// address other than loopback.
	PublishExposed bool
	Restart        string
	Connect        []string
	Labels         map[string]string

	// pos records where each option was set, for later checks.
	pos map[string]Pos
	// explicitEnv holds the keys env set, which envFile values never override.
	explicitEnv map[string]bool
}

// PosOf returns where option (relative to the service, e.g. "port") was set.
func (s *Service) PosOf(option string) Pos {
	if p, ok := s.pos[option]; ok {
		return p
	}
	return s.Pos
}

// Path returns the service's option path prefix, e.g. ml.ollama.
func (s *Service) Path() string { return s.Kit + "." + s.Name }

// PortOpt is one listening port and the option that set it.
type PortOpt struct {
	Option   string
	Port     uint16
	Protocol string
}

// PathOpt is one catalog data path.
type PathOpt struct {
	Option string
	Host   string
	Target string
	UID    int
	GID    int
}

// Mount is a user bind mount. A named volume has Volume set and Source
// resolved to its directory under the config's VolumesPath.
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
	Volume   string
}

// GPU is a GPU request.
type GPU struct {
	None         bool // gpu: none turns off the catalog's default request
	All          bool
	Count        int
	IDs          []string
	Vendor       string
	Capabilities []string
	Mode         string
	Optional     bool
}

// Resources are limits; zero is unlimited.
type Resources struct {
	MemoryBytes int64
	CPUs        float64
	ShmBytes    int64
	Pids        int64
}

// Health is a readiness check: http and tcp run from the host, exec runs
// Command inside the container.
type Health struct {
	Kind string // http | tcp | exec | none
	Path string
	// Command is the exec check's argv; Shell says it came from a string
	// and runs as /bin/sh -c Command[0].
	Command     []string
	Shell       bool
	Retries     int
	Port        uint16
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
}

// Dep is one dependsOn entry.
type Dep struct {
	Kit, Service string
	Condition    string // started | healthy
	Pos          Pos
}

// Publish publishes a container port on a host address.
type Publish struct {
	HostIP        netip.Addr
	HostPort      uint16
	ContainerPort uint16
	Pos           Pos
}

// Stack is a named selection of services.
type Stack struct {
	Name    string
	Pos     Pos
	Members []Ref
}

// Ref names a service as kit/service.
type Ref struct {
	Kit, Service string
	Pos          Pos
}

func (r Ref) String() string { return r.Kit + "/" + r.Service }

// Kit returns the kit called name, or nil.
func (c *Config) Kit(name string) *Kit {
	for _, k := range c.Kits {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// Service returns kit/name, or nil.
func (c *Config) Service(kit, name string) *Service {
	k := c.Kit(kit)
	if k == nil {
		return nil
	}
	for _, s := range k.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Enabled returns every enabled service of every enabled kit, sorted by
// container name.
func (c *Config) Enabled() []*Service {
	var out []*Service
	for _, k := range c.Kits {
		if !k.Enable {
			continue
		}
		for _, s := range k.Services {
			if s.Enable {
				out = append(out, s)
			}
		}
	}
	sortServices(out)
	return out
}

// Stack returns the stack called name, or nil.
func (c *Config) Stack(name string) *Stack {
	for _, s := range c.Stacks {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// LoadOptions say where the config comes from.
type LoadOptions struct {
	// File is the path given with -f; empty means the search of Find.
	File   string
	Getenv func(string) string
	// Dir is where the search for berth.yaml starts; empty means the
	// working directory.
	Dir string
	// Root says whether berth runs as root, which picks the system-wide
	// file; nil means os.Geteuid() == 0.
	Root *bool
}

// ErrNoConfig is returned when no config file exists where one is looked for.
var ErrNoConfig = errors.New("no config file")

// SystemFile is the system-wide config berth falls back to: as root
// /etc/berth/berth.yaml, otherwise $XDG_CONFIG_HOME/berth/berth.yaml (with
// $XDG_CONFIG_HOME defaulting to ~/.config, as the XDG base directory
// specification says). It returns "" when no home directory is known.
func SystemFile(getenv func(string) string, root bool) string {
	if root {
		return "/etc/berth/" + DefaultFile
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "berth", DefaultFile)
}

// Find returns the config file to read, looked for as Compose looks for
// compose.yaml: -f (opts.File), then $BERTH_CONFIG, then berth.yaml in the
// directory or its nearest parent that has one, then SystemFile. A file
// found in the working directory is returned as "berth.yaml", one found
// elsewhere by an absolute path. When none exists, Find returns the
// places it looked and an error wrapping ErrNoConfig.
func Find(opts LoadOptions) (string, error) {
	if opts.File != "" {
		return opts.File, nil
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if f := getenv("BERTH_CONFIG"); f != "" {
		return f, nil
	}
	dir := opts.Dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return DefaultFile, fmt.Errorf("finding %s: %w", DefaultFile, err)
		}
		dir = wd
	}
	start := dir
	for {
		p := filepath.Join(dir, DefaultFile)
		if _, err := os.Stat(p); err == nil {
			if dir == start && opts.Dir == "" {
				return DefaultFile, nil
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	root := os.Geteuid() == 0
	if opts.Root != nil {
		root = *opts.Root
	}
	looked := DefaultFile + " in " + start + " and its parents"
	if sys := SystemFile(getenv, root); sys != "" {
		if _, err := os.Stat(sys); err == nil {
			return sys, nil
		}
		looked += ", " + sys
	}
	return DefaultFile, fmt.Errorf("%w: no -f, no $BERTH_CONFIG, no %s", ErrNoConfig, looked)
}

// Resolve returns the config file path Load would read: the one Find
// finds, or berth.yaml in the working directory when there is none (where
// init writes).
func Resolve(opts LoadOptions) string {
	p, _ := Find(opts)
	return p
}

// InitFile returns where `berth init` writes: -f, else $BERTH_CONFIG, else
// berth.yaml in the working directory. It does not search parents, so
// init never overwrites a file above the working directory.
func InitFile(opts LoadOptions) string {
	if opts.File != "" {
		return opts.File
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if f := getenv("BERTH_CONFIG"); f != "" {
		return f
	}
	if opts.Dir != "" {
		return filepath.Join(opts.Dir, DefaultFile)
	}
	return DefaultFile
}

// Load reads, decodes and validates the config file. A config problem is
// returned as Errors, holding every problem found.
func Load(opts LoadOptions) (*Config, error) {
	file, err := Find(opts)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", file, ErrNoConfig)
		}
		return nil, fmt.Errorf("reading config: %w", err)
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	// A .env file next to berth.yaml fills in variables the environment
	// does not set, as Compose's does: the shell wins over the file.
	dotenvFile := filepath.Join(filepath.Dir(file), DotEnvFile)
	if dotenv, err := os.ReadFile(dotenvFile); err == nil {
		vars, perr := ParseDotEnv(dotenvFile, dotenv)
		if perr != nil {
			return nil, perr
		}
		shell := getenv
		getenv = func(k string) string {
			if v := shell(k); v != "" {
				return v
			}
			return vars[k]
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", dotenvFile, err)
	}
	project := ""
	if abs, err := filepath.Abs(file); err == nil {
		project = filepath.Base(filepath.Dir(abs))
	}
	return Parse(file, data, ParseOptions{Getenv: getenv, DefaultProject: project})
}

// DotEnvFile is the file next to berth.yaml whose KEY=VALUE lines fill in
// ${VAR} interpolation for variables the environment does not set.
const DotEnvFile = ".env"

// ParseOptions tune Parse.
type ParseOptions struct {
	Getenv         func(string) string
	DefaultProject string
	// Dir is where relative envFile paths start; the config file's
	// directory when empty.
	Dir string
}

// Parse decodes and validates config data read from file (used in messages).
func Parse(file string, data []byte, opts ParseOptions) (*Config, error) {
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	c := &errs{}
	root := parse(file, data, opts.Getenv, c)
	if root == nil {
		return nil, c.err()
	}
	dir := opts.Dir
	if dir == "" {
		dir = filepath.Dir(file)
	}
	d := &decoder{file: file, dir: dir, errs: c}
	cfg := d.config(root, opts.DefaultProject)
	validate(cfg, c)
	if err := c.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Package desired compiles a validated berth.yaml into the state the engine
// should be in: one network per kit and one container spec per enabled
// service, each with a content hash that changes only when a recreate is needed.
package desired

import (
	"net/netip"
	"time"

	"github.com/voidnxlabs/berth/runtime"
)

// State is the whole desired state of a project.
type State struct {
	Project    string
	Networks   []Network   // sorted by name
	Containers []Container // sorted by name
}

// Network is one kit's private network.
type Network struct {
	Kit  string
	Spec runtime.NetworkSpec
	// Hash covers what forces the network to be recreated (subnet, gateway).
	Hash string
}

// Condition says what a dependency must reach before a dependent starts.
type Condition string

const (
	ConditionStarted Condition = "started"
	ConditionHealthy Condition = "healthy"
)

// Dependency is one dependsOn entry, resolved to a container name.
type Dependency struct {
	Name      string // container name
	Condition Condition
}

// DataPath is a host path the service keeps its data in. berth creates it
// when missing and never deletes it.
type DataPath struct {
	Option string // option path that set it, e.g. ml.ollama.modelsPath
	Host   string
	Target string
	UID    int
	GID    int
	Mode   uint32
}

// Health is a readiness check berth runs: http and tcp from the host
// against the container's private address, so images need no curl inside;
// exec runs Command inside the container through the engine.
type Health struct {
	Kind string // http, tcp, postgres or exec
	Port uint16
	Path string // http only
	// Container and Command are the exec check's container name and argv
	// (a shell line is already wrapped in /bin/sh -c).
	Container   string
	Command     []string
	Retries     int
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration // failures inside it read as "starting"
}

// GPU is the GPU request of a service as the config states it; the gpu
// package turns it into engine requests.
type GPU struct {
	All          bool
	Count        int
	IDs          []string // UUIDs or PCI addresses
	Vendor       string   // nvidia, amd, intel
	Capabilities []string
	Mode         string // auto, cdi, nvidia-runtime, devices
	Optional     bool
}

// Port is one port a service listens on.
type Port struct {
	Option   string // option that set it, e.g. httpPort
	Port     uint16
	Protocol string // tcp or udp; empty means tcp
}

// Container is one service's container.
type Container struct {
	Kit     string
	Service string
	Spec    runtime.ContainerSpec
	// Hash is the config hash: it covers every field of Spec that needs a
	// recreate to change, and is also stored in the io.berth.config-hash label.
	Hash    string
	Address netip.Addr // on the kit's own network
	Listen  []uint16   // ports the service listens on, the main one first
	// PortOptions are the same ports with the options that set them (httpPort),
	// which name them where a name is needed (a Kubernetes Service port).
	PortOptions []Port
	DependsOn   []Dependency
	DataPaths   []DataPath
	Health      *Health
	GPU         *GPU
	// Secrets names the generated secrets the container receives.
	Secrets []string
	// SecretRefs say how each of them reaches the container: as a mounted
	// file (File set; Env then holds the file's path) or in Env.
	SecretRefs []SecretRef `json:",omitempty"`
	// AliasPrefix is the shell-alias prefix, e.g. ml-ollama, dev-pg.
	AliasPrefix string
	// Backup is how `berth backup` takes a consistent copy of the data
	// paths: "" stops the service and copies its files, "pg_dumpall" dumps
	// the running server, "ollama" may save the models as names. It comes
	// from the catalog, so that backup never looks services up by name.
	Backup string `json:",omitempty"`
}

// SecretRef is how one generated secret reaches a container.
type SecretRef struct {
	Name string // state name, e.g. postgres-password
	// Env is the variable set in the container: the value itself, or
	// with File the path of the file (POSTGRES_PASSWORD_FILE).
	Env string
	// File is where the secret file is mounted in the container, read
	// only; empty when the value is in Env.
	File string `json:",omitempty"`
	// HostFile is the file berth mounts there, and UID/GID its owner.
	HostFile string `json:",omitempty"`
	UID, GID int    `json:",omitempty"`
}

// LabelSecrets carries a digest of the secret values a container receives,
// so that a rotated secret changes the config hash and recreates it even
// when only a mounted file holds the value. The digest is of 192-bit
// random values: it tells nothing about them.
const LabelSecrets = "io.berth.secrets"

// SecretTarget is the directory secret files are mounted in, as Docker
// and Podman mount their own secrets.
const SecretTarget = "/run/secrets"

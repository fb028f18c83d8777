// Package plantest builds desired states by hand for tests of plan and
// apply, standing in for the compile from berth.yaml.
package plantest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Kit is one kit of services on its own network.
type Kit struct {
	Name   string
	Subnet string // e.g. 10.214.1.0/24; the host address is .10
	// Prefix is put before container names, so that tests on a shared
	// engine do not collide.
	Prefix   string
	Services []Service
}

// Service is one container of a kit.
type Service struct {
	Name  string
	Image string
	IP    byte   // host number in the kit's subnet
	Port  uint16 // the fixture listens on it (FIXTURE_LISTEN) and health probes it
	// Publish, when set, publishes Port on 127.0.0.1 at this host port.
	Publish   uint16
	Health    bool
	DependsOn []desired.Dependency
	Data      []string // host paths, mounted under /data/<n>
	Connect   []string // other kits whose networks it joins, at host number IP+100
	Env       []string
	Cmd       []string
	Memory    int64
}

// Network is the name of kit's network in project.
func Network(project, kit string) string { return project + "-" + kit }

// Name is the container name of a service.
func Name(kit, service string) string { return kit + "-" + service }

// State builds the desired state of project from kits.
func State(project string, kits ...Kit) desired.State {
	st := desired.State{Project: project}
	subnets := map[string]netip.Prefix{}
	for _, k := range kits {
		p := netip.MustParsePrefix(k.Subnet)
		subnets[k.Name] = p
		spec := runtime.NetworkSpec{Name: Network(project, k.Name), Subnet: p, Gateway: host(p, 10), Labels: map[string]string{runtime.LabelProject: project, runtime.LabelKit: k.Name}}
		st.Networks = append(st.Networks, desired.Network{Kit: k.Name, Spec: spec, Hash: hash(spec.Subnet, spec.Gateway)})
	}
	for _, k := range kits {
		for _, s := range k.Services {
			st.Containers = append(st.Containers, container(project, k, s, subnets))
		}
	}
	slices.SortFunc(st.Networks, func(a, b desired.Network) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	slices.SortFunc(st.Containers, func(a, b desired.Container) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	return st
}

func host(p netip.Prefix, n byte) netip.Addr {
	a := p.Masked().Addr().As4()
	a[3] = n
	return netip.AddrFrom4(a)
}

func hash(v ...any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func container(project string, k Kit, s Service, subnets map[string]netip.Prefix) desired.Container {
	addr := host(subnets[k.Name], s.IP)
	image := s.Image
	if image == "" {
		image = "berth-test/app:latest"
	}
	env := slices.Clone(s.Env)
	if s.Port != 0 {
		env = append(env, fmt.Sprintf("FIXTURE_LISTEN=:%d", s.Port))
	}
	slices.Sort(env)
	spec := runtime.ContainerSpec{
		Name:     k.Prefix + Name(k.Name, s.Name),
		Image:    image,
		Hostname: s.Name,
		Cmd:      s.Cmd,
		Env:      env,
		Labels:   map[string]string{runtime.LabelProject: project, runtime.LabelKit: k.Name, runtime.LabelService: s.Name},
		Networks: []runtime.Endpoint{{Network: Network(project, k.Name), IP: addr, Aliases: []string{s.Name}}},
		Restart:  "unless-stopped",
		Resources: runtime.Resources{
			MemoryBytes: s.Memory,
		},
		StopTimeout: 2 * time.Second,
	}
	for _, other := range s.Connect {
		spec.Networks = append(spec.Networks, runtime.Endpoint{Network: Network(project, other), IP: host(subnets[other], s.IP+100)})
	}
	if s.Publish != 0 {
		spec.Ports = []runtime.Port{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: s.Publish, ContainerPort: s.Port, Protocol: "tcp"}}
	}
	dc := desired.Container{Kit: k.Name, Service: s.Name, Address: addr, DependsOn: s.DependsOn, AliasPrefix: spec.Name}
	for i, p := range s.Data {
		target := fmt.Sprintf("/data/%d", i)
		spec.Mounts = append(spec.Mounts, runtime.Mount{Source: p, Target: target})
		dc.DataPaths = append(dc.DataPaths, desired.DataPath{Option: fmt.Sprintf("%s.%s.data%d", k.Name, s.Name, i), Host: p, Target: target, UID: 1000, GID: 1000, Mode: 0o750})
	}
	if s.Health {
		dc.Health = &desired.Health{Kind: "http", Port: s.Port, Path: "/health", Interval: 100 * time.Millisecond, Timeout: time.Second}
	}
	dc.Spec = spec
	// The hash covers the spec without labels, as the real compile does.
	h := spec
	h.Labels = nil
	dc.Hash = hash(h)
	return dc
}

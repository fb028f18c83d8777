package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
)

// benchLabel marks every container the benchmark makes, whichever tool
// made it, so that a sweep finds what a crashed run left.
const benchLabel = "berth-bench.workload"

// Workload is N identical services on one bridge network with static
// addresses and nothing published: the same containers for every tool.
// Its name is the berth project and kit (so each workload has its own
// container and network names), the compose project, and the value of the
// bench label on its containers.
type Workload struct {
	Name   string
	N      int
	Subnet netip.Prefix
	Image  string
}

// Gateway is the host address on the network, .10 as berth's default.
func (w Workload) Gateway() netip.Addr { return nth(w.Subnet, 10) }

// Addr is the static address of service i (0-based): .11, .12, …
func (w Workload) Addr(i int) netip.Addr { return nth(w.Subnet, 11+i) }

// Service is the name of service i.
func (w Workload) Service(i int) string { return fmt.Sprintf("s%02d", i+1) }

// Container is the container name of service i, as berth names it.
func (w Workload) Container(i int) string { return w.Name + "-" + w.Service(i) }

// Network is the network's engine name, as berth names it.
func (w Workload) Network() string { return desired.NetworkName(w.Name, w.Name) }

func nth(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a)
}

// BerthYAML is the workload as a berth.yaml of custom services.
func (w Workload) BerthYAML() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "project: %s\n\n%s:\n  network: { subnet: %s }\n", w.Name, w.Name, w.Subnet)
	for i := range w.N {
		fmt.Fprintf(&b, "  %s: { image: %q, ip: %s, labels: { %s: %q } }\n", w.Service(i), w.Image, w.Addr(i), benchLabel, w.Name)
	}
	return []byte(b.String())
}

// Desired compiles the workload's berth.yaml.
func (w Workload) Desired() (*desired.State, error) {
	cfg, err := config.Parse("berth.yaml", w.BerthYAML(), config.ParseOptions{})
	if err != nil {
		return nil, fmt.Errorf("parsing the generated berth.yaml: %w", err)
	}
	return desired.Compile(cfg, desired.Options{})
}

// ComposeYAML renders compiled berth containers as a compose file for the
// compose project name, so that compose creates the same containers under
// the same names: hostname, image, environment, restart policy, stop
// timeout, network, address and aliases. Compose adds its own labels;
// berth's are left out but the bench label.
func ComposeYAML(st *desired.State, name string) ([]byte, error) {
	type netCfg struct {
		IPv4    string   `yaml:"ipv4_address"`
		Aliases []string `yaml:"aliases,omitempty"`
	}
	type service struct {
		Image         string            `yaml:"image"`
		ContainerName string            `yaml:"container_name"`
		Hostname      string            `yaml:"hostname,omitempty"`
		Restart       string            `yaml:"restart,omitempty"`
		StopGrace     string            `yaml:"stop_grace_period,omitempty"`
		Environment   []string          `yaml:"environment,omitempty"`
		Labels        map[string]string `yaml:"labels,omitempty"`
		Networks      map[string]netCfg `yaml:"networks"`
		PullPolicy    string            `yaml:"pull_policy"`
		Entrypoint    []string          `yaml:"entrypoint,omitempty"`
		Command       []string          `yaml:"command,omitempty"`
		User          string            `yaml:"user,omitempty"`
		WorkingDir    string            `yaml:"working_dir,omitempty"`
	}
	type ipam struct {
		Config []map[string]string `yaml:"config"`
	}
	type netw struct {
		Name   string `yaml:"name"`
		Driver string `yaml:"driver"`
		IPAM   ipam   `yaml:"ipam"`
	}
	type file struct {
		Name     string             `yaml:"name"`
		Networks map[string]netw    `yaml:"networks"`
		Services map[string]service `yaml:"services"`
	}
	f := file{Name: name, Networks: map[string]netw{}, Services: map[string]service{}}
	for _, n := range st.Networks {
		f.Networks[n.Kit] = netw{
			Name:   n.Spec.Name,
			Driver: "bridge",
			IPAM:   ipam{Config: []map[string]string{{"subnet": n.Spec.Subnet.String(), "gateway": n.Spec.Gateway.String()}}},
		}
	}
	for _, c := range st.Containers {
		s := c.Spec
		if len(s.Ports) > 0 || len(s.Mounts) > 0 || len(s.Devices) > 0 || len(s.GPUs) > 0 || s.Healthcheck != nil || s.Init {
			return nil, fmt.Errorf("container %s: the compose rendering covers plain services only", s.Name)
		}
		svc := service{
			Image:         s.Image,
			ContainerName: s.Name,
			Hostname:      s.Hostname,
			Restart:       s.Restart,
			Environment:   s.Env,
			Labels:        map[string]string{benchLabel: s.Labels[benchLabel]},
			Networks:      map[string]netCfg{},
			PullPolicy:    "never",
			Entrypoint:    s.Entrypoint,
			Command:       s.Cmd,
			User:          s.User,
			WorkingDir:    s.WorkingDir,
		}
		if s.StopTimeout > 0 {
			svc.StopGrace = s.StopTimeout.Round(time.Second).String()
		}
		for _, ep := range s.Networks {
			kit := strings.TrimPrefix(ep.Network, st.Project+"-")
			svc.Networks[kit] = netCfg{IPv4: ep.IP.String(), Aliases: ep.Aliases}
		}
		f.Services[c.Service] = svc
	}
	return yaml.Marshal(f)
}

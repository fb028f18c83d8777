package desired

import (
	"net/netip"
	"strconv"
)

// Only returns the part of the state that concerns the named containers:
// those containers and the networks they attach to. A nil set keeps all.
func (st *State) Only(names map[string]bool) *State {
	if names == nil {
		return st
	}
	out := &State{Project: st.Project}
	nets := map[string]bool{}
	for _, c := range st.Containers {
		if names[c.Spec.Name] {
			out.Containers = append(out.Containers, c)
			for _, ep := range c.Spec.Networks {
				nets[ep.Network] = true
			}
		}
	}
	for _, n := range st.Networks {
		if nets[n.Spec.Name] {
			out.Networks = append(out.Networks, n)
		}
	}
	return out
}

// Container returns the container called name, or nil.
func (st *State) Container(name string) *Container {
	for i := range st.Containers {
		if st.Containers[i].Spec.Name == name {
			return &st.Containers[i]
		}
	}
	return nil
}

// JSONState is the stable JSON form of a desired state (`berth plan
// --offline --json`). Fields are only ever added.
type JSONState struct {
	Project    string          `json:"project"`
	Networks   []JSONNetwork   `json:"networks"`
	Containers []JSONContainer `json:"containers"`
}

// JSONNetwork is one kit network.
type JSONNetwork struct {
	Name   string `json:"name"`
	Kit    string `json:"kit"`
	Subnet string `json:"subnet"`
	Host   string `json:"host"`
}

// JSONContainer is one container, without secret values.
type JSONContainer struct {
	Name      string            `json:"name"`
	Kit       string            `json:"kit"`
	Service   string            `json:"service"`
	Image     string            `json:"image"`
	Address   netip.Addr        `json:"address"`
	Ports     []uint16          `json:"ports"`
	Networks  map[string]string `json:"networks"`
	Published []string          `json:"published"`
	Mounts    []string          `json:"mounts"`
	GPU       string            `json:"gpu,omitempty"`
	DependsOn []string          `json:"dependsOn"`
	Secrets   []string          `json:"secrets"`
	Hash      string            `json:"configHash"`
}

// JSON returns the JSON form of the state.
func (st *State) JSON() JSONState {
	out := JSONState{Project: st.Project, Networks: []JSONNetwork{}, Containers: []JSONContainer{}}
	for _, n := range st.Networks {
		out.Networks = append(out.Networks, JSONNetwork{n.Spec.Name, n.Kit, n.Spec.Subnet.String(), n.Spec.Gateway.String()})
	}
	for _, c := range st.Containers {
		jc := JSONContainer{
			Name: c.Spec.Name, Kit: c.Kit, Service: c.Service, Image: c.Spec.Image, Address: c.Address,
			Ports: append([]uint16{}, c.Listen...), Networks: map[string]string{}, Published: []string{}, Mounts: []string{},
			DependsOn: []string{}, Secrets: append([]string{}, c.Secrets...), Hash: c.Hash,
		}
		for _, ep := range c.Spec.Networks {
			jc.Networks[ep.Network] = ep.IP.String()
		}
		for _, p := range c.Spec.Ports {
			jc.Published = append(jc.Published, netip.AddrPortFrom(p.HostIP, p.HostPort).String()+"->"+strconv.Itoa(int(p.ContainerPort)))
		}
		for _, m := range c.Spec.Mounts {
			s := m.Source + ":" + m.Target
			if m.ReadOnly {
				s += ":ro"
			}
			jc.Mounts = append(jc.Mounts, s)
		}
		if c.GPU != nil {
			jc.GPU = c.GPU.String()
		}
		for _, d := range c.DependsOn {
			jc.DependsOn = append(jc.DependsOn, d.Name)
		}
		out.Containers = append(out.Containers, jc)
	}
	return out
}

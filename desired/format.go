package desired

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/voidnxlabs/berth/runtime"
)

// String renders the desired state as the text of `berth plan --offline`:
// per kit its network, then every container with its address, ports,
// published ports, data paths and GPU request. Secret values never appear.
func (st *State) String() string {
	var b strings.Builder
	for _, n := range st.Networks {
		fmt.Fprintf(&b, "kit %s: network %s %s, host %s\n", n.Kit, n.Spec.Name, n.Spec.Subnet, n.Spec.Gateway)
		// In address order, as the seed's network layout lists them.
		var kit []*Container
		for i := range st.Containers {
			if st.Containers[i].Kit == n.Kit {
				kit = append(kit, &st.Containers[i])
			}
		}
		sort.SliceStable(kit, func(i, j int) bool { return kit[i].Address.Less(kit[j].Address) })
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, c := range kit {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Spec.Name, c.Endpoint(), c.Spec.Image)
		}
		tw.Flush()
		for _, c := range kit {
			details := c.details()
			if len(details) == 0 {
				continue
			}
			fmt.Fprintf(&b, "  %s:\n", c.Spec.Name)
			for _, d := range details {
				fmt.Fprintf(&b, "    %s\n", d)
			}
		}
	}
	if len(st.Containers) == 0 {
		b.WriteString("no services enabled\n")
	}
	return b.String()
}

// Ports returns the container's listening ports as "80,443".
func (c *Container) Ports() string {
	var ports []string
	for _, p := range c.Listen {
		ports = append(ports, strconv.Itoa(int(p)))
	}
	return strings.Join(ports, ",")
}

// Endpoint is address:ports, as the seed's network layout writes it.
func (c *Container) Endpoint() string {
	if p := c.Ports(); p != "" {
		return c.Address.String() + ":" + p
	}
	return c.Address.String()
}

func (c *Container) details() []string {
	var out []string
	for _, ep := range c.Spec.Networks[1:] {
		out = append(out, fmt.Sprintf("also on %s at %s", ep.Network, ep.IP))
	}
	for _, p := range c.Spec.Ports {
		out = append(out, fmt.Sprintf("published %s:%d -> %d/%s", p.HostIP, p.HostPort, p.ContainerPort, p.Protocol))
	}
	for _, m := range c.Spec.Mounts {
		if c.isSecretMount(m) {
			continue // listed under "secrets"
		}
		ro := ""
		if m.ReadOnly {
			ro = " (read-only)"
		}
		out = append(out, fmt.Sprintf("data %s -> %s%s", m.Source, m.Target, ro))
	}
	if g := c.GPU; g != nil {
		out = append(out, "gpu "+g.String())
	}
	if h := c.Health; h != nil && h.Kind == "exec" {
		out = append(out, "health exec "+strings.Join(h.Command, " "))
	}
	if len(c.DependsOn) > 0 {
		var deps []string
		for _, d := range c.DependsOn {
			deps = append(deps, d.Name+" ("+string(d.Condition)+")")
		}
		out = append(out, "after "+strings.Join(deps, ", "))
	}
	if len(c.Secrets) > 0 {
		s := append([]string(nil), c.Secrets...)
		sort.Strings(s)
		out = append(out, "secrets "+strings.Join(s, ", "))
	}
	r := c.Spec.Resources
	var lim []string
	if r.MemoryBytes > 0 {
		lim = append(lim, "memory "+FormatBytes(r.MemoryBytes))
	}
	if r.NanoCPUs > 0 {
		lim = append(lim, "cpus "+strconv.FormatFloat(float64(r.NanoCPUs)/1e9, 'f', -1, 64))
	}
	if r.ShmBytes > 0 {
		lim = append(lim, "shm "+FormatBytes(r.ShmBytes))
	}
	if r.PidsLimit > 0 {
		lim = append(lim, "pids "+strconv.FormatInt(r.PidsLimit, 10))
	}
	if len(lim) > 0 {
		out = append(out, "limits "+strings.Join(lim, ", "))
	}
	return out
}

// String describes a GPU request.
func (g *GPU) String() string {
	var s string
	switch {
	case g.All:
		s = "all"
	case g.Count > 0:
		s = strconv.Itoa(g.Count)
	default:
		s = strings.Join(g.IDs, ",")
	}
	if g.Vendor != "" {
		s += " vendor=" + g.Vendor
	}
	if g.Mode != "" && g.Mode != "auto" {
		s += " mode=" + g.Mode
	}
	if g.Optional {
		s += " (optional)"
	}
	return s
}

// FormatBytes prints a size in binary units, as Docker reads them.
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strconv.FormatFloat(f, 'f', -1, 64) + units[i]
}

func (c *Container) isSecretMount(m runtime.Mount) bool {
	for _, r := range c.SecretRefs {
		if r.File != "" && r.File == m.Target {
			return true
		}
	}
	return false
}

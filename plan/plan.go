// Package plan decides what to do: from the desired state and what is
// observed on the engine it computes, purely, a graph of operations, each
// with its cause. Package apply carries a plan out without deciding.
package plan

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Kind is what an operation does.
type Kind string

// Operation kinds, in the order the plan prints operations that are ready
// at the same time.
const (
	PullImage       Kind = "pull"
	EnsurePath      Kind = "mkdir"
	StopContainer   Kind = "stop"
	RemoveContainer Kind = "remove"
	RemoveNetwork   Kind = "remove-network"
	CreateNetwork   Kind = "create-network"
	CreateContainer Kind = "create"
	Recreate        Kind = "recreate"
	Connect         Kind = "connect"
	StartContainer  Kind = "start"
	WaitHealthy     Kind = "wait"
)

var kindRank = map[Kind]int{}

func init() {
	for i, k := range []Kind{PullImage, EnsurePath, StopContainer, RemoveContainer, RemoveNetwork, CreateNetwork, CreateContainer, Recreate, Connect, StartContainer, WaitHealthy} {
		kindRank[k] = i
	}
}

// Op is one operation. Which fields are set depends on Kind.
type Op struct {
	ID     string   `json:"id"` // kind:target, unique in a plan
	Kind   Kind     `json:"kind"`
	Target string   `json:"target"` // container or network name, image reference or host path
	Cause  string   `json:"cause"`
	Deps   []string `json:"deps,omitempty"` // IDs of operations that must finish first

	// Address is where the container must end up (create, recreate) or
	// where it is probed (wait).
	Address netip.Addr `json:"address,omitzero"`

	// Container is the desired container (create, recreate, start, wait),
	// with its ownership labels set.
	Container *desired.Container `json:"-"`
	// Network is the desired network (create-network), labels set.
	Network *runtime.NetworkSpec `json:"-"`
	// ObservedID is the engine ID of what a remove, stop or remove-network
	// acts on, or of the container a connect attaches.
	ObservedID string `json:"observedId,omitempty"`
	// Endpoint is the attachment a connect makes.
	Endpoint *runtime.Endpoint `json:"-"`
	// Path is the data path a mkdir creates.
	Path *desired.DataPath `json:"-"`
}

// Plan is a graph of operations in a stable topological order.
type Plan struct {
	Project string `json:"project"`
	Ops     []*Op  `json:"ops"`
}

// Empty reports whether there is nothing to do.
func (p *Plan) Empty() bool { return len(p.Ops) == 0 }

// Op returns the operation with the given ID, or nil.
func (p *Plan) Op(id string) *Op {
	for _, o := range p.Ops {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// Summary counts operations by kind.
func (p *Plan) Summary() map[Kind]int {
	m := map[Kind]int{}
	for _, o := range p.Ops {
		m[o.Kind]++
	}
	return m
}

// JSON is the plan's stable JSON form: each operation with its id, kind,
// target, cause, deps, address and the line berth plan prints for it.
func (p *Plan) JSON() ([]byte, error) {
	type op struct {
		*Op
		Text string `json:"text"`
	}
	out := struct {
		Project string `json:"project"`
		Ops     []op   `json:"ops"`
	}{Project: p.Project, Ops: []op{}}
	for _, o := range p.Ops {
		out.Ops = append(out.Ops, op{o, o.describe()})
	}
	return json.MarshalIndent(out, "", "  ")
}

// String is the plan as berth plan prints it: one numbered line per
// operation, in execution order, with its cause and what it waits for.
func (p *Plan) String() string {
	var b strings.Builder
	num := map[string]int{}
	for i, o := range p.Ops {
		num[o.ID] = i + 1
	}
	for i, o := range p.Ops {
		fmt.Fprintf(&b, "%2d  %s: %s", i+1, o.describe(), o.Cause)
		if len(o.Deps) > 0 {
			var after []int
			for _, d := range o.Deps {
				after = append(after, num[d])
			}
			slices.Sort(after)
			s := make([]string, len(after))
			for i, n := range after {
				s[i] = strconv.Itoa(n)
			}
			fmt.Fprintf(&b, "  (after %s)", strings.Join(s, ", "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Describe is the line berth plan prints for the operation, without its
// cause.
func (o *Op) Describe() string { return o.describe() }

func (o *Op) describe() string {
	at := ""
	if o.Address.IsValid() {
		at = " at " + o.Address.String()
	}
	switch o.Kind {
	case PullImage:
		return "pull image " + o.Target
	case EnsurePath:
		return fmt.Sprintf("create directory %s (uid %d, gid %d, mode %04o)", o.Target, o.Path.UID, o.Path.GID, mode(o.Path))
	case CreateNetwork:
		return fmt.Sprintf("create network %s (%s, gateway %s)", o.Target, o.Network.Subnet, o.Network.Gateway)
	case RemoveNetwork:
		return "remove network " + o.Target
	case CreateContainer:
		return "create container " + o.Target + at
	case Recreate:
		return "recreate container " + o.Target + at
	case Connect:
		ip := ""
		if o.Endpoint.IP.IsValid() {
			ip = " at " + o.Endpoint.IP.String()
		}
		return fmt.Sprintf("connect container %s to network %s%s", o.Target, o.Endpoint.Network, ip)
	case StartContainer:
		return "start container " + o.Target
	case StopContainer:
		return "stop container " + o.Target
	case RemoveContainer:
		return "remove container " + o.Target
	case WaitHealthy:
		return "wait for container " + o.Target + " to be healthy" + at
	}
	return string(o.Kind) + " " + o.Target
}

// mode is the data path's mode, 0755 when the config sets none.
func mode(p *desired.DataPath) uint32 {
	if p.Mode == 0 {
		return 0o755
	}
	return p.Mode
}

// Mode is the permission a mkdir gives a data path.
func Mode(p *desired.DataPath) uint32 { return mode(p) }

// order sorts ops topologically; among ops ready at once, by kind then
// target, so that the same inputs always print the same plan.
// A cycle cannot come from a validated config; should one appear, its ops
// are appended in sorted order and apply reports them as blocked.
func order(ops map[string]*Op) []*Op {
	indeg := map[string]int{}
	users := map[string][]string{}
	for id, o := range ops {
		slices.Sort(o.Deps)
		o.Deps = slices.Compact(o.Deps)
		indeg[id] += 0
		for _, d := range o.Deps {
			indeg[id]++
			users[d] = append(users[d], id)
		}
	}
	less := func(a, b *Op) int {
		if c := cmp.Compare(kindRank[a.Kind], kindRank[b.Kind]); c != 0 {
			return c
		}
		return strings.Compare(a.Target, b.Target)
	}
	var ready []*Op
	for id, n := range indeg {
		if n == 0 {
			ready = append(ready, ops[id])
		}
	}
	var out []*Op
	for len(ready) > 0 {
		slices.SortFunc(ready, less)
		o := ready[0]
		ready = ready[1:]
		out = append(out, o)
		for _, u := range users[o.ID] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, ops[u])
			}
		}
	}
	if len(out) != len(ops) {
		var rest []*Op
		for id, o := range ops {
			if indeg[id] > 0 {
				rest = append(rest, o)
			}
		}
		slices.SortFunc(rest, less)
		out = append(out, rest...)
	}
	return out
}

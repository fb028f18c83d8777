package plan

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Action is what a plan is for.
type Action string

const (
	// ActionUp makes the engine match the desired state (berth up).
	ActionUp Action = "up"
	// ActionDown removes the targeted containers (all when Targets is
	// empty) and networks left without containers. Data paths stay.
	ActionDown Action = "down"
	// ActionStart starts the targeted containers that exist but do not
	// run, and what they depend on, in dependency order. It creates and
	// recreates nothing: that is up's work.
	ActionStart Action = "start"
	// ActionStop stops the targeted running containers, dependents first.
	ActionStop Action = "stop"
	// ActionRestart stops and starts the targeted containers.
	ActionRestart Action = "restart"
)

// Options adjust a plan.
type Options struct {
	// Action is ActionUp when empty.
	Action Action
	// Targets limits the plan to these containers (by name), plus what
	// they depend on and what shares a network being recreated. Empty means
	// the whole project, including the removal of what is no longer in the
	// config.
	Targets []string
	// Wait adds a health wait for every container the plan starts.
	Wait bool
	// Generation is recorded in the io.berth.generation label of what is
	// created; zero leaves the label out.
	Generation int
}

// Compute decides what makes observed match desired. It is pure: the same
// inputs give the same plan.
func Compute(d desired.State, obs Observed, opts Options) *Plan {
	c := &computer{
		d:    d,
		obs:  obs,
		opts: opts,
		ops:  map[string]*Op{},
		oc:   map[string]runtime.Container{},
		on:   map[string]runtime.Network{},
		dc:   map[string]*desired.Container{},
		dn:   map[string]*desired.Network{},
		act:  map[string]string{},
		rm:   map[string]string{},
		netc: map[string]string{},
	}
	for _, o := range obs.Containers {
		c.oc[o.Name] = o
	}
	for _, n := range obs.Networks {
		c.on[n.Name] = n
	}
	for i := range d.Containers {
		c.dc[d.Containers[i].Spec.Name] = &d.Containers[i]
	}
	for i := range d.Networks {
		c.dn[d.Networks[i].Spec.Name] = &d.Networks[i]
	}
	switch opts.Action {
	case ActionDown:
		c.down()
	case ActionStart, ActionStop, ActionRestart:
		c.lifecycle()
	default:
		c.up()
	}
	return &Plan{Project: d.Project, Ops: order(c.ops)}
}

type computer struct {
	d    desired.State
	obs  Observed
	opts Options
	ops  map[string]*Op

	oc map[string]runtime.Container  // observed containers by name
	on map[string]runtime.Network    // observed networks by name
	dc map[string]*desired.Container // desired containers by name
	dn map[string]*desired.Network   // desired networks by name

	act  map[string]string // container name → the op that makes it run
	rm   map[string]string // container name → the op that removes its old self
	netc map[string]string // network name → why it is (re)created
}

func (c *computer) add(o *Op) *Op {
	o.ID = string(o.Kind) + ":" + o.Target
	if have, ok := c.ops[o.ID]; ok {
		have.Deps = append(have.Deps, o.Deps...)
		return have
	}
	c.ops[o.ID] = o
	return o
}

func (c *computer) dep(id, on string) {
	if on != "" && c.ops[id] != nil && c.ops[on] != nil && id != on {
		c.ops[id].Deps = append(c.ops[id].Deps, on)
	}
}

// selected returns the desired containers the plan covers, sorted by name.
func (c *computer) selected() []*desired.Container {
	if len(c.opts.Targets) == 0 {
		var all []*desired.Container
		for i := range c.d.Containers {
			all = append(all, &c.d.Containers[i])
		}
		return all
	}
	sel := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		dc, ok := c.dc[name]
		if !ok || sel[name] {
			return
		}
		sel[name] = true
		for _, dep := range dc.DependsOn {
			visit(dep.Name)
		}
	}
	for _, t := range c.opts.Targets {
		visit(t)
	}
	// A network that must be recreated takes every container on it along.
	for {
		grew := false
		for name := range sel {
			for _, ep := range c.dc[name].Spec.Networks {
				if _, exists := c.on[ep.Network]; !exists || c.networkCause(ep.Network) == "" {
					continue
				}
				for _, other := range c.d.Containers {
					if !sel[other.Spec.Name] && usesNetwork(&other, ep.Network) {
						visit(other.Spec.Name)
						grew = true
					}
				}
			}
		}
		if !grew {
			break
		}
	}
	var out []*desired.Container
	for i := range c.d.Containers {
		if sel[c.d.Containers[i].Spec.Name] {
			out = append(out, &c.d.Containers[i])
		}
	}
	return out
}

func usesNetwork(dc *desired.Container, netw string) bool {
	for _, ep := range dc.Spec.Networks {
		if ep.Network == netw {
			return true
		}
	}
	return false
}

// networkCause says why a desired network must be created or recreated,
// or "" when it is as desired.
func (c *computer) networkCause(name string) string {
	dn, ok := c.dn[name]
	if !ok {
		return ""
	}
	o, ok := c.on[name]
	if !ok {
		return "not found"
	}
	if o.Labels[runtime.LabelConfigHash] == dn.Hash {
		return ""
	}
	switch {
	case o.Subnet != dn.Spec.Subnet:
		return fmt.Sprintf("subnet changed: %s→%s", o.Subnet, dn.Spec.Subnet)
	case dn.Spec.Gateway.IsValid() && o.Gateway != dn.Spec.Gateway:
		return fmt.Sprintf("gateway changed: %s→%s", o.Gateway, dn.Spec.Gateway)
	}
	return "config hash changed"
}

func (c *computer) labels(base map[string]string, kit, service, hash string) map[string]string {
	l := maps.Clone(base)
	if l == nil {
		l = map[string]string{}
	}
	l[runtime.LabelProject] = c.d.Project
	if kit != "" {
		l[runtime.LabelKit] = kit
	}
	if service != "" {
		l[runtime.LabelService] = service
	}
	l[runtime.LabelConfigHash] = hash
	if c.opts.Generation != 0 {
		l[runtime.LabelGeneration] = strconv.Itoa(c.opts.Generation)
	} else {
		delete(l, runtime.LabelGeneration)
	}
	return l
}

func (c *computer) up() {
	sel := c.selected()
	whole := len(c.opts.Targets) == 0

	// Networks the selected containers use, and with the whole project,
	// every desired network.
	nets := map[string]bool{}
	for _, dc := range sel {
		for _, ep := range dc.Spec.Networks {
			nets[ep.Network] = true
		}
	}
	if whole {
		for name := range c.dn {
			nets[name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(nets)) {
		dn, ok := c.dn[name]
		if !ok {
			continue // not berth's: the container create reports it
		}
		cause := c.networkCause(name)
		if cause == "" {
			continue
		}
		spec := dn.Spec
		spec.Labels = c.labels(spec.Labels, dn.Kit, "", dn.Hash)
		create := c.add(&Op{Kind: CreateNetwork, Target: name, Cause: cause, Network: &spec})
		if o, ok := c.on[name]; ok {
			rm := c.add(&Op{Kind: RemoveNetwork, Target: name, Cause: cause, ObservedID: o.ID})
			create.Deps = append(create.Deps, rm.ID)
			c.netc[name] = "network " + name + " recreated"
		} else {
			c.netc[name] = "network " + name + " " + cause
		}
	}

	for _, dc := range sel {
		c.container(dc)
	}

	// Owned containers no longer in the config.
	for _, name := range slices.Sorted(maps.Keys(c.oc)) {
		if _, ok := c.dc[name]; ok {
			continue
		}
		if !whole && !slices.Contains(c.opts.Targets, name) {
			continue
		}
		o := c.oc[name]
		c.rm[name] = c.add(&Op{Kind: RemoveContainer, Target: name, Cause: "no longer in config", ObservedID: o.ID}).ID
	}
	// Owned networks no longer in the config.
	if whole {
		for _, name := range slices.Sorted(maps.Keys(c.on)) {
			if _, ok := c.dn[name]; ok {
				continue
			}
			c.add(&Op{Kind: RemoveNetwork, Target: name, Cause: "no longer in config", ObservedID: c.on[name].ID})
		}
	}
	// A network goes only after the containers attached to it.
	for _, o := range c.ops {
		if o.Kind != RemoveNetwork {
			continue
		}
		for name, oc := range c.oc {
			if _, attached := oc.Networks[o.Target]; attached {
				c.dep(o.ID, c.rm[name])
			}
		}
	}

	c.dependencies(sel)
}

// container plans one desired container.
func (c *computer) container(dc *desired.Container) {
	name := dc.Spec.Name
	spec := dc.Spec
	spec.Labels = c.labels(spec.Labels, dc.Kit, dc.Service, dc.Hash)
	want := *dc
	want.Spec = spec

	var prereq []string
	imageID, haveImage := c.obs.Images[spec.Image]
	if !haveImage {
		prereq = append(prereq, c.add(&Op{Kind: PullImage, Target: spec.Image, Cause: "not present"}).ID)
	}
	for i := range dc.DataPaths {
		p := dc.DataPaths[i]
		if c.obs.Paths[p.Host] {
			continue
		}
		prereq = append(prereq, c.add(&Op{Kind: EnsurePath, Target: p.Host, Cause: "not found", Path: &p}).ID)
	}
	var netReasons []string
	recreatedNet := false
	for _, ep := range spec.Networks {
		if cause, ok := c.netc[ep.Network]; ok {
			prereq = append(prereq, string(CreateNetwork)+":"+ep.Network)
			netReasons = append(netReasons, cause)
			if _, existed := c.on[ep.Network]; existed {
				recreatedNet = true
			}
		}
	}

	o, exists := c.oc[name]
	if !exists {
		op := c.add(&Op{Kind: CreateContainer, Target: name, Cause: "not found", Container: &want, Address: dc.Address, Deps: prereq})
		c.act[name] = op.ID
		return
	}

	var reasons []string
	switch {
	case len(netReasons) > 0:
		// The network explains the rest of the hash change.
		reasons = append(reasons, netReasons...)
	case o.Labels[runtime.LabelConfigHash] != dc.Hash:
		reasons = append(reasons, hashCause(o, dc))
	default:
		if a, ok := o.Networks[primary(dc)]; ok && dc.Address.IsValid() && a.IsValid() && a != dc.Address {
			reasons = append(reasons, fmt.Sprintf("address %s, want %s", a, dc.Address))
		}
	}
	switch {
	case !haveImage:
		reasons = append(reasons, "image not present")
	case imageID != o.ImageID:
		reasons = append(reasons, "image updated")
	}
	if o.State == runtime.StateDead {
		reasons = append(reasons, "dead")
	}

	if len(reasons) > 0 {
		cause := strings.Join(reasons, "; ")
		if recreatedNet {
			// The network is removed between the two halves, so they are
			// separate operations.
			rm := c.add(&Op{Kind: RemoveContainer, Target: name, Cause: cause, ObservedID: o.ID})
			c.rm[name] = rm.ID
			op := c.add(&Op{Kind: CreateContainer, Target: name, Cause: cause, Container: &want, Address: dc.Address, Deps: append(prereq, rm.ID)})
			c.act[name] = op.ID
			return
		}
		op := c.add(&Op{Kind: Recreate, Target: name, Cause: cause, Container: &want, Address: dc.Address, ObservedID: o.ID, Deps: prereq})
		c.rm[name] = op.ID
		c.act[name] = op.ID
		return
	}

	// Same config: repair what drifted without a recreate.
	for _, ep := range spec.Networks[min(1, len(spec.Networks)):] {
		if _, ok := o.Networks[ep.Network]; !ok {
			e := ep
			c.add(&Op{Kind: Connect, Target: name, Cause: "not connected", ObservedID: o.ID, Endpoint: &e, Deps: prereq})
		}
	}
	switch o.State {
	case runtime.StateCreated:
		c.act[name] = c.add(&Op{Kind: StartContainer, Target: name, Cause: "created but not started", Container: &want, ObservedID: o.ID, Deps: prereq}).ID
	case runtime.StateExited:
		c.act[name] = c.add(&Op{Kind: StartContainer, Target: name, Cause: fmt.Sprintf("exited (code %d) but should run", o.ExitCode), Container: &want, ObservedID: o.ID, Deps: prereq}).ID
	}
	if id := c.act[name]; id != "" {
		// Attach missing networks before starting.
		for _, op := range c.ops {
			if op.Kind == Connect && op.Target == name {
				c.dep(id, op.ID)
			}
		}
	}
}

func primary(dc *desired.Container) string {
	if len(dc.Spec.Networks) == 0 {
		return ""
	}
	return dc.Spec.Networks[0].Network
}

// dependencies orders starts after what they depend on, adding health waits
// where a dependency must be healthy.
func (c *computer) dependencies(sel []*desired.Container) {
	waitFor := func(name, cause string) string {
		dc := c.dc[name]
		if dc == nil || dc.Health == nil {
			return c.act[name]
		}
		op := c.add(&Op{Kind: WaitHealthy, Target: name, Cause: cause, Container: dc, Address: dc.Address})
		if a := c.act[name]; a != "" {
			op.Deps = append(op.Deps, a)
		}
		if op.Cause != cause && !strings.Contains(op.Cause, cause) {
			op.Cause += "; " + cause
		}
		return op.ID
	}
	for _, dc := range sel {
		act := c.act[dc.Spec.Name]
		if act == "" {
			continue
		}
		for _, dep := range dc.DependsOn {
			if dep.Condition == desired.ConditionHealthy {
				c.dep(act, waitFor(dep.Name, dc.Spec.Name+" depends on it"))
			} else {
				c.dep(act, c.act[dep.Name])
			}
		}
	}
	if c.opts.Wait {
		for _, dc := range sel {
			if c.act[dc.Spec.Name] != "" && dc.Health != nil {
				waitFor(dc.Spec.Name, "--wait")
			}
		}
	}
}

// lifecycle plans starts and stops of existing containers.
func (c *computer) lifecycle() {
	var sel []*desired.Container
	if c.opts.Action == ActionStart {
		sel = c.selected() // with what they depend on
	} else {
		for i := range c.d.Containers {
			dc := &c.d.Containers[i]
			if len(c.opts.Targets) == 0 || slices.Contains(c.opts.Targets, dc.Spec.Name) {
				sel = append(sel, dc)
			}
		}
	}
	stops := map[string]string{}
	for _, dc := range sel {
		name := dc.Spec.Name
		o, ok := c.oc[name]
		if !ok {
			continue // never created: up's work
		}
		running := o.State == runtime.StateRunning || o.State == runtime.StateRestarting
		if c.opts.Action != ActionStart && running {
			stops[name] = c.add(&Op{Kind: StopContainer, Target: name, Cause: string(c.opts.Action), Container: dc, ObservedID: o.ID}).ID
		}
		if c.opts.Action == ActionStop || (c.opts.Action == ActionStart && running) {
			continue
		}
		cause := "start"
		if c.opts.Action == ActionRestart {
			cause = "restart"
		}
		op := c.add(&Op{Kind: StartContainer, Target: name, Cause: cause, Container: dc, ObservedID: o.ID})
		c.dep(op.ID, stops[name])
		c.act[name] = op.ID
	}
	// Dependents stop first.
	for name := range stops {
		if dc := c.dc[name]; dc != nil {
			for _, dep := range dc.DependsOn {
				c.dep(stops[dep.Name], stops[name])
			}
		}
	}
	c.dependencies(sel)
}

// down plans the removal of the targeted containers and of networks left
// empty.
func (c *computer) down() {
	targets := map[string]bool{}
	for _, t := range c.opts.Targets {
		targets[t] = true
	}
	whole := len(targets) == 0
	for name, o := range c.oc {
		if whole || targets[name] {
			c.rm[name] = c.add(&Op{Kind: RemoveContainer, Target: name, Cause: "down", ObservedID: o.ID}).ID
		}
	}
	// Dependents go first.
	for name := range c.rm {
		if dc := c.dc[name]; dc != nil {
			for _, dep := range dc.DependsOn {
				c.dep(c.rm[dep.Name], c.rm[name])
			}
		}
	}
	for name, n := range c.on {
		empty := true
		for cname, oc := range c.oc {
			if _, attached := oc.Networks[name]; attached && c.rm[cname] == "" {
				empty = false
			}
		}
		if !empty {
			continue
		}
		// With targets, only networks of the containers taken down go.
		if !whole {
			used := false
			for cname := range c.rm {
				_, attached := c.oc[cname].Networks[name]
				used = used || attached
			}
			if !used {
				continue
			}
		}
		op := c.add(&Op{Kind: RemoveNetwork, Target: name, Cause: "down", ObservedID: n.ID})
		for cname, oc := range c.oc {
			if _, attached := oc.Networks[name]; attached {
				c.dep(op.ID, c.rm[cname])
			}
		}
	}
}

// hashCause says what changed in a container whose config hash differs,
// as far as the engine reports it. Values of environment variables are
// never shown: they may be secrets.
func hashCause(o runtime.Container, dc *desired.Container) string {
	var diffs []string
	if o.Image != dc.Spec.Image {
		diffs = append(diffs, fmt.Sprintf("image %s→%s", o.Image, dc.Spec.Image))
	}
	diffs = append(diffs, portDiff(o.Ports, dc.Spec.Ports)...)
	for _, ep := range dc.Spec.Networks {
		if a, ok := o.Networks[ep.Network]; ok && ep.IP.IsValid() && a.IsValid() && a != ep.IP {
			diffs = append(diffs, fmt.Sprintf("address %s→%s", a, ep.IP))
		}
	}
	var have, want []string
	for n := range o.Networks {
		have = append(have, n)
	}
	for _, ep := range dc.Spec.Networks {
		want = append(want, ep.Network)
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		diffs = append(diffs, fmt.Sprintf("networks [%s]→[%s]", strings.Join(have, " "), strings.Join(want, " ")))
	}
	if o.Env != nil {
		diffs = append(diffs, envDiff(o.Env, dc.Spec.Env)...)
	}
	if o.Cmd != nil && !slices.Equal(o.Cmd, dc.Spec.Cmd) && len(dc.Spec.Cmd) > 0 {
		diffs = append(diffs, "command changed")
	}
	if o.Mounts != nil || dc.Spec.Mounts != nil {
		if !sameMounts(o.Mounts, dc.Spec.Mounts) {
			diffs = append(diffs, "mounts changed")
		}
	}
	r, w := o.Resources, dc.Spec.Resources
	if r.MemoryBytes != w.MemoryBytes {
		diffs = append(diffs, fmt.Sprintf("memory %d→%d", r.MemoryBytes, w.MemoryBytes))
	}
	if r.NanoCPUs != w.NanoCPUs {
		diffs = append(diffs, fmt.Sprintf("cpus %s→%s", cpus(r.NanoCPUs), cpus(w.NanoCPUs)))
	}
	if r.ShmBytes != w.ShmBytes && w.ShmBytes != 0 {
		diffs = append(diffs, fmt.Sprintf("shm %d→%d", r.ShmBytes, w.ShmBytes))
	}
	if r.PidsLimit != w.PidsLimit {
		diffs = append(diffs, fmt.Sprintf("pids %d→%d", r.PidsLimit, w.PidsLimit))
	}
	if len(diffs) == 0 {
		return "config hash changed"
	}
	return "config hash changed: " + strings.Join(diffs, ", ")
}

func cpus(n int64) string { return strconv.FormatFloat(float64(n)/1e9, 'f', -1, 64) }

func portKey(p runtime.Port) string {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	return fmt.Sprintf("%s:%d:%d/%s", p.HostIP, p.HostPort, p.ContainerPort, proto)
}

func portDiff(have, want []runtime.Port) []string {
	hk := make([]string, len(have))
	for i, p := range have {
		hk[i] = portKey(p)
	}
	wk := make([]string, len(want))
	for i, p := range want {
		wk[i] = portKey(p)
	}
	slices.Sort(hk)
	slices.Sort(wk)
	if slices.Equal(hk, wk) {
		return nil
	}
	var gone, added []runtime.Port
	for _, p := range have {
		if !slices.Contains(wk, portKey(p)) {
			gone = append(gone, p)
		}
	}
	for _, p := range want {
		if !slices.Contains(hk, portKey(p)) {
			added = append(added, p)
		}
	}
	if len(gone) == 1 && len(added) == 1 {
		g, a := gone[0], added[0]
		switch {
		case g.ContainerPort != a.ContainerPort:
			return []string{fmt.Sprintf("port %d→%d", g.ContainerPort, a.ContainerPort)}
		case g.HostPort != a.HostPort:
			return []string{fmt.Sprintf("published port %d→%d", g.HostPort, a.HostPort)}
		}
		return []string{fmt.Sprintf("port %s→%s", portKey(g), portKey(a))}
	}
	var out []string
	for _, p := range gone {
		out = append(out, "port "+portKey(p)+" removed")
	}
	for _, p := range added {
		out = append(out, "port "+portKey(p)+" added")
	}
	return out
}

// envDiff compares only the variables berth sets: an engine also reports
// those the image sets.
func envDiff(have, want []string) []string {
	hv := map[string]string{}
	for _, kv := range have {
		k, v, _ := strings.Cut(kv, "=")
		hv[k] = v
	}
	var out []string
	for _, kv := range want {
		k, v, _ := strings.Cut(kv, "=")
		old, ok := hv[k]
		switch {
		case !ok:
			out = append(out, "env "+k+" added")
		case old != v:
			out = append(out, "env "+k+" changed")
		}
	}
	return out
}

func sameMounts(a, b []runtime.Mount) bool {
	key := func(ms []runtime.Mount) []string {
		var k []string
		for _, m := range ms {
			k = append(k, fmt.Sprintf("%s:%s:%v", m.Source, m.Target, m.ReadOnly))
		}
		slices.Sort(k)
		return k
	}
	return slices.Equal(key(a), key(b))
}

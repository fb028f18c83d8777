// Package systemd renders the systemd units that start a project's
// containers at boot in dependency order, as the seed's container@NAME
// units do: one unit per container, and a target that wants them all.
//
// Docker and Podman 4.3 get plain units that start and stop the container
// berth created; Podman 4.4 and later get Quadlet .container files that
// describe the whole container, so that systemd creates it; nspawn machines
// get units that run berth's own start and stop.
package systemd

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Options selects what to render.
type Options struct {
	// Runtime is docker, podman or nspawn.
	Runtime string
	// Quadlet renders Quadlet .container files (Podman 4.4 and later)
	// instead of units that start existing containers.
	Quadlet bool
	// Engine is the absolute path of the engine's CLI (docker or podman),
	// or of berth itself for nspawn. Empty means /usr/bin/<runtime>, and
	// /usr/local/bin/berth for nspawn.
	Engine string
	// Config is the absolute path of berth.yaml, which nspawn units pass
	// to berth.
	Config string
	// StateDir, when set, is berth's state directory in nspawn units
	// (BERTH_STATE_DIR); the machines live under it.
	StateDir string
	// SecretDir is the project's secrets directory (0700, files 0600).
	// Quadlet files make Podman secrets from its files at start, so that
	// a secret read from the environment is never written into a unit.
	SecretDir string
}

// File is one rendered unit file.
type File struct {
	Name string `json:"name"` // file name, e.g. berth-ml-ollama.service
	Text string `json:"text"`
}

// Prefix starts every unit berth writes, so that they are easy to find and
// remove: systemctl list-units 'berth-*'.
const Prefix = "berth-"

// UnitName is the service unit that runs a container.
func UnitName(container string) string { return Prefix + container + ".service" }

// TargetName is the target that wants all of a project's units.
func TargetName(project string) string { return Prefix + project + ".target" }

// Generate renders the units for st's containers, sorted by file name.
func Generate(st desired.State, opts Options) ([]File, error) {
	switch opts.Runtime {
	case "docker", "podman":
	case "nspawn":
		if opts.Quadlet {
			return nil, fmt.Errorf("quadlet files are for podman, not %s", opts.Runtime)
		}
		if !path.IsAbs(opts.Config) {
			return nil, fmt.Errorf("nspawn units need the absolute path of berth.yaml, got %q", opts.Config)
		}
	default:
		return nil, fmt.Errorf("runtime %q: units are rendered for docker, podman or nspawn", opts.Runtime)
	}
	if opts.Quadlet && opts.Runtime != "podman" {
		return nil, fmt.Errorf("quadlet files are for podman, not %s", opts.Runtime)
	}
	if opts.Engine == "" {
		opts.Engine = "/usr/bin/" + opts.Runtime
		if opts.Runtime == "nspawn" {
			opts.Engine = "/usr/local/bin/berth"
		}
	}
	names := map[string]bool{}
	for _, c := range st.Containers {
		names[c.Spec.Name] = true
	}
	var out []File
	var units []string
	for _, c := range st.Containers {
		if err := checkSpec(c); err != nil {
			return nil, err
		}
		for _, d := range c.DependsOn {
			if !names[d.Name] {
				return nil, fmt.Errorf("%s depends on %s, which is not in the selection: select both", c.Spec.Name, d.Name)
			}
		}
		units = append(units, UnitName(c.Spec.Name))
		if opts.Quadlet {
			out = append(out, File{Name: Prefix + c.Spec.Name + ".container", Text: quadlet(st, c, opts)})
		} else {
			out = append(out, File{Name: UnitName(c.Spec.Name), Text: service(st, c, opts)})
		}
	}
	out = append(out, File{Name: TargetName(st.Project), Text: target(st, units)})
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// unitBuilder writes an INI-style unit file.
type unitBuilder struct{ b strings.Builder }

func (u *unitBuilder) section(name string) {
	if u.b.Len() > 0 {
		u.b.WriteString("\n")
	}
	fmt.Fprintf(&u.b, "[%s]\n", name)
}

func (u *unitBuilder) set(key string, vals ...string) {
	for _, v := range vals {
		fmt.Fprintf(&u.b, "%s=%s\n", key, v)
	}
}

func header(st desired.State, opts Options) string {
	how := "berth systemd generate"
	if opts.Quadlet {
		how += " --quadlet"
	}
	return fmt.Sprintf("# Written by %s for project %s (runtime %s).\n# Regenerate it after changing berth.yaml; edits are lost.\n", how, st.Project, opts.Runtime)
}

func target(st desired.State, units []string) string {
	var u unitBuilder
	u.b.WriteString(fmt.Sprintf("# Written by berth systemd generate for project %s.\n", st.Project))
	u.section("Unit")
	u.set("Description", fmt.Sprintf("berth project %s", st.Project))
	u.set("Wants", units...)
	u.set("After", units...)
	u.section("Install")
	u.set("WantedBy", "multi-user.target")
	return u.b.String()
}

// unitSection writes what both kinds share: description, the engine it
// needs, and ordering after the containers it depends on.
func unitSection(u *unitBuilder, st desired.State, c desired.Container, opts Options) {
	u.section("Unit")
	u.set("Description", fmt.Sprintf("berth container %s (%s/%s)", c.Spec.Name, c.Kit, c.Service))
	switch {
	case opts.Runtime == "docker":
		u.set("Requires", "docker.service")
		u.set("After", "docker.service")
	default:
		// Podman and nspawn have no daemon; their bridges need the host's
		// network up.
		u.set("Wants", "network-online.target")
		u.set("After", "network-online.target")
	}
	deps := slices.Clone(c.DependsOn)
	slices.SortFunc(deps, func(a, b desired.Dependency) int { return strings.Compare(a.Name, b.Name) })
	for _, d := range deps {
		// Requires, not Wants: the seed's units fail with what they
		// need. systemd orders on start; a "healthy" condition is waited
		// for by the dependency's unit (see service).
		u.set("Requires", UnitName(d.Name))
		u.set("After", UnitName(d.Name))
	}
	u.set("PartOf", TargetName(st.Project))
}

// healthWaited reports whether another container waits for c to be
// healthy.
func healthWaited(st desired.State, c desired.Container) bool {
	for _, o := range st.Containers {
		for _, d := range o.DependsOn {
			if d.Name == c.Spec.Name && d.Condition == desired.ConditionHealthy {
				return true
			}
		}
	}
	return false
}

func stopSeconds(c desired.Container) int {
	if c.Spec.StopTimeout > 0 {
		return int((c.Spec.StopTimeout + time.Second - 1) / time.Second)
	}
	return 10
}

// service renders a unit that starts and stops the container berth made.
func service(st desired.State, c desired.Container, opts Options) string {
	var u unitBuilder
	u.b.WriteString(header(st, opts))
	unitSection(&u, st, c, opts)
	u.section("Service")
	// oneshot with RemainAfterExit: the engine, not systemd, supervises
	// the container; the unit is "active" once it has started, so its
	// dependents start after it.
	u.set("Type", "oneshot")
	u.set("RemainAfterExit", "yes")
	name := c.Spec.Name
	stop := strconv.Itoa(stopSeconds(c))
	switch opts.Runtime {
	case "docker", "podman":
		u.set("ExecStart", fmt.Sprintf("%s start %s", quote(opts.Engine), name))
		if healthWaited(st, c) && c.Health != nil {
			// The dependents want it healthy: wait the way berth does,
			// probing its address from the host.
			if c.Health.Kind == "exec" {
				u.set("ExecStartPost", waitEngineHealth(opts.Engine, c))
			} else {
				u.set("ExecStartPost", waitCommand(c))
			}
		}
		u.set("ExecStop", fmt.Sprintf("%s stop -t %s %s", quote(opts.Engine), stop, name))
	case "nspawn":
		args := berthArgs(opts)
		wait := ""
		if healthWaited(st, c) {
			wait = " --wait"
		}
		if opts.StateDir != "" {
			u.set("Environment", quote("BERTH_STATE_DIR="+opts.StateDir))
		}
		u.set("ExecStart", fmt.Sprintf("%s start%s %s", args, wait, name))
		u.set("ExecStop", fmt.Sprintf("%s stop %s", args, name))
		// The machine's processes are the unit's: stop them with it.
		u.set("KillMode", "mixed")
	}
	u.set("TimeoutStartSec", "300")
	u.set("TimeoutStopSec", strconv.Itoa(stopSeconds(c)+20))
	u.section("Install")
	u.set("WantedBy", TargetName(st.Project))
	return u.b.String()
}

func berthArgs(opts Options) string {
	// Paths are the user's own (berth's location, -f FILE) and may hold
	// spaces: quoted, as every value in a unit.
	return fmt.Sprintf("%s --file %s --runtime nspawn", quote(opts.Engine), quote(opts.Config))
}

// waitCommand polls the container's health port from the host until it
// accepts a connection, for up to five minutes, with nothing but bash:
// the unit needs no curl, and `berth up --wait` checks the full health.
// It has no "$": systemd would expand it.
func waitCommand(c desired.Container) string {
	return fmt.Sprintf("/bin/bash -c 'for i in {1..300}; do (exec 3<>/dev/tcp/%s/%d) 2>/dev/null && exit 0; sleep 1; done; exit 1'", c.Address, c.Health.Port)
}

// waitEngineHealth waits for the engine's own health check, which berth
// sets to the exec check's command on Docker and Podman, to report
// healthy, for up to five minutes. No "$" (systemd would expand it) and
// no "%" (a systemd specifier); the container name is a validated name.
func waitEngineHealth(engine string, c desired.Container) string {
	return fmt.Sprintf("/bin/bash -c 'for i in {1..300}; do [ \"`%s inspect --format {{.State.Health.Status}} %s`\" = healthy ] && exit 0; sleep 1; done; exit 1'", engine, c.Spec.Name)
}

// quadlet renders a Quadlet .container file: the whole container, so that
// Podman's generator makes and runs it at boot. The labels and
// annotations are berth's, so `berth plan` sees the container as its own.
func quadlet(st desired.State, c desired.Container, opts Options) string {
	s := c.Spec
	var u unitBuilder
	u.b.WriteString(header(st, opts))
	unitSection(&u, st, c, opts)
	u.section("Container")
	u.set("ContainerName", s.Name)
	u.set("Image", s.Image)
	labels := maps.Clone(s.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if labels[runtime.LabelConfigHash] == "" && c.Hash != "" {
		labels[runtime.LabelConfigHash] = c.Hash
	}
	for _, k := range sortedKeys(labels) {
		u.set("Label", quote(k+"="+labels[k]))
	}
	// The annotations berth's podman engine sets and reads back.
	var nets []string
	for _, ep := range s.Networks {
		if ep.IP.IsValid() {
			nets = append(nets, ep.Network+"="+ep.IP.String())
		}
	}
	u.set("Annotation", quote("io.berth.image="+s.Image), quote("io.berth.networks="+strings.Join(nets, ",")), quote("io.berth.pids-limit="+strconv.FormatInt(s.Resources.PidsLimit, 10)))
	for i, ep := range s.Networks {
		if i == 0 {
			u.set("Network", ep.Network)
			if ep.IP.IsValid() {
				u.set("IP", ep.IP.String())
			}
			continue
		}
		// Only the first network has its own keys; the others go as
		// podman run arguments.
		arg := "--network=" + ep.Network
		if ep.IP.IsValid() {
			arg += ":ip=" + ep.IP.String()
		}
		u.set("PodmanArgs", arg)
	}
	for _, p := range s.Ports {
		proto := ""
		if p.Protocol != "" && p.Protocol != "tcp" {
			proto = "/" + p.Protocol
		}
		u.set("PublishPort", fmt.Sprintf("%s:%d:%d%s", p.HostIP, p.HostPort, p.ContainerPort, proto))
	}
	for _, m := range s.Mounts {
		v := m.Source + ":" + m.Target
		if m.ReadOnly {
			v += ":ro"
		}
		u.set("Volume", v)
	}
	secretEnv := map[string]desired.SecretRef{}
	for _, ref := range c.SecretRefs {
		if ref.File == "" {
			secretEnv[ref.Env] = ref
		}
	}
	for _, kv := range s.Env {
		k, _, _ := strings.Cut(kv, "=")
		if ref, ok := secretEnv[k]; ok {
			// The value stays in berth's 0600 file: Podman makes a secret of
			// it when the unit starts (see ExecStartPre below) and gives it
			// to the container as this variable.
			u.set("Secret", quote(podmanSecret(st.Project, ref.Name)+",type=env,target="+ref.Env))
			continue
		}
		u.set("Environment", quote(kv))
	}
	if s.User != "" {
		u.set("User", s.User)
	}
	for _, d := range s.Devices {
		v := d.Host
		if d.Container != "" && d.Container != d.Host {
			v += ":" + d.Container
		}
		u.set("AddDevice", v)
	}
	for _, g := range s.GPUs {
		for _, id := range gpuNames(g) {
			u.set("AddDevice", id)
		}
	}
	var args []string
	if len(s.Entrypoint) > 0 {
		args = append(args, "--entrypoint="+quote(jsonArray(s.Entrypoint)))
	}
	if s.Hostname != "" {
		args = append(args, "--hostname="+s.Hostname)
	}
	if s.WorkingDir != "" {
		args = append(args, "--workdir="+s.WorkingDir)
	}
	for _, g := range s.GroupAdd {
		args = append(args, "--group-add="+g)
	}
	for _, r := range s.DeviceCgroupRules {
		args = append(args, "--device-cgroup-rule="+quote(r))
	}
	r := s.Resources
	if r.MemoryBytes > 0 {
		args = append(args, fmt.Sprintf("--memory=%d", r.MemoryBytes))
	}
	if r.NanoCPUs > 0 {
		args = append(args, "--cpus="+strconv.FormatFloat(float64(r.NanoCPUs)/1e9, 'f', -1, 64))
	}
	if r.ShmBytes > 0 {
		args = append(args, fmt.Sprintf("--shm-size=%d", r.ShmBytes))
	}
	if r.PidsLimit > 0 {
		args = append(args, fmt.Sprintf("--pids-limit=%d", r.PidsLimit))
	}
	ulimits := s.Ulimits
	for _, d := range []runtime.Ulimit{{Name: "nofile", Soft: 4096, Hard: 4096}, {Name: "nproc", Soft: 4096, Hard: 4096}} {
		if !slices.ContainsFunc(ulimits, func(x runtime.Ulimit) bool { return x.Name == d.Name }) {
			ulimits = append(ulimits, d)
		}
	}
	for _, ul := range ulimits {
		args = append(args, fmt.Sprintf("--ulimit=%s=%d:%d", ul.Name, ul.Soft, ul.Hard))
	}
	if s.Init {
		args = append(args, "--init")
	}
	args = append(args, fmt.Sprintf("--stop-timeout=%d", stopSeconds(c)))
	for _, a := range args {
		u.set("PodmanArgs", a)
	}
	if len(s.Cmd) > 0 {
		var q []string
		for _, a := range s.Cmd {
			q = append(q, quote(a))
		}
		u.set("Exec", strings.Join(q, " "))
	}
	u.section("Service")
	for _, ref := range c.SecretRefs {
		if ref.File != "" {
			continue // mounted from berth's file (Volume= above)
		}
		name := podmanSecret(st.Project, ref.Name)
		// Made afresh at every start, so a rotated secret is picked up;
		// "-": a first start has nothing to remove.
		u.set("ExecStartPre", fmt.Sprintf("-%s secret rm %s", opts.Engine, name))
		u.set("ExecStartPre", fmt.Sprintf("%s secret create %s %s", opts.Engine, name, quote(path.Join(opts.SecretDir, ref.Name))))
	}
	// Quadlet's units run the container in the foreground: systemd
	// restarts it as the spec's restart policy would.
	switch s.Restart {
	case "always", "unless-stopped":
		u.set("Restart", "always")
	case "on-failure":
		u.set("Restart", "on-failure")
	}
	u.set("TimeoutStartSec", "300")
	u.section("Install")
	u.set("WantedBy", TargetName(st.Project))
	return u.b.String()
}

func gpuNames(g runtime.GPURequest) []string {
	if g.Driver == "cdi" {
		return g.DeviceIDs
	}
	if len(g.DeviceIDs) == 0 {
		return []string{"nvidia.com/gpu=all"}
	}
	var out []string
	for _, id := range g.DeviceIDs {
		out = append(out, "nvidia.com/gpu="+id)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// quote quotes a value for a unit file the way systemd splits words:
// double quotes, with backslash escapes, only when needed. A control
// character (the config refuses them; this is the second line of defense)
// becomes a C escape inside the quotes, never a raw byte: a raw newline
// would end the line and start a directive of its own.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\$%;") && !hasControl(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '$':
			b.WriteString("$$")
		case r == '%':
			b.WriteString("%%")
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// podmanSecret is the name of the Podman secret a Quadlet unit makes from
// berth's secret file.
func podmanSecret(project, name string) string { return "berth-" + project + "-" + name }

// checkSpec refuses a container whose strings would reach the unit file
// unquoted with a control character in them. The config refuses such
// values; a spec from elsewhere (a generation file, a library caller) is
// checked here again.
func checkSpec(c desired.Container) error {
	s := c.Spec
	fields := []string{s.Name, s.Image, s.Hostname, s.User, s.WorkingDir}
	fields = append(fields, s.Env...)
	fields = append(fields, s.Cmd...)
	fields = append(fields, s.Entrypoint...)
	fields = append(fields, s.GroupAdd...)
	fields = append(fields, s.DeviceCgroupRules...)
	for k, v := range s.Labels {
		fields = append(fields, k, v)
	}
	for _, m := range s.Mounts {
		fields = append(fields, m.Source, m.Target)
	}
	for _, d := range s.Devices {
		fields = append(fields, d.Host, d.Container)
	}
	for _, ep := range s.Networks {
		fields = append(fields, ep.Network)
	}
	for _, f := range fields {
		if hasControl(f) {
			return fmt.Errorf("container %s: %q holds a control character; units are not written", s.Name, f)
		}
	}
	return nil
}

func jsonArray(ss []string) string {
	var q []string
	for _, s := range ss {
		q = append(q, strconv.Quote(s))
	}
	return "[" + strings.Join(q, ",") + "]"
}

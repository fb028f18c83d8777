package nspawn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/voidnxlabs/berth/runtime"
)

// machineRecord is ROOT/machines/<id>/spec.json: what berth asked for,
// with what the engine decided at create.
type machineRecord struct {
	ID      string                `json:"id"`
	Spec    runtime.ContainerSpec `json:"spec"`
	ImageID string                `json:"imageId"`
	Layers  []string              `json:"layers"` // diff IDs, bottom first
	Created time.Time             `json:"created"`
	// GPU is what the spec's GPU requests resolved to at create.
	GPU gpuEdits `json:"gpu,omitempty"`
	// Process of the machine's last start, from state.json.
	run runState
}

// runState is ROOT/machines/<id>/state.json.
type runState struct {
	Started   bool      `json:"started"`
	StartedAt time.Time `json:"startedAt"`
	// Pid and PidStart (its start time in clock ticks since boot) name
	// the monitor shell; both must match for it to count as alive.
	Pid      int    `json:"pid"`
	PidStart uint64 `json:"pidStart"`
	// BootID is the kernel's boot ID at start: after a reboot the pid
	// may name another process.
	BootID string `json:"bootId"`
}

// bootID identifies the current boot.
func bootID() string {
	data, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(data))
}

func (e *Engine) machineDir(id string) string { return filepath.Join(e.root, "machines", id) }

func (e *Engine) machines() ([]*machineRecord, error) {
	ents, err := os.ReadDir(filepath.Join(e.root, "machines"))
	if err != nil {
		return nil, err
	}
	var out []*machineRecord
	for _, en := range ents {
		m, err := e.loadMachine(en.Name())
		if errors.Is(err, os.ErrNotExist) {
			continue // being created or removed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *machineRecord) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	return out, nil
}

func (e *Engine) loadMachine(id string) (*machineRecord, error) {
	m := &machineRecord{}
	if err := readJSON(filepath.Join(e.machineDir(id), "spec.json"), m); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(e.machineDir(id), "state.json"), &m.run); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return m, nil
}

func (e *Engine) saveMachine(m *machineRecord) error {
	return writeJSON(filepath.Join(e.machineDir(m.ID), "spec.json"), m)
}

func (e *Engine) saveRun(m *machineRecord) error {
	return writeJSON(filepath.Join(e.machineDir(m.ID), "state.json"), m.run)
}

// machine finds a machine by name, ID or ID prefix.
func (e *Engine) machine(nameOrID string) (*machineRecord, error) {
	if len(nameOrID) == 64 {
		if m, err := e.loadMachine(nameOrID); err == nil {
			return m, nil
		}
	}
	ms, err := e.machines()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Spec.Name == nameOrID || len(nameOrID) >= 12 && strings.HasPrefix(m.ID, nameOrID) {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w: machine %s", runtime.ErrNotFound, nameOrID)
}

// procStart returns a process's start time in clock ticks since boot, or
// false when it is gone or a zombie.
func procStart(pid int) (uint64, bool) {
	if pid <= 0 {
		return 0, false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command may hold spaces and parentheses: fields start after
	// the last ')'.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	t, err := strconv.ParseUint(f[19], 10, 64)
	return t, err == nil
}

// alive reports whether the machine's monitor still runs.
func (e *Engine) alive(m *machineRecord) bool {
	if m.run.BootID != "" && m.run.BootID != bootID() {
		return false
	}
	t, ok := procStart(m.run.Pid)
	return ok && t == m.run.PidStart
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

// CreateContainer records a machine and prepares its overlay. The image
// must be in the store; the networks are checked at start, as Docker does.
func (e *Engine) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if !validName.MatchString(spec.Name) {
		return "", fmt.Errorf("creating container %q: a machine name is 1 to 64 letters, digits, '_', '.' or '-'", spec.Name)
	}
	for _, p := range spec.Ports {
		if !p.HostIP.IsValid() {
			return "", fmt.Errorf("creating container %q: port %d: no host address to publish on", spec.Name, p.ContainerPort)
		}
	}
	names, err := cdiNames(spec.GPUs)
	if err != nil {
		return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
	}
	gpu, err := resolveCDI(e.cdiDirs, names)
	if err != nil {
		return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
	}
	unlock, err := e.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := e.machine(spec.Name); err == nil {
		return "", fmt.Errorf("creating container %q: %w", spec.Name, runtime.ErrConflict)
	}
	img, err := e.resolve(spec.Image)
	if err != nil {
		return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
	}
	b := make([]byte, 32)
	rand.Read(b)
	m := &machineRecord{ID: hex.EncodeToString(b), Spec: spec, ImageID: img.ID, Layers: img.Layers, Created: time.Now().UTC(), GPU: gpu}
	dir := e.machineDir(m.ID)
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
		}
	}
	// systemd-nspawn refuses a root without /usr; a static binary's image
	// has none. An empty one in the upper layer merges with the image's.
	if err := os.MkdirAll(filepath.Join(dir, "upper", "usr"), 0o755); err != nil {
		return "", err
	}
	for _, f := range []string{"stdout", "stderr"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			return "", err
		}
	}
	if err := e.saveMachine(m); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("creating container %q: %w", spec.Name, err)
	}
	return m.ID, nil
}

// InspectContainer reports one machine.
func (e *Engine) InspectContainer(ctx context.Context, nameOrID string) (runtime.Container, error) {
	m, err := e.machine(nameOrID)
	if err != nil {
		return runtime.Container{}, fmt.Errorf("inspecting container %q: %w", nameOrID, err)
	}
	return e.report(m), nil
}

func (e *Engine) report(m *machineRecord) runtime.Container {
	s := m.Spec
	c := runtime.Container{
		ID:        m.ID,
		Name:      s.Name,
		Image:     s.Image,
		ImageID:   m.ImageID,
		Labels:    s.Labels,
		Networks:  map[string]netip.Addr{},
		Ports:     slices.Clone(s.Ports),
		Resources: s.Resources,
		Env:       slices.Sorted(slices.Values(s.Env)),
		Mounts:    slices.Clone(s.Mounts),
		Cmd:       s.Cmd,
	}
	for _, ep := range s.Networks {
		c.Networks[ep.Network] = ep.IP
	}
	slices.SortFunc(c.Ports, func(a, b runtime.Port) int {
		if a.ContainerPort != b.ContainerPort {
			return int(a.ContainerPort) - int(b.ContainerPort)
		}
		return strings.Compare(a.Protocol, b.Protocol)
	})
	dir := e.machineDir(m.ID)
	started := m.run.StartedAt
	if data, err := os.ReadFile(filepath.Join(dir, "started")); err == nil {
		// The monitor's time of the latest (re)start.
		sec, frac, _ := strings.Cut(strings.TrimSpace(string(data)), ".")
		s, err1 := strconv.ParseInt(sec, 10, 64)
		us, err2 := strconv.ParseInt(frac, 10, 64)
		if err1 == nil && err2 == nil {
			started = time.Unix(s, us*1000).UTC()
		}
	}
	_, restarting := os.Stat(filepath.Join(dir, "restarting"))
	switch {
	case e.alive(m) && restarting == nil:
		c.State = runtime.StateRestarting
		c.StartedAt = started
	case e.alive(m):
		c.State = runtime.StateRunning
		c.StartedAt = started
	case !m.run.Started:
		c.State = runtime.StateCreated
	default:
		c.State = runtime.StateExited
		c.StartedAt = started
		c.ExitCode = 255 // ended without a word: the host went down
		if data, err := os.ReadFile(filepath.Join(dir, "exit")); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				c.ExitCode = n
			}
		}
	}
	return c
}

// ListContainers lists machines carrying all the given labels.
func (e *Engine) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.Container, error) {
	ms, err := e.machines()
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []runtime.Container
	for _, m := range ms {
		if matches(m.Spec.Labels, labels) {
			out = append(out, e.report(m))
		}
	}
	return out, nil
}

// StartContainer starts a machine; starting a running one is no error.
func (e *Engine) StartContainer(ctx context.Context, nameOrID string) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	m, err := e.machine(nameOrID)
	if err != nil {
		return fmt.Errorf("starting container %q: %w", nameOrID, err)
	}
	if e.alive(m) {
		return nil
	}
	if err := e.start(ctx, m); err != nil {
		// Undo what a half start made; the machine stays created.
		e.teardown(context.WithoutCancel(ctx), m)
		return fmt.Errorf("starting container %q: %w", nameOrID, err)
	}
	return nil
}

func (e *Engine) start(ctx context.Context, m *machineRecord) error {
	dir := e.machineDir(m.ID)
	var nets []networkRecord
	for _, ep := range m.Spec.Networks {
		n, err := e.network(ep.Network)
		if err != nil {
			return err
		}
		if err := e.checkAddress(m, ep); err != nil {
			return err
		}
		nets = append(nets, n)
	}
	img := imageRecord{}
	if err := readJSON(e.imagePath(m.ImageID), &img); err != nil {
		return fmt.Errorf("reading image %s: %w", m.ImageID, err)
	}
	e.teardown(ctx, m) // leftovers of a machine that died with the host
	// The overlay: the image's layers, top first, under the machine's own
	// upper directory.
	var lower []string
	for i := len(m.Layers) - 1; i >= 0; i-- {
		lower = append(lower, e.layerPath(m.Layers[i]))
	}
	if len(lower) == 0 {
		empty := filepath.Join(e.root, "empty") // outside layers/, which gc sweeps
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return err
		}
		lower = append(lower, empty)
	}
	rootfs := filepath.Join(dir, "rootfs")
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lower, ":"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := syscall.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting the machine's root: %w", err)
	}
	if err := run(ctx, "ip", "netns", "add", netnsName(m.ID)); err != nil {
		return err
	}
	if err := run(ctx, "ip", "-n", netnsName(m.ID), "link", "set", "lo", "up"); err != nil {
		return err
	}
	for i, ep := range m.Spec.Networks {
		if err := e.plug(ctx, m, nets[i], ep, i); err != nil {
			return err
		}
	}
	if err := e.publish(ctx, m); err != nil {
		return err
	}
	args, err := e.nspawnArgs(m, img)
	if err != nil {
		return err
	}
	cgroups, err := e.cgroupDirs(m)
	if err != nil {
		return fmt.Errorf("applying resource limits: %w", err)
	}
	for _, f := range []string{"exit", "stopped", "started", "restarting"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	pid, err := e.launch(ctx, m, args, cgroups)
	if err != nil {
		return err
	}
	start, _ := procStart(pid)
	m.run = runState{Started: true, StartedAt: time.Now().UTC(), Pid: pid, PidStart: start, BootID: bootID()}
	return e.saveRun(m)
}

// publish adds the DNAT rules of the machine's published ports.
func (e *Engine) publish(ctx context.Context, m *machineRecord) error {
	if len(m.Spec.Ports) == 0 || len(m.Spec.Networks) == 0 {
		return nil
	}
	ip := m.Spec.Networks[0].IP
	var rules []rule
	for _, p := range m.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		match := []string{"-p", proto, "--dport", strconv.Itoa(int(p.HostPort))}
		if p.HostIP.IsUnspecified() {
			match = append(match, "-m", "addrtype", "--dst-type", "LOCAL")
		} else {
			match = append(match, "-d", p.HostIP.String()+"/32")
		}
		to := []string{"-j", "DNAT", "--to-destination", fmt.Sprintf("%s:%d", ip, p.ContainerPort)}
		// Traffic made on this host (OUTPUT) reaches every published
		// port; traffic that arrives from elsewhere (PREROUTING) only a
		// port published on an address others can reach. A loopback
		// port stays the host's: nothing on the bridge or the LAN gets
		// to it by sending to 127.0.0.1.
		rules = append(rules, rule{"nat", "OUTPUT", append(slices.Clone(match), to...), false})
		if !p.HostIP.IsLoopback() {
			rules = append(rules, rule{"nat", "PREROUTING", append(slices.Clone(match), to...), false})
		}
	}
	return ensureRules(ctx, "berth-machine:"+m.ID[:16], rules)
}

// nspawnArgs builds the systemd-nspawn command line of a machine: the
// image's entrypoint, command, environment and working directory, with
// the spec's taking precedence as in Docker.
func (e *Engine) nspawnArgs(m *machineRecord, img imageRecord) ([]string, error) {
	s := m.Spec
	cfg := img.Config.Config
	args := []string{
		e.nspawn,
		"--register=no", "--keep-unit", "--quiet",
		"--directory=" + filepath.Join(e.machineDir(m.ID), "rootfs"),
		"--machine=" + s.Name,
		"--console=pipe",
		"--resolv-conf=off", "--timezone=off", "--link-journal=no",
		"--network-namespace-path=/run/netns/" + netnsName(m.ID),
		// Without it nspawn kills a machine that is not booted with
		// SIGKILL at once; SIGTERM lets the service stop cleanly.
		"--kill-signal=SIGTERM",
	}
	host := s.Hostname
	if host == "" {
		host = s.Name
	}
	args = append(args, "--hostname="+host)
	env := slices.Clone(cfg.Env)
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	// The image's environment is public (it is in the image); the spec's
	// holds passwords and tokens, so only its names go on the command
	// line, which every local user can read in /proc/*/cmdline. nspawn
	// takes the value of "--setenv=NAME" from its own environment, which
	// only root can read; launch puts it there (see secretEnv).
	for _, kv := range env {
		args = append(args, "--setenv="+kv)
	}
	for _, kv := range s.Env {
		name, _, _ := strings.Cut(kv, "=")
		if err := checkEnvName(name); err != nil {
			return nil, err
		}
		args = append(args, "--setenv="+name)
	}
	for _, kv := range m.GPU.Env {
		args = append(args, "--setenv="+kv)
	}
	wd := s.WorkingDir
	if wd == "" {
		wd = cfg.WorkingDir
	}
	if wd != "" {
		args = append(args, "--chdir="+wd)
	}
	user := s.User
	if user == "" {
		user = cfg.User
	}
	if user != "" && user != "root" && user != "0" {
		args = append(args, "--user="+user)
	}
	for _, mt := range append(slices.Clone(m.Spec.Mounts), m.GPU.Mounts...) {
		flag := "--bind="
		if mt.ReadOnly {
			flag = "--bind-ro="
		}
		args = append(args, flag+escapeColon(mt.Source)+":"+escapeColon(mt.Target))
	}
	for _, d := range append(slices.Clone(s.Devices), m.GPU.Devices...) {
		ctr := d.Container
		if ctr == "" {
			ctr = d.Host
		}
		args = append(args, "--bind="+escapeColon(d.Host)+":"+escapeColon(ctr))
	}
	for _, u := range s.Ulimits {
		args = append(args, fmt.Sprintf("--rlimit=RLIMIT_%s=%d:%d", strings.ToUpper(u.Name), u.Soft, u.Hard))
	}
	if s.Init {
		// nspawn's own stub init reaps orphans as PID 1.
		args = append(args, "--as-pid2")
	}
	entry := cfg.Entrypoint
	cmd := cfg.Cmd
	if len(s.Entrypoint) > 0 {
		entry, cmd = s.Entrypoint, nil
	}
	if len(s.Cmd) > 0 {
		cmd = s.Cmd
	}
	argv := append(slices.Clone(entry), cmd...)
	if len(argv) == 0 {
		return nil, fmt.Errorf("image %s has no entrypoint or command, and the spec none", m.Spec.Image)
	}
	args = append(args, "--")
	return append(args, argv...), nil
}

// envPrefix marks the spec's variables in the monitor's environment; the
// monitor exports each under its own name just before it runs nspawn.
// Under their own names they could change what the monitor shell itself
// does (BASH_ENV, PATH, IFS).
const envPrefix = "BERTH_ENV_"

// bashReadonly are variables bash will not let a script set.
var bashReadonly = map[string]bool{"BASHOPTS": true, "BASH_VERSINFO": true, "EUID": true, "PPID": true, "SHELLOPTS": true, "UID": true}

// checkEnvName refuses a variable name the monitor cannot hand to nspawn
// through its environment. berth's config allows only such names.
func checkEnvName(name string) error {
	ok := name != "" && !bashReadonly[name]
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("environment variable %q: an nspawn machine takes names of letters, digits and _ only, and not %s", name, strings.Join(slices.Sorted(maps.Keys(bashReadonly)), ", "))
	}
	return nil
}

// secretEnv is the spec's environment as the monitor gets it, and the
// shell words that export it under the real names.
func secretEnv(spec []string) (environ []string, exports string) {
	var words, prefixed []string
	for _, kv := range spec {
		name, value, _ := strings.Cut(kv, "=")
		environ = append(environ, envPrefix+name+"="+value)
		words = append(words, fmt.Sprintf(`%s="$%s%s"`, name, envPrefix, name))
		prefixed = append(prefixed, envPrefix+name)
	}
	if len(words) == 0 {
		return nil, ""
	}
	return environ, "export " + strings.Join(words, " ") + "; unset " + strings.Join(prefixed, " ") + "; "
}

// escapeColon escapes ':' in a --bind path, as nspawn reads it.
func escapeColon(p string) string { return strings.ReplaceAll(p, ":", `\:`) }

// launch starts the machine under a detached monitor shell that records
// the exit code and tears the machine's namespace and root down when it
// ends. The shell is started through an intermediate one that exits at
// once, so that the monitor is nobody's child and never a zombie of a
// berth that outlives it.
func (e *Engine) launch(ctx context.Context, m *machineRecord, args []string, cgroups []string) (int, error) {
	dir := e.machineDir(m.ID)
	environ, exports := secretEnv(m.Spec.Env)
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shq(a)
	}
	var join []string
	for _, c := range cgroups {
		// The monitor joins the machine's cgroups; nspawn and the
		// payload inherit them.
		join = append(join, fmt.Sprintf("echo $$ > %s", shq(c+"/cgroup.procs")))
	}
	out, errf := shq(dir+"/stdout.fifo"), shq(dir+"/stderr.fifo")
	policy := m.Spec.Restart
	if policy == "" {
		policy = "no"
	}
	// Each line of output is stored with its time (bash's EPOCHREALTIME,
	// no fork per line), so that logs can be merged, cut at --since and
	// shown with --timestamps. The loop applies the restart policy as
	// Docker does: a machine that exits on its own is started again, after
	// 100 ms doubling to a minute (back to 100 ms after a run of 10 s),
	// unless berth stopped it (the "stopped" marker).
	monitor := strings.Join(append(join,
		"exec </dev/null",
		`pump() { while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >>"$1"; }`,
		"d=100",
		"while :; do",
		fmt.Sprintf("  rm -f %s %s && mkfifo %s %s || exit 1", out, errf, out, errf),
		fmt.Sprintf("  pump %s <%s &", shq(dir+"/stdout"), out),
		fmt.Sprintf("  pump %s <%s &", shq(dir+"/stderr"), errf),
		fmt.Sprintf(`  printf '%%s' "$EPOCHREALTIME" > %s`, shq(dir+"/started")),
		"  t0=${EPOCHREALTIME%.*}",
		fmt.Sprintf("  (%sexec %s) >%s 2>%s", exports, strings.Join(q, " "), out, errf),
		"  code=$?",
		"  wait",
		fmt.Sprintf("  echo $code > %s.tmp && mv %s.tmp %s", shq(dir+"/exit"), shq(dir+"/exit"), shq(dir+"/exit")),
		fmt.Sprintf("  [ -e %s ] && break", shq(dir+"/stopped")),
		fmt.Sprintf("  case %s in always|unless-stopped) ;; on-failure) [ $code -ne 0 ] || break ;; *) break ;; esac", shq(policy)),
		"  [ $(( ${EPOCHREALTIME%.*} - t0 )) -ge 10 ] && d=100",
		fmt.Sprintf("  touch %s", shq(dir+"/restarting")),
		`  sleep "$((d / 1000)).$(printf '%03d' $((d % 1000)))"`,
		fmt.Sprintf("  rm -f %s", shq(dir+"/restarting")),
		fmt.Sprintf("  [ -e %s ] && break", shq(dir+"/stopped")),
		"  d=$(( d * 2 > 60000 ? 60000 : d * 2 ))",
		"done",
		fmt.Sprintf("rm -f %s %s %s", out, errf, shq(dir+"/restarting")),
		fmt.Sprintf("umount -l %s 2>/dev/null", shq(dir+"/rootfs")),
		fmt.Sprintf("ip netns del %s 2>/dev/null", netnsName(m.ID)),
	), "\n")
	pidFile := filepath.Join(dir, "monitor.pid")
	_ = os.Remove(pidFile)
	outer := fmt.Sprintf("setsid bash -c %s </dev/null >/dev/null 2>&1 & echo $! > %s", shq(monitor), shq(pidFile))
	cmd := exec.Command("sh", "-c", outer)
	cmd.Dir = "/"
	// berth's own environment stays out of the monitor and nspawn; the
	// spec's goes in under envPrefix, never on a command line.
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}, environ...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("launching the machine: %v: %s", err, out)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("launching the machine: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("launching the machine: pid %q: %w", data, err)
	}
	return pid, nil
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// teardown removes what a start made: port rules, the namespace with its
// interfaces, the root mount. Each step is a no-op when already undone.
func (e *Engine) teardown(ctx context.Context, m *machineRecord) {
	_ = deleteRules(ctx, "berth-machine:"+m.ID[:16])
	for _, ep := range m.Spec.Networks {
		_ = run(ctx, "ip", "link", "del", vethName(m.ID, ep.Network))
	}
	_ = run(ctx, "ip", "netns", "del", netnsName(m.ID))
	_ = syscall.Unmount(filepath.Join(e.machineDir(m.ID), "rootfs"), syscall.MNT_DETACH)
	if !e.alive(m) {
		e.removeCgroups(m)
	}
}

// StopContainer stops a machine: SIGTERM to its payload through nspawn,
// then SIGKILL to everything in it after timeout.
func (e *Engine) StopContainer(ctx context.Context, nameOrID string, timeout time.Duration) error {
	m, err := e.machine(nameOrID)
	if err != nil {
		return fmt.Errorf("stopping container %q: %w", nameOrID, err)
	}
	if err := e.stop(ctx, m, timeout); err != nil {
		return fmt.Errorf("stopping container %q: %w", nameOrID, err)
	}
	return nil
}

func (e *Engine) stop(ctx context.Context, m *machineRecord, timeout time.Duration) error {
	if !e.alive(m) {
		return nil
	}
	// The monitor must not restart what berth stops.
	if err := os.WriteFile(filepath.Join(e.machineDir(m.ID), "stopped"), nil, 0o600); err != nil {
		return err
	}
	if p := nspawnPid(m.run.Pid); p > 0 && timeout > 0 {
		_ = syscall.Kill(p, syscall.SIGTERM)
		deadline := time.Now().Add(timeout)
		for e.alive(m) && time.Now().Before(deadline) {
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
	}
	for e.alive(m) {
		for _, p := range descendants(m.run.Pid) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	// The monitor ran its teardown; the port rules and cgroups are
	// berth's to remove.
	_ = deleteRules(context.WithoutCancel(ctx), "berth-machine:"+m.ID[:16])
	e.removeCgroups(m)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// nspawnPid is the monitor's systemd-nspawn child, or 0.
func nspawnPid(monitor int) int {
	for _, p := range descendants(monitor) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
		if err == nil && strings.TrimSpace(string(comm)) == "systemd-nspawn" {
			return p
		}
	}
	return 0
}

// descendants lists the processes below pid, parents before children.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, en := range ents {
		p, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + en.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := slices.Clone(children[pid])
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

// leader is the machine's PID 1 as the host sees it: the descendant of the
// monitor whose innermost PID is 1.
func (e *Engine) leader(m *machineRecord) (int, error) {
	for _, p := range descendants(m.run.Pid) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(rest)
				if len(f) > 1 && f[len(f)-1] == "1" {
					return p, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("machine %s has no running payload", m.Spec.Name)
}

// RemoveContainer stops and removes a machine, keeping its bind-mounted
// data: berth never deletes data.
func (e *Engine) RemoveContainer(ctx context.Context, nameOrID string) error {
	m, err := e.machine(nameOrID)
	if err != nil {
		return fmt.Errorf("removing container %q: %w", nameOrID, err)
	}
	if err := e.stop(ctx, m, 0); err != nil {
		return fmt.Errorf("removing container %q: %w", nameOrID, err)
	}
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	e.teardown(ctx, m)
	dir := e.machineDir(m.ID)
	if mounted(filepath.Join(dir, "rootfs")) {
		return fmt.Errorf("removing container %q: its root is still mounted at %s", nameOrID, filepath.Join(dir, "rootfs"))
	}
	// spec.json goes first, so that a half-removed machine is not listed.
	if err := os.Remove(filepath.Join(dir, "spec.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing container %q: %w", nameOrID, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing container %q: %w", nameOrID, err)
	}
	return e.gc()
}

// mounted reports whether path is a mount point: a device other than its
// parent's.
func mounted(path string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(path, &a) != nil || syscall.Stat(filepath.Dir(path), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

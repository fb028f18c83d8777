package compose

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
)

// ExportOptions tune Export.
type ExportOptions struct {
	// SecretsDir is where each container's generated secrets are written,
	// as <container>.env (mode 0600), named in env_file so that they never
	// appear in the compose file. Needed when a container has secrets.
	SecretsDir string
	// OmitGPU says a container's optional GPU request gets nothing on this
	// host (berth runs it without a GPU); docker compose would refuse to
	// start it, so no reservation is written.
	OmitGPU func(container string) bool
	// Only, when not nil, limits the file to these containers and what
	// they depend on (compose refuses a depends_on on a missing service).
	Only map[string]bool
}

// Exported is a compose file for the kits.
type Exported struct {
	YAML []byte
	// Notes say where docker compose will behave differently.
	Notes []string
	// SecretFiles are the env files written under SecretsDir.
	SecretFiles []string
}

type cFile struct {
	Name     string                `yaml:"name"`
	Services map[string]*cService  `yaml:"services"`
	Networks map[string]*cNetwork  `yaml:"networks,omitempty"`
	Volumes  map[string]*yaml.Node `yaml:"volumes,omitempty"`
}

type cService struct {
	Image         string                  `yaml:"image"`
	ContainerName string                  `yaml:"container_name"`
	Hostname      string                  `yaml:"hostname,omitempty"`
	Entrypoint    []string                `yaml:"entrypoint,omitempty,flow"`
	Command       []string                `yaml:"command,omitempty,flow"`
	User          string                  `yaml:"user,omitempty"`
	WorkingDir    string                  `yaml:"working_dir,omitempty"`
	Environment   map[string]string       `yaml:"environment,omitempty"`
	EnvFile       []string                `yaml:"env_file,omitempty"`
	Expose        []string                `yaml:"expose,omitempty,flow"`
	Ports         []string                `yaml:"ports,omitempty"`
	Networks      map[string]*cServiceNet `yaml:"networks"`
	Volumes       []cVolume               `yaml:"volumes,omitempty"`
	ShmSize       string                  `yaml:"shm_size,omitempty"`
	Deploy        *cDeploy                `yaml:"deploy,omitempty"`
	Healthcheck   *cHealth                `yaml:"healthcheck,omitempty"`
	DependsOn     map[string]cDep         `yaml:"depends_on,omitempty"`
	Restart       string                  `yaml:"restart,omitempty"`
	Labels        map[string]string       `yaml:"labels,omitempty"`
	XBerth        *xBerth                 `yaml:"x-berth,omitempty"`
}

type cServiceNet struct {
	IPv4Address string `yaml:"ipv4_address"`
}

type cVolume struct {
	Type     string `yaml:"type"`
	Source   string `yaml:"source"`
	Target   string `yaml:"target"`
	ReadOnly bool   `yaml:"read_only,omitempty"`
	Bind     *struct {
		CreateHostPath bool `yaml:"create_host_path"`
	} `yaml:"bind,omitempty"`
}

type cDeploy struct {
	Resources cResources `yaml:"resources"`
}

type cResources struct {
	Limits       *cLimits `yaml:"limits,omitempty"`
	Reservations *struct {
		Devices []cDevice `yaml:"devices"`
	} `yaml:"reservations,omitempty"`
}

type cLimits struct {
	CPUs   string `yaml:"cpus,omitempty"`
	Memory string `yaml:"memory,omitempty"`
	Pids   int64  `yaml:"pids,omitempty"`
}

type cDevice struct {
	Driver       string   `yaml:"driver,omitempty"`
	Count        any      `yaml:"count,omitempty"`
	DeviceIDs    []string `yaml:"device_ids,omitempty,flow"`
	Capabilities []string `yaml:"capabilities,flow"`
}

type cHealth struct {
	Test        []string `yaml:"test,flow"`
	Interval    string   `yaml:"interval,omitempty"`
	Timeout     string   `yaml:"timeout,omitempty"`
	StartPeriod string   `yaml:"start_period,omitempty"`
	Retries     int      `yaml:"retries,omitempty"`
}

type cDep struct {
	Condition string `yaml:"condition"`
}

type cNetwork struct {
	IPAM struct {
		Config []map[string]string `yaml:"config"`
	} `yaml:"ipam"`
}

// Export writes a compose file for the desired state st, compiled from
// cfg: the same container names, images, commands, environment, static
// addresses on one network per kit (with its subnet and gateway),
// published ports, mounts, limits, GPU reservations and exec health
// checks. What compose cannot say (berth's host-side health checks, an
// optional GPU) is kept in each service's x-berth field, which Import
// reads back, and said in Notes.
func Export(cfg *config.Config, st *desired.State, opts ExportOptions) (*Exported, error) {
	out := &Exported{}
	if opts.Only != nil {
		keep := map[string]bool{}
		var add func(name string)
		add = func(name string) {
			if keep[name] {
				return
			}
			keep[name] = true
			if c := st.Container(name); c != nil {
				for _, d := range c.DependsOn {
					add(d.Name)
				}
			}
		}
		for name := range opts.Only {
			add(name)
		}
		st = st.Only(keep)
	}
	f := cFile{Name: st.Project, Services: map[string]*cService{}, Networks: map[string]*cNetwork{}}
	kitOfNet := map[string]string{}
	for _, n := range st.Networks {
		kitOfNet[n.Spec.Name] = n.Kit
		cn := &cNetwork{}
		cn.IPAM.Config = []map[string]string{{"subnet": n.Spec.Subnet.String(), "gateway": n.Spec.Gateway.String()}}
		f.Networks[n.Kit] = cn
	}
	// Compose service names: the berth service name where it is unique.
	count := map[string]int{}
	for _, c := range st.Containers {
		count[c.Service]++
	}
	key := map[string]string{} // container → compose service name
	for _, c := range st.Containers {
		key[c.Spec.Name] = c.Service
		if count[c.Service] > 1 {
			key[c.Spec.Name] = c.Spec.Name
		}
	}
	execHealth := map[string]bool{}
	for _, c := range st.Containers {
		execHealth[c.Spec.Name] = c.Health != nil && c.Health.Kind == "exec"
	}
	for i := range st.Containers {
		c := &st.Containers[i]
		s := cfg.Service(c.Kit, c.Service)
		if s == nil {
			return nil, fmt.Errorf("exporting %s: not in the config", c.Spec.Name)
		}
		cs, err := exportService(c, s, opts, key, kitOfNet, execHealth, st, out)
		if err != nil {
			return nil, err
		}
		f.Services[key[c.Spec.Name]] = cs
	}
	var b strings.Builder
	b.WriteString("# Written by berth export compose from " + cfg.File + ".\n")
	b.WriteString("# docker compose up runs the same containers at the same addresses;\n")
	b.WriteString("# x-berth holds what compose cannot say, for berth import compose.\n")
	var data bytes.Buffer
	enc := yaml.NewEncoder(&data)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("encoding the compose file: %w", err)
	}
	enc.Close()
	b.Write(data.Bytes())
	out.YAML = []byte(b.String())
	sort.Strings(out.Notes)
	return out, nil
}

func exportService(c *desired.Container, s *config.Service, opts ExportOptions, key, kitOfNet map[string]string,
	execHealth map[string]bool, st *desired.State, out *Exported) (*cService, error) {
	spec := c.Spec
	cs := &cService{
		Image: spec.Image, ContainerName: spec.Name, Hostname: spec.Hostname,
		Entrypoint: escapeAll(spec.Entrypoint), Command: escapeAll(spec.Cmd), User: spec.User, WorkingDir: spec.WorkingDir,
		Restart: spec.Restart, Networks: map[string]*cServiceNet{},
	}
	xopts := map[string]any{}

	// Generated secrets: a value in the environment goes to an env file;
	// a secret given as a file (POSTGRES_PASSWORD_FILE) keeps its variable
	// and its read-only mount of berth's secret file. x-berth says which
	// they are (names and paths, never values), so that import leaves them
	// to the catalog, which makes the same secrets again.
	secretEnv := map[string]bool{}
	xs := &xSecrets{}
	for _, ref := range c.SecretRefs {
		if ref.File == "" {
			secretEnv[ref.Env] = true
		} else {
			xs.Env = append(xs.Env, ref.Env)
			xs.Mounts = append(xs.Mounts, ref.File)
		}
	}
	// Values that came from the service's envFiles stay in those files,
	// named in env_file: they may be secrets too.
	fromFiles := map[string]string{}
	for _, file := range s.EnvFiles {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("exporting %s: %w", spec.Name, err)
		}
		vars, err := config.ParseDotEnv(file, data)
		if err != nil {
			return nil, fmt.Errorf("exporting %s: %w", spec.Name, err)
		}
		for k, v := range vars {
			fromFiles[k] = v
		}
		cs.EnvFile = append(cs.EnvFile, file)
	}
	var secretLines []string
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		if fv, ok := fromFiles[k]; ok && fv == v {
			continue
		}
		if secretEnv[k] {
			secretLines = append(secretLines, k+"="+quoteEnv(v))
			continue
		}
		if cs.Environment == nil {
			cs.Environment = map[string]string{}
		}
		cs.Environment[k] = escape(v)
	}
	if len(secretLines) > 0 {
		if opts.SecretsDir == "" {
			return nil, fmt.Errorf("exporting %s: it has secrets and no directory to write them to", spec.Name)
		}
		file, err := writeSecretEnv(opts.SecretsDir, spec.Name, secretLines)
		if err != nil {
			return nil, err
		}
		cs.EnvFile = append(cs.EnvFile, file)
		out.SecretFiles = append(out.SecretFiles, file)
		xs.EnvFiles = append(xs.EnvFiles, file)
	}
	for _, p := range c.Listen {
		cs.Expose = append(cs.Expose, strconv.Itoa(int(p)))
	}
	for _, p := range spec.Ports {
		cs.Ports = append(cs.Ports, fmt.Sprintf("%s:%d:%d", p.HostIP, p.HostPort, p.ContainerPort))
	}
	for _, ep := range spec.Networks {
		cs.Networks[kitOfNet[ep.Network]] = &cServiceNet{IPv4Address: ep.IP.String()}
	}
	for _, m := range spec.Mounts {
		v := cVolume{Type: "bind", Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		// berth creates missing data paths, and so does compose with this.
		v.Bind = &struct {
			CreateHostPath bool `yaml:"create_host_path"`
		}{true}
		cs.Volumes = append(cs.Volumes, v)
	}
	r := spec.Resources
	if r.ShmBytes > 0 {
		cs.ShmSize = size(r.ShmBytes)
	}
	var lim *cLimits
	if r.MemoryBytes > 0 || r.NanoCPUs > 0 || r.PidsLimit > 0 {
		lim = &cLimits{Pids: r.PidsLimit}
		if r.MemoryBytes > 0 {
			lim.Memory = size(r.MemoryBytes)
		}
		if r.NanoCPUs > 0 {
			lim.CPUs = strconv.FormatFloat(float64(r.NanoCPUs)/1e9, 'f', -1, 64)
		}
	}
	var devices []cDevice
	if g := c.GPU; g != nil {
		omit := g.Optional && opts.OmitGPU != nil && opts.OmitGPU(spec.Name)
		// Import reads a compose device request as an nvidia one; anything
		// else (any vendor, optional, a mode) goes into x-berth.
		if g.Optional || g.Mode != "auto" && g.Mode != "" || g.Vendor != "nvidia" {
			xopts["gpu"] = gpuOption(g)
		}
		switch {
		case omit:
			out.Notes = append(out.Notes, spec.Name+": its optional GPU request gets nothing on this host, so no reservation is written")
		case g.Vendor != "" && g.Vendor != "nvidia":
			out.Notes = append(out.Notes, spec.Name+": "+g.Vendor+" GPUs have no compose device request; it runs without a GPU under compose")
		default:
			d := cDevice{Driver: "nvidia", Capabilities: g.Capabilities}
			if len(d.Capabilities) == 0 {
				d.Capabilities = []string{"gpu"}
			}
			switch {
			case len(g.IDs) > 0:
				d.DeviceIDs = g.IDs
			case g.Count > 0:
				d.Count = g.Count
			default:
				d.Count = "all"
			}
			devices = append(devices, d)
			if g.Optional {
				out.Notes = append(out.Notes, spec.Name+": its GPU request is optional in berth; docker compose fails where no NVIDIA runtime is installed")
			}
		}
	}
	if lim != nil || len(devices) > 0 {
		cs.Deploy = &cDeploy{Resources: cResources{Limits: lim}}
		if len(devices) > 0 {
			cs.Deploy.Resources.Reservations = &struct {
				Devices []cDevice `yaml:"devices"`
			}{devices}
		}
	}
	if h := c.Health; h != nil {
		if h.Kind == "exec" && spec.Healthcheck != nil {
			hc := spec.Healthcheck
			cs.Healthcheck = &cHealth{Test: escapeAll(hc.Test), Retries: hc.Retries}
			if hc.Interval > 0 {
				cs.Healthcheck.Interval = hc.Interval.String()
			}
			if hc.Timeout > 0 {
				cs.Healthcheck.Timeout = hc.Timeout.String()
			}
			if hc.StartPeriod > 0 {
				cs.Healthcheck.StartPeriod = hc.StartPeriod.String()
			}
		} else {
			out.Notes = append(out.Notes, fmt.Sprintf("%s: berth's %s health check runs from the host; compose has no such check", spec.Name, h.Kind))
			if s.Health != nil {
				xopts["health"] = healthOption(s.Health)
			}
		}
	}
	if c.Health == nil && s.Health != nil && s.Health.Kind == "none" {
		xopts["health"] = "none"
	}
	if len(c.DependsOn) > 0 {
		cs.DependsOn = map[string]cDep{}
		downgraded := false
		berthDeps := map[string]string{}
		for _, d := range c.DependsOn {
			cond := "service_started"
			if d.Condition == desired.ConditionHealthy {
				if execHealth[d.Name] {
					cond = "service_healthy"
				} else {
					downgraded = true
					out.Notes = append(out.Notes, fmt.Sprintf("%s: waits for %s to start, not to be healthy, under compose", spec.Name, d.Name))
				}
			}
			cs.DependsOn[key[d.Name]] = cDep{Condition: cond}
			t := st.Container(d.Name)
			ref := t.Service
			if t.Kit != c.Kit {
				ref = t.Kit + "/" + t.Service
			}
			berthDeps[ref] = string(d.Condition)
		}
		if downgraded {
			xopts["dependsOn"] = berthDeps
		}
	}
	if len(s.Labels) > 0 {
		cs.Labels = map[string]string{}
		for k, v := range s.Labels {
			cs.Labels[k] = escape(v)
		}
	}
	cs.XBerth = &xBerth{Kit: c.Kit, Service: c.Service}
	if len(xs.Env)+len(xs.EnvFiles) > 0 {
		cs.XBerth.Secrets = xs
	}
	if len(xopts) > 0 {
		cs.XBerth.Options = xopts
	}
	return cs, nil
}

func escapeAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = escape(s)
	}
	return out
}

// quoteEnv writes a value for an env file line so that it reads back the
// same in berth's and compose's parsers: single quotes when it has
// anything a parser could take for syntax.
func quoteEnv(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t#'\"\\$\n") {
		return v
	}
	if !strings.ContainsAny(v, "'\n") {
		return "'" + v + "'"
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}

func writeSecretEnv(dir, container string, lines []string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("writing secrets of %s: %w", container, err)
	}
	file := filepath.Join(dir, container+".env")
	tmp := file + ".tmp"
	data := []byte(strings.Join(lines, "\n") + "\n")
	// 0600 from the start: the file never exists readable by others.
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", fmt.Errorf("writing secrets of %s: %w", container, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", fmt.Errorf("writing secrets of %s: %w", container, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return "", fmt.Errorf("writing secrets of %s: %w", container, err)
	}
	return file, nil
}

func gpuOption(g *desired.GPU) map[string]any {
	m := map[string]any{}
	switch {
	case g.All:
		m["devices"] = "all"
	case g.Count > 0:
		m["devices"] = g.Count
	default:
		m["devices"] = g.IDs
	}
	if g.Vendor != "" {
		m["vendor"] = g.Vendor
	}
	if len(g.Capabilities) > 0 {
		m["capabilities"] = g.Capabilities
	}
	if g.Mode != "" && g.Mode != "auto" {
		m["mode"] = g.Mode
	}
	if g.Optional {
		m["optional"] = true
	}
	return m
}

func healthOption(h *config.Health) any {
	if h.Kind == "none" {
		return "none"
	}
	m := map[string]any{}
	switch h.Kind {
	case "http":
		m["http"] = h.Path
	case "tcp":
		m["tcp"] = true
	}
	if h.Port != 0 {
		m["port"] = int(h.Port)
	}
	m["interval"] = h.Interval.String()
	m["timeout"] = h.Timeout.String()
	if h.StartPeriod > 0 {
		m["startPeriod"] = h.StartPeriod.String()
	}
	return m
}

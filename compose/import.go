// Package compose converts between Compose files and berth.yaml. Import
// reads compose files with the Compose Specification's own loader
// (interpolation, .env, env_file, extends, profiles, several files merged
// in order) and writes berth.yaml text, reporting every field it cannot
// map with its file:line and a hint; Export writes a compose file for the
// kits that docker compose runs to the same containers and addresses.
package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v3"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/kits"
)

// ImportOptions say what to import and into which config.
type ImportOptions struct {
	// Files are the compose files, merged in order. Relative names start
	// at Dir.
	Files []string
	// Dir is the working directory: where relative Files are, and the
	// compose project's directory; the current directory when empty.
	Dir string
	// Kit names the kit of the compose default network (and of a file's
	// only network); the compose project name when empty.
	Kit string
	// EnvFiles are the --env-file files for interpolation; the .env next
	// to the first compose file when empty.
	EnvFiles []string
	// Profiles whose services are enabled; "*" enables every one.
	Profiles []string
	// Environ is the environment interpolation sees (os.Environ()).
	Environ []string
	// Config is the berth.yaml the services are added to; it need not
	// exist. envFile and bind mount paths are written absolute, so the
	// file can live anywhere.
	Config string
	// Getenv serves ${VAR} in the existing berth.yaml when it is checked.
	Getenv func(string) string
}

// Note is one thing Import could not map as written: a refused field, or
// a mapped one whose meaning differs, with where it was written.
type Note struct {
	Pos     config.Pos
	Service string // compose service name; empty for a top-level field
	Field   string // compose field path, e.g. services.web.cap_add
	Refused bool
	Msg     string
	Hint    string
}

func (n Note) String() string {
	kind := "note"
	if n.Refused {
		kind = "not imported"
	}
	s := fmt.Sprintf("%s: %s: %s: %s", n.Pos, n.Field, kind, n.Msg)
	if n.Hint != "" {
		s += " (" + n.Hint + ")"
	}
	return s
}

// Result is what Import made.
type Result struct {
	// YAML is the whole berth.yaml: the existing file with the imported
	// kits and services added.
	YAML []byte
	// Notes are every refused field and every mapping with a difference,
	// in file order.
	Notes []Note
	// Services are the imported services as kit/service.
	Services []string
	// Config and State are the written config, loaded and compiled
	// offline, as berth plan --offline shows it.
	Config *config.Config
	State  *desired.State
}

// ErrInvalid wraps the problems of a written config that does not
// validate; Result.YAML still holds the text.
var ErrInvalid = errors.New("the imported config does not validate")

// logMu serialises loads: compose-go warns through logrus's global
// logger, which Import redirects into notes while it loads.
var logMu sync.Mutex

// Import reads the compose files and returns berth.yaml text with their
// services in it.
func Import(ctx context.Context, opts ImportOptions) (*Result, error) {
	if len(opts.Files) == 0 {
		return nil, errors.New("importing compose files: no file given")
	}
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("importing compose files: %w", err)
		}
	}
	proj, warnings, err := loadProject(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	im := &importer{opts: opts, proj: proj, pos: newPositions(opts.Files, dir), kitOf: map[string]string{}}
	for _, w := range warnings {
		// compose-go's warnings name a top-level attribute at most; its
		// line is found like any other field's.
		n := Note{Pos: config.Pos{File: opts.Files[0]}, Field: "compose", Msg: w}
		if m := attrRE.FindStringSubmatch(w); m != nil {
			n.Field, n.Pos = m[1], im.pos.at(m[1])
			if _, after, ok := strings.Cut(w, ": "); ok && strings.HasPrefix(w, "/") {
				n.Msg = after // the path is in the position already
			}
		}
		im.notes = append(im.notes, n)
	}
	existing, err := im.readExisting()
	if err != nil {
		return nil, err
	}
	im.existing = existing
	im.topLevel()
	im.plan()
	doc := im.build()
	out, err := im.merge(doc)
	if err != nil {
		return nil, err
	}
	res := &Result{YAML: out, Services: im.imported}
	sortNotes(im.notes)
	res.Notes = im.notes
	cfgFile := opts.Config
	if cfgFile == "" {
		cfgFile = config.DefaultFile
	}
	getenv := withDotEnv(cfgFile, opts.Getenv)
	cfg, err := config.Parse(cfgFile, out, config.ParseOptions{Getenv: getenv, DefaultProject: projectDefault(cfgFile), Dir: filepath.Dir(cfgFile)})
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	st, err := desired.Compile(cfg, desired.Options{})
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	res.Config, res.State = cfg, st
	im.checkAddresses(st)
	sortNotes(im.notes)
	res.Notes = im.notes
	return res, nil
}

// withDotEnv is getenv with the .env next to the config behind it, as
// config.Load reads it: the written config is checked as berth will
// load it.
func withDotEnv(cfgFile string, getenv func(string) string) func(string) string {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	file := filepath.Join(filepath.Dir(cfgFile), config.DotEnvFile)
	data, err := os.ReadFile(file)
	if err != nil {
		return getenv
	}
	vars, err := config.ParseDotEnv(file, data)
	if err != nil {
		return getenv
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vars[k]
	}
}

func projectDefault(cfgFile string) string {
	if abs, err := filepath.Abs(cfgFile); err == nil {
		return filepath.Base(filepath.Dir(abs))
	}
	return ""
}

func sortNotes(ns []Note) {
	sort.SliceStable(ns, func(i, j int) bool {
		a, b := ns[i].Pos, ns[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return ns[i].Field+ns[i].Msg < ns[j].Field+ns[j].Msg
	})
}

func loadProject(ctx context.Context, dir string, opts ImportOptions) (*types.Project, []string, error) {
	files := make([]string, len(opts.Files))
	for i, f := range opts.Files {
		files[i] = absIn(dir, f)
	}
	envFiles := make([]string, len(opts.EnvFiles))
	for i, f := range opts.EnvFiles {
		envFiles[i] = absIn(dir, f)
	}
	po, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(filepath.Dir(files[0])),
		cli.WithEnv(opts.Environ),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		// Every service is loaded; which are enabled is Import's choice.
		cli.WithProfiles([]string{"*"}),
		// env_file stays a file reference (envFile:), so that secrets in it
		// are not copied into berth.yaml.
		cli.WithoutEnvironmentResolution,
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("loading compose files: %w", err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	var logs bytes.Buffer
	prevOut, prevFmt := logrus.StandardLogger().Out, logrus.StandardLogger().Formatter
	logrus.SetOutput(&logs)
	logrus.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableQuote: true})
	proj, err := po.LoadProject(ctx)
	logrus.SetOutput(prevOut)
	logrus.SetFormatter(prevFmt)
	if err != nil {
		return nil, nil, fmt.Errorf("loading compose files: %w", err)
	}
	var warnings []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if _, msg, ok := strings.Cut(l, "msg="); ok {
			warnings = append(warnings, msg)
		}
	}
	return proj, warnings, nil
}

type importer struct {
	opts     ImportOptions
	proj     *types.Project
	pos      *positions
	notes    []Note
	existing *existingConfig

	kitOf    map[string]string // compose network key → kit
	kits     []*kitPlan        // in order of first use
	services []*svcPlan        // sorted by compose name
	imported []string
}

type kitPlan struct {
	name    string
	network string // compose network key
	subnet  netip.Prefix
	host    netip.Addr
	comment string
	exists  bool // already in the config
}

type svcPlan struct {
	compose string // compose service name
	kit     string
	name    string // berth service name
	catalog *kits.Service
	cfg     types.ServiceConfig
	enabled bool
	nets    []string // compose network keys, the primary first
	xberth  *xBerth
}

// xBerth is a service's x-berth extension, written by Export.
type xBerth struct {
	Kit     string         `yaml:"kit"`
	Service string         `yaml:"service"`
	Options map[string]any `yaml:"options,omitempty"`
	Secrets *xSecrets      `yaml:"secrets,omitempty"`
}

// xSecrets names how a catalog service's generated secrets reach it in
// an exported file, so that import leaves them to the catalog: env files
// holding values, variables naming a secret file, and the mounts of
// those files. Names and paths only, never values.
type xSecrets struct {
	EnvFiles []string `yaml:"envFiles,omitempty"`
	Env      []string `yaml:"env,omitempty"`
	Mounts   []string `yaml:"mounts,omitempty"`
}

func (x *xBerth) secretEnvFile(path string) bool {
	return x != nil && x.Secrets != nil && slices.Contains(x.Secrets.EnvFiles, path)
}

func (x *xBerth) secretEnv(k string) bool {
	return x != nil && x.Secrets != nil && slices.Contains(x.Secrets.Env, k)
}

func (x *xBerth) secretMount(target string) bool {
	return x != nil && x.Secrets != nil && slices.Contains(x.Secrets.Mounts, target)
}

type existingConfig struct {
	text    []byte
	root    *yaml.Node // mapping; nil when there is no file
	cfg     *config.Config
	subnets []netip.Prefix
}

func (im *importer) readExisting() (*existingConfig, error) {
	ex := &existingConfig{}
	for _, k := range kits.All() {
		ex.subnets = append(ex.subnets, k.Subnet)
	}
	if im.opts.Config == "" {
		return ex, nil
	}
	data, err := os.ReadFile(im.opts.Config)
	if errors.Is(err, fs.ErrNotExist) {
		return ex, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", im.opts.Config, err)
	}
	getenv := withDotEnv(im.opts.Config, im.opts.Getenv)
	cfg, err := config.Parse(im.opts.Config, data, config.ParseOptions{Getenv: getenv, DefaultProject: projectDefault(im.opts.Config), Dir: filepath.Dir(im.opts.Config)})
	if err != nil {
		return nil, fmt.Errorf("the existing config is not valid, fix it first: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reading %s: %w", im.opts.Config, err)
	}
	ex.text, ex.cfg = data, cfg
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		ex.root = doc.Content[0]
	}
	for _, k := range cfg.Kits {
		if k.Subnet.IsValid() {
			ex.subnets = append(ex.subnets, k.Subnet)
		}
	}
	return ex, nil
}

var attrRE = regexp.MustCompile("attribute `([A-Za-z0-9_-]+)`")

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// berthName turns a compose name into a berth one: lowercase letters,
// digits and '-', starting with a letter.
func berthName(s string) string {
	s = nonName.ReplaceAllString(strings.ToLower(s), "-")
	s = strings.Trim(s, "-")
	for s != "" && (s[0] >= '0' && s[0] <= '9') {
		s = s[1:]
	}
	if s == "" {
		return "app"
	}
	return s
}

func (im *importer) note(svc, field string, refused bool, msg, hint string, path ...string) {
	im.notes = append(im.notes, Note{Pos: im.pos.at(path...), Service: svc, Field: field, Refused: refused, Msg: msg, Hint: hint})
}

// topLevel reports the top-level sections berth has no place for.
func (im *importer) topLevel() {
	p := im.proj
	for _, name := range sortedKeys(p.Secrets) {
		im.note("", "secrets."+name, true, whyNoSecret, "", "secrets", name)
	}
	for _, name := range sortedKeys(p.Configs) {
		im.note("", "configs."+name, true, "configs are not supported", "write the content to a file and bind mount it read-only", "configs", name)
	}
	for _, name := range sortedKeys(p.Models) {
		im.note("", "models."+name, true, "Docker Model Runner models are not supported", "use the ml kit's ollama or vllm", "models", name)
	}
	for _, name := range sortedKeys(p.Jobs) {
		im.note("", "jobs."+name, true, "jobs are not supported", "berth runs long-lived services only", "jobs", name)
	}
}

// plan decides kits, names and networks before any option is written.
func (im *importer) plan() {
	base := im.opts.Kit
	if base == "" {
		base = berthName(im.proj.Name)
	}
	names := make([]string, 0, len(im.proj.Services))
	for n := range im.proj.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	// Which networks the services use, for the kit of a file's only one.
	used := map[string]bool{}
	for _, n := range names {
		for net := range im.proj.Services[n].Networks {
			used[net] = true
		}
	}
	for _, n := range names {
		sc := im.proj.Services[n]
		sp := &svcPlan{compose: n, cfg: sc, name: berthName(n), enabled: im.profileEnabled(sc.Profiles)}
		if x, ok := sc.Extensions["x-berth"]; ok {
			sp.xberth = decodeXBerth(x)
		}
		if sp.name != n {
			im.note(n, "services."+n, false, fmt.Sprintf("the service is called %s in berth", sp.name), "berth names are lowercase letters, digits and '-'", "services", n)
		}
		sp.nets = im.networkOrder(n, sc)
		if sp.xberth != nil && sp.xberth.Service != "" {
			sp.name = sp.xberth.Service
		}
		if sp.xberth != nil && sp.xberth.Kit != "" {
			// Export names each kit's network after the kit: that one is
			// the service's own, whatever order the file lists them in.
			for i, net := range sp.nets {
				if net == sp.xberth.Kit {
					sp.nets = append(append([]string{net}, sp.nets[:i]...), sp.nets[i+1:]...)
					break
				}
			}
		}
		for i, net := range sp.nets {
			kit := im.kitOf[net]
			if kit == "" {
				switch {
				case i == 0 && sp.xberth != nil && sp.xberth.Kit != "":
					kit = sp.xberth.Kit
				case net == "default" || len(used) == 1:
					kit = base
				default:
					kit = berthName(net)
				}
				im.kitOf[net] = kit
				im.addKit(kit, net)
			}
			if i == 0 {
				sp.kit = kit
			}
		}
		if sp.kit == "" {
			sp.kit = base
			im.addKit(base, "")
		}
		if bk := kits.Get(sp.kit); bk != nil {
			sp.catalog = bk.Service(sp.name)
		}
		im.services = append(im.services, sp)
	}
	// An enabled service's dependencies run too, whatever their profiles:
	// docker compose up refuses a dependency its profiles leave out.
	for changed := true; changed; {
		changed = false
		for _, sp := range im.services {
			if !sp.enabled {
				continue
			}
			for dep, d := range sp.cfg.DependsOn {
				if t := im.peek(dep); t != nil && !t.enabled && d.Required {
					t.enabled, changed = true, true
					im.note(t.compose, "services."+t.compose+".profiles", false,
						fmt.Sprintf("enabled although its profiles are not given: %s depends on it", sp.compose), "", "services", t.compose, "profiles")
				}
			}
		}
	}
}

func decodeXBerth(v any) *xBerth {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil
	}
	var x xBerth
	if yaml.Unmarshal(b, &x) != nil {
		return nil
	}
	return &x
}

func (im *importer) profileEnabled(profiles []string) bool {
	if len(profiles) == 0 {
		return true
	}
	for _, want := range im.opts.Profiles {
		for _, p := range profiles {
			if want == "*" || want == p {
				return true
			}
		}
	}
	return false
}

// networkOrder returns the service's networks with the one written first
// in the file first (compose-go's model is a map).
func (im *importer) networkOrder(name string, sc types.ServiceConfig) []string {
	var order []string
	if sc.NetworkMode != "" {
		return nil
	}
	seen := map[string]bool{}
	for i := len(im.pos.files) - 1; i >= 0 && len(order) == 0; i-- {
		f := &im.pos.files[i]
		_, services := lookup(f.root, "services")
		_, svc := lookup(services, name)
		_, nets := lookup(svc, "networks")
		nets = deref(nets)
		if nets == nil {
			continue
		}
		switch nets.Kind {
		case yaml.SequenceNode:
			for _, it := range nets.Content {
				order = append(order, deref(it).Value)
			}
		case yaml.MappingNode:
			for j := 0; j+1 < len(nets.Content); j += 2 {
				order = append(order, nets.Content[j].Value)
			}
		}
	}
	var out []string
	for _, n := range order {
		if _, ok := sc.Networks[n]; ok && !seen[n] {
			out = append(out, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range sc.Networks {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func (im *importer) addKit(name, network string) {
	for _, k := range im.kits {
		if k.name == name {
			return
		}
	}
	kp := &kitPlan{name: name, network: network}
	if im.existing.cfg != nil {
		if k := im.existing.cfg.Kit(name); k != nil && k.Pos.File != "" {
			kp.exists = true
			kp.subnet, kp.host = k.Subnet, k.Host
		}
	}
	nc, hasNet := im.proj.Networks[network]
	if hasNet {
		im.networkNotes(network, nc)
		if len(nc.Ipam.Config) > 0 {
			pool := nc.Ipam.Config[0]
			sub, err := netip.ParsePrefix(pool.Subnet)
			switch {
			case pool.Subnet == "":
			case err != nil || !sub.Addr().Is4():
				im.note("", "networks."+network+".ipam.config", true, fmt.Sprintf("subnet %q is not an IPv4 network", pool.Subnet), "berth networks are IPv4", "networks", network, "ipam")
			case kp.exists && kp.subnet.IsValid() && kp.subnet != sub:
				im.note("", "networks."+network+".ipam.config", true, fmt.Sprintf("kit %s already has subnet %s; the compose subnet %s is not used", name, kp.subnet, sub), "addresses in the compose file may fall outside the kit", "networks", network, "ipam")
			case !kp.exists:
				kp.subnet = sub
				kp.comment = "from networks." + network + ".ipam"
				if gw, err := netip.ParseAddr(pool.Gateway); err == nil && pool.Gateway != "" {
					kp.host = gw
				} else {
					// Docker gives the gateway the first address; so does berth
					// here, so that the containers' addresses stay where they were.
					kp.host = sub.Masked().Addr().Next()
				}
			}
			if pool.IPRange != "" {
				im.note("", "networks."+network+".ipam.config.ip_range", true, "ip_range is not supported", "berth gives each service a fixed address; write ipv4_address", "networks", network, "ipam")
			}
			if len(nc.Ipam.Config) > 1 {
				im.note("", "networks."+network+".ipam.config", true, "only the first ipam pool is used", "a berth kit has one subnet", "networks", network, "ipam")
			}
		}
		if len(nc.Ipam.Options) > 0 {
			im.note("", "networks."+network+".ipam.options", true, "ipam options are not supported", "berth uses the engine's default IPAM", "networks", network, "ipam", "options")
		}
		if len(nc.Ipam.Config) > 0 && len(nc.Ipam.Config[0].AuxiliaryAddresses) > 0 {
			im.note("", "networks."+network+".ipam.config", true, "aux_addresses are not supported", "berth reserves only the host address", "networks", network, "ipam", "config")
		}
		if nc.Ipam.Driver != "" {
			im.note("", "networks."+network+".ipam.driver", true, "an ipam driver is not supported", "berth uses the engine's default IPAM", "networks", network, "ipam", "driver")
		}
	}
	if !kp.subnet.IsValid() {
		kp.subnet = im.freeSubnet()
		kp.comment = "chosen by berth import: the compose file names no subnet; docker compose picks one at random"
	}
	im.existing.subnets = append(im.existing.subnets, kp.subnet)
	im.kits = append(im.kits, kp)
}

func (im *importer) networkNotes(key string, nc types.NetworkConfig) {
	f := "networks." + key
	if nc.Driver != "" && nc.Driver != "bridge" {
		im.note("", f+".driver", true, fmt.Sprintf("driver %s is not supported", nc.Driver), "berth kits are bridge networks", "networks", key, "driver")
	}
	if bool(nc.External) {
		im.note("", f+".external", true, "berth creates its own network for the kit", "attach to another kit's network with connect:", "networks", key, "external")
	}
	if nc.Internal {
		im.note("", f+".internal", true, "an internal network is not supported", "berth networks reach the outside through the host", "networks", key, "internal")
	}
	if len(nc.DriverOpts) > 0 {
		im.note("", f+".driver_opts", true, "driver options are not supported", "berth creates plain bridge networks", "networks", key, "driver_opts")
	}
	if len(nc.Labels) > 0 {
		im.note("", f+".labels", true, "network labels are not supported", "berth labels its networks itself", "networks", key, "labels")
	}
	if nc.EnableIPv6 != nil && *nc.EnableIPv6 {
		im.note("", f+".enable_ipv6", true, "IPv6 is not supported", "berth networks are IPv4 only", "networks", key, "enable_ipv6")
	}
}

// freeSubnet picks a /24 no kit (built-in, in the config, or imported)
// uses.
func (im *importer) freeSubnet() netip.Prefix {
	for third := 220; third < 256; third++ {
		p := netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/24", third))
		free := true
		for _, s := range im.existing.subnets {
			if s.Overlaps(p) {
				free = false
			}
		}
		if free {
			return p
		}
	}
	return netip.MustParsePrefix("10.231.0.0/24")
}

// checkAddresses compares the addresses compose fixes with the ones the
// compiled config gives, and notes every difference.
func (im *importer) checkAddresses(st *desired.State) {
	for _, sp := range im.services {
		c := st.Container(kits.ContainerName(sp.kit, sp.name))
		if c == nil {
			continue
		}
		for _, net := range sp.nets {
			snc := sp.cfg.Networks[net]
			if snc == nil || snc.Ipv4Address == "" {
				continue
			}
			want := desired.NetworkName(st.Project, im.kitOf[net])
			for _, ep := range c.Spec.Networks {
				if ep.Network == want && ep.IP.String() != snc.Ipv4Address {
					im.note(sp.compose, "services."+sp.compose+".networks."+net+".ipv4_address", false,
						fmt.Sprintf("berth gives it %s on %s, not %s", ep.IP, im.kitOf[net], snc.Ipv4Address),
						"berth gives addresses on other kits' networks itself", "services", sp.compose, "networks", net)
				}
			}
		}
	}
}

// --- building the berth.yaml nodes

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: escape(s)}
}

// escape doubles '$': compose-go has already interpolated, and berth.yaml
// would interpolate ${…} again.
func escape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

func plain(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func intNode(n int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(n, 10)}
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func seq(flow bool, items ...*yaml.Node) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return n
}

func strSeq(ss []string) *yaml.Node {
	var items []*yaml.Node
	for _, s := range ss {
		items = append(items, str(s))
	}
	return seq(true, items...)
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func set(m *yaml.Node, key string, v *yaml.Node, comment string) {
	k := plain(key)
	if comment != "" {
		k.HeadComment = comment
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, k, v)
}

func strMap(m map[string]string) *yaml.Node {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := mapping()
	for _, k := range keys {
		out.Content = append(out.Content, str(k), str(m[k]))
	}
	return out
}

// build returns the top-level pairs to add: one per kit (with its
// network and services) and the stacks.
func (im *importer) build() *yaml.Node {
	top := mapping()
	kitNodes := map[string]*yaml.Node{}
	for _, kp := range im.kits {
		m := mapping()
		if !kp.exists {
			net := mapping()
			set(net, "subnet", plain(kp.subnet.String()), "")
			if kp.host.IsValid() {
				set(net, "host", plain(kp.host.String()), "")
			}
			set(m, "network", net, "# "+kp.comment)
		}
		kitNodes[kp.name] = m
		comment := fmt.Sprintf("# Imported by berth import compose from %s (compose project %q).", strings.Join(im.opts.Files, ", "), im.proj.Name)
		if kp.network != "" && kp.network != "default" {
			comment += fmt.Sprintf("\n# Compose network %q.", kp.network)
		}
		k := plain(kp.name)
		k.HeadComment = comment
		top.Content = append(top.Content, k, m)
	}
	stacks := map[string][]string{}
	for _, sp := range im.services {
		node, head := im.service(sp)
		k := plain(sp.name)
		k.HeadComment = head
		km := kitNodes[sp.kit]
		km.Content = append(km.Content, k, node)
		im.imported = append(im.imported, sp.kit+"/"+sp.name)
		for _, p := range sp.cfg.Profiles {
			stacks[berthName(p)] = append(stacks[berthName(p)], sp.kit+"/"+sp.name)
		}
	}
	if len(stacks) > 0 {
		sm := mapping()
		names := make([]string, 0, len(stacks))
		for n := range stacks {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			set(sm, n, strSeq(stacks[n]), "")
		}
		k := plain("stacks")
		k.HeadComment = "# Compose profiles, one stack each: berth up STACK starts its services."
		top.Content = append(top.Content, k, sm)
	}
	return top
}

// service maps one compose service; it returns the options and the head
// comment naming where it came from and what was not imported.
func (im *importer) service(sp *svcPlan) (*yaml.Node, string) {
	sc := sp.cfg
	n := sp.compose
	m := mapping()
	at := im.pos.first("services", n)
	head := []string{fmt.Sprintf("# services.%s (%s)", n, at)}
	noteCount := len(im.notes)

	if !sp.enabled {
		set(m, "enable", boolNode(false), fmt.Sprintf("# profiles %s: Compose starts it only with --profile; set enable: true to run it", strings.Join(sc.Profiles, ", ")))
	}
	image := sc.Image
	if sc.Build != nil {
		if image == "" {
			image = im.proj.Name + "-" + n
		}
		im.note(n, "services."+n+".build", true, fmt.Sprintf("berth does not build it; it runs the image %s", image),
			"build the image first: docker build -t "+image+", or a recipe for berth image build", "services", n, "build")
	}
	if image != "" {
		set(m, "image", str(image), "")
	}

	// Address on the kit's network.
	if len(sp.nets) > 0 {
		if snc := sc.Networks[sp.nets[0]]; snc != nil && snc.Ipv4Address != "" {
			set(m, "ip", plain(snc.Ipv4Address), "")
		}
	}
	if sc.Hostname != "" && sc.Hostname != sp.name {
		set(m, "hostname", str(sc.Hostname), "")
	}
	im.ports(sp, m)
	if len(sc.Command) > 0 {
		set(m, "command", strSeq(sc.Command), "")
	}
	if sc.Entrypoint != nil {
		if len(sc.Entrypoint) == 0 {
			im.note(n, "services."+n+".entrypoint", true, "an empty entrypoint (reset to none) cannot be written", "set entrypoint to the command to run", "services", n, "entrypoint")
		} else {
			set(m, "entrypoint", strSeq(sc.Entrypoint), "")
		}
	}
	if sc.User != "" {
		set(m, "user", str(sc.User), "")
	}
	if sc.WorkingDir != "" {
		set(m, "workdir", str(sc.WorkingDir), "")
	}
	im.env(sp, m)
	im.mounts(sp, m)
	im.gpu(sp, m)
	im.resources(sp, m)
	im.health(sp, m)
	im.deps(sp, m)
	im.restart(sp, m)
	if len(sp.nets) > 1 {
		var connect []string
		for _, net := range sp.nets[1:] {
			connect = append(connect, im.kitOf[net])
		}
		set(m, "connect", strSeq(connect), "")
	}
	im.labels(sp, m)
	if sc.ContainerName != "" && sc.ContainerName != kits.ContainerName(sp.kit, sp.name) {
		im.note(n, "services."+n+".container_name", false, fmt.Sprintf("the container is called %s", kits.ContainerName(sp.kit, sp.name)),
			"berth names every container KIT-SERVICE", "services", n, "container_name")
	}
	im.refused(sp)
	if sp.xberth != nil {
		for _, k := range sortedKeys(sp.xberth.Options) {
			var v yaml.Node
			if err := v.Encode(sp.xberth.Options[k]); err == nil {
				set(m, k, &v, "")
			}
		}
	}
	mine := append([]Note(nil), im.notes[noteCount:]...)
	sortNotes(mine)
	for _, nt := range mine {
		kind := "note"
		if nt.Refused {
			kind = "not imported"
		}
		line := fmt.Sprintf("# %s: %s (%s:%d)", kind, strings.TrimPrefix(nt.Field, "services."+n+"."), nt.Pos.File, nt.Pos.Line)
		head = append(head, line+": "+nt.Msg)
	}
	return m, strings.Join(head, "\n")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (im *importer) ports(sp *svcPlan, m *yaml.Node) {
	n := sp.compose
	var listen []uint16
	seen := map[uint16]bool{}
	addListen := func(p uint16) {
		if !seen[p] {
			seen[p] = true
			listen = append(listen, p)
		}
	}
	for _, e := range sp.cfg.Expose {
		num, _, _ := strings.Cut(e, "/")
		lo, hi, _ := strings.Cut(num, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if hi != "" {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 1 || b > 65535 || b-a > 100 {
			im.note(n, "services."+n+".expose", true, fmt.Sprintf("cannot read %q", e), "write port numbers", "services", n, "expose")
			continue
		}
		for p := a; p <= b; p++ {
			addListen(uint16(p))
		}
	}
	var publish []*yaml.Node
	anyAddr, exposed := false, false
	for _, p := range sp.cfg.Ports {
		if p.Protocol != "" && p.Protocol != "tcp" {
			im.note(n, "services."+n+".ports", true, fmt.Sprintf("%d/%s: berth publishes TCP only", p.Target, p.Protocol), "reach the service at its kit address instead", "services", n, "ports")
			continue
		}
		if p.Target == 0 || p.Target > 65535 {
			continue
		}
		addListen(uint16(p.Target))
		if p.Published == "" {
			im.note(n, "services."+n+".ports", true, fmt.Sprintf("%d: a random host port is not supported", p.Target), fmt.Sprintf("give a host port, e.g. \"127.0.0.1:%d:%d\"", p.Target, p.Target), "services", n, "ports")
			continue
		}
		hostPort, err := strconv.Atoi(p.Published)
		if err != nil {
			im.note(n, "services."+n+".ports", true, fmt.Sprintf("published %q is not one port", p.Published), "write one entry per port", "services", n, "ports")
			continue
		}
		entry := fmt.Sprintf("%d:%d", hostPort, p.Target)
		switch a, err := netip.ParseAddr(p.HostIP); {
		case p.HostIP == "":
			anyAddr = true
		case err != nil || !a.Is4():
			im.note(n, "services."+n+".ports", true, fmt.Sprintf("host_ip %s: berth publishes on IPv4 addresses", p.HostIP), "use an IPv4 address", "services", n, "ports")
			continue
		default:
			entry = p.HostIP + ":" + entry
			exposed = exposed || !a.IsLoopback()
		}
		publish = append(publish, str(entry))
	}
	if anyAddr {
		im.note(n, "services."+n+".ports", false, "published on 127.0.0.1 (publishAddress), where Compose publishes on every address",
			"write 0.0.0.0:HOST:PORT to publish on every address", "services", n, "ports")
	}
	if len(listen) > 0 {
		if sp.catalog != nil {
			for i, p := range listen {
				if i < len(sp.catalog.Ports) {
					set(m, sp.catalog.Ports[i].Option, intNode(int64(p)), "")
					continue
				}
				var rest []*yaml.Node
				for _, q := range listen[i:] {
					rest = append(rest, intNode(int64(q)))
				}
				set(m, "ports", seq(true, rest...), "")
				break
			}
		} else {
			set(m, "port", intNode(int64(listen[0])), "")
			if len(listen) > 1 {
				var rest []*yaml.Node
				for _, q := range listen[1:] {
					rest = append(rest, intNode(int64(q)))
				}
				set(m, "ports", seq(true, rest...), "")
			}
		}
	}
	if len(publish) > 0 {
		set(m, "publish", seq(true, publish...), "")
	}
	if exposed {
		// The compose file names the address itself: it means it.
		set(m, "publishExposed", boolNode(true), "# the compose file publishes on an address other machines reach")
	}
}

func (im *importer) env(sp *svcPlan, m *yaml.Node) {
	n := sp.compose
	env := map[string]string{}
	lookup := envLookup(im.opts.Environ)
	for k, v := range sp.cfg.Environment {
		if sp.xberth.secretEnv(k) {
			continue // berth's generated secret, made again by the catalog
		}
		if v != nil {
			env[k] = *v
			continue
		}
		if val, ok := lookup[k]; ok {
			env[k] = val
			im.note(n, "services."+n+".environment."+k, false, "took the value it has in this shell", "", "services", n, "environment", k)
			continue
		}
		im.note(n, "services."+n+".environment."+k, true, k+" is not set here, so it has no value to import", "set it in env:", "services", n, "environment", k)
	}
	if len(env) > 0 {
		set(m, "env", strMap(env), "")
	}
	var files []string
	for _, f := range sp.cfg.EnvFiles {
		if sp.xberth.secretEnvFile(f.Path) {
			continue // berth's generated secrets, made again by the catalog
		}
		if f.Format != "" {
			im.note(n, "services."+n+".env_file", true, "format "+f.Format+" is not supported", "convert it to KEY=VALUE lines", "services", n, "env_file")
			continue
		}
		if _, err := os.Stat(f.Path); err != nil {
			if !bool(f.Required) {
				im.note(n, "services."+n+".env_file", false, f.Path+" is optional and missing: left out", "berth needs every envFile to exist", "services", n, "env_file")
				continue
			}
		}
		files = append(files, f.Path)
	}
	if len(files) > 0 {
		set(m, "envFile", strSeq(files), "")
	}
}

func envLookup(environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

func (im *importer) mounts(sp *svcPlan, m *yaml.Node) {
	n := sp.compose
	var items []*yaml.Node
	for i, v := range sp.cfg.Volumes {
		field := fmt.Sprintf("services.%s.volumes[%d]", n, i)
		ro := ""
		if v.ReadOnly {
			ro = ":ro"
		}
		if sp.xberth.secretMount(v.Target) {
			continue // a generated secret's file, mounted again by the catalog
		}
		switch v.Type {
		case types.VolumeTypeBind:
			if v.Bind != nil {
				if v.Bind.Propagation != "" || v.Bind.SELinux != "" || v.Bind.Recursive != "" {
					im.note(n, field, true, "bind propagation, selinux and recursive options are not supported", "berth mounts plainly", "services", n, "volumes")
				}
				if !bool(v.Bind.CreateHostPath) {
					im.note(n, field, false, "berth creates the host path when it is missing", "", "services", n, "volumes")
				}
			}
			if sp.catalog != nil && !v.ReadOnly {
				if opt := catalogPath(sp.catalog, v.Target); opt != "" {
					set(m, opt, str(v.Source), "")
					continue
				}
			}
			items = append(items, str(v.Source+":"+v.Target+ro))
		case types.VolumeTypeVolume:
			name := v.Source
			if name == "" {
				name = berthName(sp.name) + "-" + strings.Trim(nonName.ReplaceAllString(strings.ToLower(v.Target), "-"), "-")
				im.note(n, field, false, fmt.Sprintf("an anonymous volume becomes the named volume %s, kept across recreates", name), "", "services", n, "volumes")
			} else {
				im.volumeNotes(n, name)
			}
			if v.Volume != nil && (v.Volume.NoCopy || v.Volume.Subpath != "") {
				im.note(n, field, true, "nocopy and subpath are not supported", "a berth volume is a plain directory", "services", n, "volumes")
			}
			items = append(items, str(name+":"+v.Target+ro))
		default:
			im.note(n, field, true, fmt.Sprintf("a %s mount is not supported", v.Type), "berth mounts host directories and named volumes", "services", n, "volumes")
		}
	}
	if len(items) > 0 {
		set(m, "mounts", seq(false, items...), "")
	}
}

func catalogPath(cs *kits.Service, target string) string {
	for _, p := range cs.Paths {
		if p.Target == target {
			return p.Option
		}
	}
	return ""
}

func (im *importer) volumeNotes(svc, name string) {
	vc, ok := im.proj.Volumes[name]
	if !ok {
		return
	}
	f := "volumes." + name
	if vc.Driver != "" && vc.Driver != "local" {
		im.note("", f+".driver", true, "volume driver "+vc.Driver+" is not supported", "berth volumes are directories under volumesPath", "volumes", name, "driver")
	}
	if len(vc.DriverOpts) > 0 {
		im.note("", f+".driver_opts", true, "driver options are not supported", "for a device or a host directory, write a bind mount", "volumes", name, "driver_opts")
	}
	if bool(vc.External) {
		im.note("", f+".external", true, "an external volume is not supported", "write a bind mount to the existing data", "volumes", name, "external")
	}
	if len(vc.Labels) > 0 {
		im.note("", f+".labels", true, "volume labels are not supported", "", "volumes", name, "labels")
	}
}

var gpuIDRE = regexp.MustCompile(`^(GPU-|MIG-)|^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$`)

func (im *importer) gpu(sp *svcPlan, m *yaml.Node) {
	n := sp.compose
	var reqs []types.DeviceRequest
	var where []string
	if d := sp.cfg.Deploy; d != nil && d.Resources.Reservations != nil {
		reqs = append(reqs, d.Resources.Reservations.Devices...)
		where = []string{"services", n, "deploy", "resources", "reservations", "devices"}
	}
	if len(sp.cfg.Gpus) > 0 {
		reqs = append(reqs, sp.cfg.Gpus...)
		where = []string{"services", n, "gpus"}
	}
	if len(reqs) == 0 {
		return
	}
	field := strings.Join(where, ".")
	g := mapping()
	var devices *yaml.Node
	vendor := ""
	var caps []string
	for _, r := range reqs {
		isGPU := r.Driver == "nvidia" || r.Driver == ""
		for _, c := range r.Capabilities {
			isGPU = isGPU || c == "gpu"
		}
		if !isGPU {
			im.note(n, field, true, fmt.Sprintf("a %s device request is not supported", r.Driver), "berth requests GPUs only", where...)
			continue
		}
		switch r.Driver {
		case "nvidia":
			vendor = "nvidia"
		case "":
		default:
			im.note(n, field, true, "driver "+r.Driver+" is not supported", "berth picks CDI or the NVIDIA runtime itself (gpu.mode)", where...)
		}
		if len(r.Options) > 0 {
			im.note(n, field, true, "device options are not supported", "", where...)
		}
		for _, c := range r.Capabilities {
			switch c {
			case "gpu":
			case "compute", "utility", "graphics", "video", "display", "compat32":
				caps = append(caps, c)
			default:
				im.note(n, field, true, "capability "+c+" is not supported", "", where...)
			}
		}
		switch {
		case len(r.IDs) > 0:
			var ids []string
			for _, id := range r.IDs {
				if gpuIDRE.MatchString(id) {
					ids = append(ids, id)
				}
			}
			if len(ids) == len(r.IDs) {
				devices = strSeq(ids)
			} else {
				im.note(n, field, false, fmt.Sprintf("device_ids %s became a count of %d", strings.Join(r.IDs, ","), len(r.IDs)),
					"name GPUs by UUID (berth gpu lists them): NVML's indexes change across reboots", where...)
				devices = intNode(int64(len(r.IDs)))
			}
		case r.Count > 0:
			devices = intNode(int64(r.Count))
		default:
			devices = plain("all")
		}
	}
	if devices == nil {
		return
	}
	if vendor == "" && len(caps) == 0 {
		set(m, "gpu", devices, "")
		return
	}
	set(g, "devices", devices, "")
	if vendor != "" {
		set(g, "vendor", plain(vendor), "")
	}
	if len(caps) > 0 {
		sort.Strings(caps)
		set(g, "capabilities", strSeq(append([]string{"gpu"}, caps...)), "")
	}
	set(m, "gpu", g, "")
}

// size writes a byte count the way people write it: 512m, 8g.
func size(b int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"t", 1 << 40}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
		if b >= u.n && b%u.n == 0 {
			return strconv.FormatInt(b/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(b, 10)
}

func (im *importer) resources(sp *svcPlan, m *yaml.Node) {
	n := sp.compose
	sc := sp.cfg
	r := mapping()
	mem, cpus, pids := int64(sc.MemLimit), float64(sc.CPUS), sc.PidsLimit
	if d := sc.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil {
			if l.MemoryBytes > 0 {
				mem = int64(l.MemoryBytes)
			}
			if l.NanoCPUs > 0 {
				cpus = float64(l.NanoCPUs)
			}
			if l.Pids > 0 {
				pids = l.Pids
			}
			if len(l.Devices) > 0 || len(l.GenericResources) > 0 {
				im.note(n, "services."+n+".deploy.resources.limits", true, "device and generic limits are not supported", "request GPUs under reservations.devices", "services", n, "deploy", "resources", "limits")
			}
		}
		if rv := d.Resources.Reservations; rv != nil {
			if rv.MemoryBytes > 0 || rv.NanoCPUs > 0 || rv.Pids > 0 || len(rv.GenericResources) > 0 {
				im.note(n, "services."+n+".deploy.resources.reservations", true, "reservations of memory, cpus and pids are not supported", "berth sets limits (resources.memory, resources.cpus)", "services", n, "deploy", "resources", "reservations")
			}
		}
	}
	if mem > 0 {
		set(r, "memory", plain(size(mem)), "")
	}
	if cpus > 0 {
		// float32 from compose-go: print its shortest decimal form.
		set(r, "cpus", plain(strconv.FormatFloat(float64(float32(cpus)), 'f', -1, 32)), "")
	}
	if sc.ShmSize > 0 {
		set(r, "shmSize", plain(size(int64(sc.ShmSize))), "")
	}
	if pids > 0 {
		set(r, "pids", intNode(pids), "")
	}
	if len(r.Content) > 0 {
		set(m, "resources", r, "")
	}
}

func dur(d *types.Duration) string { return time.Duration(*d).String() }

func (im *importer) health(sp *svcPlan, m *yaml.Node) {
	n := sp.compose
	hc := sp.cfg.HealthCheck
	if hc == nil {
		return
	}
	if hc.Disable || (len(hc.Test) > 0 && hc.Test[0] == "NONE") {
		set(m, "health", plain("none"), "")
		return
	}
	h := mapping()
	switch {
	case len(hc.Test) >= 2 && hc.Test[0] == "CMD":
		set(h, "exec", strSeq(hc.Test[1:]), "")
	case len(hc.Test) == 2 && hc.Test[0] == "CMD-SHELL":
		set(h, "exec", str(hc.Test[1]), "")
	case len(hc.Test) == 0:
		// A healthcheck that only tunes the image's own test.
		im.note(n, "services."+n+".healthcheck", true, "the image's own health test cannot be tuned", "write test: [CMD, …]", "services", n, "healthcheck")
		return
	default:
		im.note(n, "services."+n+".healthcheck.test", true, fmt.Sprintf("cannot read test %q", hc.Test), "write [CMD, prog, args…] or [CMD-SHELL, line]", "services", n, "healthcheck", "test")
		return
	}
	if hc.Interval != nil {
		set(h, "interval", plain(dur(hc.Interval)), "")
	}
	if hc.Timeout != nil {
		set(h, "timeout", plain(dur(hc.Timeout)), "")
	}
	if hc.StartPeriod != nil {
		set(h, "startPeriod", plain(dur(hc.StartPeriod)), "")
	}
	if hc.Retries != nil {
		set(h, "retries", intNode(int64(*hc.Retries)), "")
	}
	if hc.StartInterval != nil {
		im.note(n, "services."+n+".healthcheck.start_interval", true, "start_interval is not supported", "berth probes quickly at first by itself", "services", n, "healthcheck", "start_interval")
	}
	set(m, "health", h, "")
}

func (im *importer) deps(sp *svcPlan, m *yaml.Node) {
	n := sp.compose
	if len(sp.cfg.DependsOn) == 0 {
		return
	}
	d := mapping()
	for _, dep := range sortedKeys(sp.cfg.DependsOn) {
		cond := sp.cfg.DependsOn[dep]
		target := im.peek(dep)
		if target == nil {
			continue
		}
		if !cond.Required {
			im.note(n, "services."+n+".depends_on."+dep, false, "an optional dependency is left out", "berth requires every dependency", "services", n, "depends_on", dep)
			continue
		}
		if cond.Restart {
			im.note(n, "services."+n+".depends_on."+dep+".restart", true, "restart with the dependency is not supported", "berth restarts dependents only when their config changes", "services", n, "depends_on", dep, "restart")
		}
		ref := target.name
		if target.kit != sp.kit {
			ref = target.kit + "/" + target.name
		}
		c := "started"
		switch cond.Condition {
		case types.ServiceConditionHealthy:
			c = "healthy"
		case types.ServiceConditionCompletedSuccessfully:
			im.note(n, "services."+n+".depends_on."+dep+".condition", false, "service_completed_successfully becomes started: berth waits for a start, not for an exit", "", "services", n, "depends_on", dep, "condition")
		}
		set(d, ref, plain(c), "")
	}
	if len(d.Content) > 0 {
		set(m, "dependsOn", d, "")
	}
}

// peek returns the planned service of a compose name, or nil.
func (im *importer) peek(compose string) *svcPlan {
	for _, sp := range im.services {
		if sp.compose == compose {
			return sp
		}
	}
	return nil
}

func (im *importer) restart(sp *svcPlan, m *yaml.Node) {
	n := sp.compose
	policy := sp.cfg.Restart
	if policy == "" && sp.cfg.Deploy != nil && sp.cfg.Deploy.RestartPolicy != nil {
		rp := sp.cfg.Deploy.RestartPolicy
		switch rp.Condition {
		case "any":
			policy = "always"
		case "none":
			policy = "no"
		default:
			policy = rp.Condition
		}
		if rp.MaxAttempts != nil || rp.Delay != nil || rp.Window != nil {
			im.note(n, "services."+n+".deploy.restart_policy", true, "max_attempts, delay and window are not supported", "", "services", n, "deploy", "restart_policy")
		}
	}
	if p, count, ok := strings.Cut(policy, ":"); ok {
		im.note(n, "services."+n+".restart", false, "on-failure:"+count+" loses its count", "berth restart policies have no count", "services", n, "restart")
		policy = p
	}
	switch policy {
	case "":
		// Compose's default is no restart; berth's is unless-stopped.
		policy = "no"
	case "no", "always", "unless-stopped", "on-failure":
	default:
		im.note(n, "services."+n+".restart", true, "unknown restart policy "+policy, "use no, always, unless-stopped or on-failure", "services", n, "restart")
		return
	}
	v := str(policy)
	if policy == "no" {
		v.Style = yaml.DoubleQuotedStyle // a bare no reads as false in YAML 1.1 tools
	}
	set(m, "restart", v, "")
}

func (im *importer) labels(sp *svcPlan, m *yaml.Node) {
	n := sp.compose
	l := map[string]string{}
	for k, v := range sp.cfg.Labels {
		if strings.HasPrefix(k, "io.berth.") {
			im.note(n, "services."+n+".labels."+k, true, "io.berth.* labels are berth's own", "rename the label", "services", n, "labels", k)
			continue
		}
		l[k] = v
	}
	if len(l) > 0 {
		set(m, "labels", strMap(l), "")
	}
}

// refused reports every field of the service the table refuses, when set.
func (im *importer) refused(sp *svcPlan) {
	n := sp.compose
	v := reflect.ValueOf(sp.cfg)
	byKey := map[string]Field{}
	for _, f := range fields {
		if k, ok := strings.CutPrefix(f.Path, "services.*."); ok && !strings.ContainsAny(k, ".[") {
			byKey[k] = f
		}
	}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if strings.Contains(opts, "inline") {
				if sf.Type.Kind() == reflect.Struct {
					walk(v.Field(i))
				}
				continue
			}
			f, ok := byKey[name]
			if !ok || f.Status != Refused || v.Field(i).IsZero() {
				continue
			}
			if name == "network_mode" && sp.cfg.NetworkMode == "" {
				continue
			}
			im.note(n, "services."+n+"."+name, true, f.Berth, "", "services", n, name)
		}
	}
	walk(v)
	for _, k := range sortedKeys(sp.cfg.Extensions) {
		if k == "x-berth" {
			continue
		}
		im.note(n, "services."+n+"."+k, true, "an extension field: berth does not know what it means", "move what it configures into berth options by hand", "services", n, k)
	}
	if d := sp.cfg.Deploy; d != nil {
		for key, set := range map[string]bool{
			"replicas": d.Replicas != nil && *d.Replicas != 1, "mode": d.Mode != "" && d.Mode != "replicated",
			"labels": len(d.Labels) > 0, "update_config": d.UpdateConfig != nil, "rollback_config": d.RollbackConfig != nil,
			"placement": !reflect.ValueOf(d.Placement).IsZero(), "endpoint_mode": d.EndpointMode != "",
		} {
			if set {
				im.note(n, "services."+n+".deploy."+key, true, whySwarm, "", "services", n, "deploy", key)
			}
		}
	}
	for net, snc := range sp.cfg.Networks {
		if snc == nil {
			continue
		}
		f := "services." + n + ".networks." + net
		if len(snc.Aliases) > 0 {
			im.note(n, f+".aliases", false, "aliases are not kept: the service is reached as "+sp.name+" and "+kits.ContainerName(sp.kit, sp.name), "", "services", n, "networks", net)
		}
		if snc.Ipv6Address != "" || snc.MacAddress != "" || len(snc.LinkLocalIPs) > 0 || len(snc.DriverOpts) > 0 || snc.InterfaceName != "" {
			im.note(n, f, true, "ipv6_address, mac_address, link_local_ips, driver_opts and interface_name are not supported", whyNoNet, "services", n, "networks", net)
		}
	}
}

// merge adds the built kits, services and stacks to the existing config.
// A config that does not have them yet gets them appended as text, so
// that its own formatting and comments stay as they are.
func (im *importer) merge(top *yaml.Node) ([]byte, error) {
	ex := im.existing
	needNodeEdit := false
	if ex.root != nil {
		for i := 0; i+1 < len(top.Content); i += 2 {
			if k, _ := lookup(ex.root, top.Content[i].Value); k != nil {
				needNodeEdit = true
			}
		}
	}
	if !needNodeEdit {
		var b bytes.Buffer
		if len(ex.text) == 0 {
			// A new config: the compose project names the berth project, so
			// labels and volume directories read the same.
			fmt.Fprintf(&b, "project: %s\n\n", berthName(im.proj.Name))
		}
		b.Write(ex.text)
		if len(ex.text) > 0 && !bytes.HasSuffix(ex.text, []byte("\n")) {
			b.WriteByte('\n')
		}
		if len(ex.text) > 0 {
			b.WriteByte('\n')
		}
		b.Write(encode(top))
		return b.Bytes(), nil
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := top.Content[i], top.Content[i+1]
		_, have := lookup(ex.root, key.Value)
		if have == nil {
			ex.root.Content = append(ex.root.Content, key, val)
			continue
		}
		if have.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("adding to %s in %s: it is not a mapping", key.Value, im.opts.Config)
		}
		for j := 0; j+1 < len(val.Content); j += 2 {
			k, v := val.Content[j], val.Content[j+1]
			if ek, _ := lookup(have, k.Value); ek != nil {
				if key.Value == "stacks" {
					return nil, fmt.Errorf("stack %s is already in %s (line %d): rename the compose profile or the stack", k.Value, im.opts.Config, ek.Line)
				}
				return nil, fmt.Errorf("kit %s already has %s (%s line %d): import into another kit with --kit, or remove it first", key.Value, k.Value, im.opts.Config, ek.Line)
			}
			have.Content = append(have.Content, k, v)
		}
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{ex.root}}
	return encode(doc), nil
}

func encode(n *yaml.Node) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		panic(fmt.Sprintf("encoding built YAML nodes: %v", err)) // nodes built here always encode
	}
	enc.Close()
	return b.Bytes()
}

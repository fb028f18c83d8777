package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/kits"
)

// Option declares one config option, once: its path, type, default,
// description and an example value (YAML). The registry drives `berth
// options`, `berth schema` and the decoder's "did you mean" suggestions.
// Paths use <kit> and <service> for any kit or service name.
type Option struct {
	Path        string   `json:"path"`
	Type        string   `json:"type"`
	Default     string   `json:"default,omitempty"`
	Description string   `json:"description"`
	Example     string   `json:"example,omitempty"`
	Enum        []string `json:"enum,omitempty"`
}

// Reserved top-level keys; every other top-level key is a kit.
// Runtimes are the values of the runtime option: auto and the engines
// berth drives (the project package connects to each; a test keeps the
// two lists equal).
var Runtimes = []string{"auto", "docker", "podman", "nspawn"}

var reservedKeys = []string{"project", "runtime", "stacks", "images", "publishAddress", "publishExposed", "volumesPath", "containerPrefix"}

var globalOptions = []Option{
	{Path: "project", Type: "name", Description: "owner label on every object berth creates; default: the config directory's name", Example: "kernelcore"},
	{Path: "runtime", Type: "enum", Default: "auto", Enum: Runtimes,
		Description: "container engine: auto prefers Docker, then Podman", Example: "docker"},
	{Path: "publishAddress", Type: "ip", Default: "127.0.0.1",
		Description: "host address that published ports bind to when a publish entry names none; an address other than loopback needs publishExposed: true", Example: "127.0.0.1"},
	{Path: "publishExposed", Type: "bool", Default: "false",
		Description: "acknowledge that ports published on an address other than loopback (publishAddress or a publish entry) are reachable from other machines", Example: "true"},
	{Path: "volumesPath", Type: "path", Default: DefaultVolumesPath,
		Description: "where named volumes live: <volumesPath>/<project>/<name>; kept on down, removed only by 'berth volume rm NAME'", Example: "/srv/berth-volumes"},
	{Path: "containerPrefix", Type: "string", Default: "",
		Description: "put before every container name (ml-ollama becomes <prefix>ml-ollama), so that two projects with the same kits can run on one engine; targets and aliases use the prefixed names", Example: "test-"},
	{Path: "stacks.<name>", Type: "list", Description: "a named selection of services (kit/service), used as a TARGET", Example: "[ml/ollama, dev/chat-ui]"},
	{Path: "images.<name>", Type: "recipe", Description: "an image recipe built by 'berth image build' (see docs/images.md)", Example: "{suite: bookworm, packages: [redis-server]}"},
}

var kitOptions = []Option{
	{Path: "<kit>.enable", Type: "bool", Default: "true", Description: "run this kit's services; a kit present in the file is enabled unless this is false", Example: "true"},
	{Path: "<kit>.network.subnet", Type: "cidr", Description: "the kit's private IPv4 network (required for kits of your own)", Example: "192.168.220.0/24"},
	{Path: "<kit>.network.host", Type: "ip", Description: "the host's address on the kit network (the gateway); default: .10 of the subnet", Example: "192.168.220.10"},
}

// serviceOptions are the options every service has.
var serviceOptions = []Option{
	{Path: "enable", Type: "bool", Default: "true", Description: "run this service; a service present in the file is enabled unless this is false", Example: "true"},
	{Path: "image", Type: "string", Description: "image reference (required for services of your own)", Example: "ghcr.io/voidnxlabs/redis:latest"},
	{Path: "port", Type: "port", Description: "the port the service listens on at its private address", Example: "6379"},
	{Path: "ports", Type: "list", Description: "more ports the service listens on", Example: "[9090]"},
	{Path: "ip", Type: "ip", Description: "fixed address on the kit network; default: the catalog slot, else the first free address", Example: "192.168.220.20"},
	{Path: "hostname", Type: "string", Description: "hostname inside the container; default: the service name", Example: "cache"},
	{Path: "env", Type: "map", Description: "environment variables; they override envFile and the catalog's", Example: "{LOG_LEVEL: debug}"},
	{Path: "envFile", Type: "list", Description: "files of KEY=VALUE lines (as Compose's env_file) read at load time, relative to berth.yaml's directory; later files override earlier ones, env overrides them all", Example: "[secrets/app.env]"},
	{Path: "command", Type: "command", Description: "command (arguments to the entrypoint), a list or a string split on spaces", Example: "[redis-server, --save, '']"},
	{Path: "entrypoint", Type: "command", Description: "entrypoint override, a list or a string split on spaces", Example: "[/bin/sh, -c]"},
	{Path: "user", Type: "string", Description: "user[:group] the service runs as", Example: "1000:1000"},
	{Path: "workdir", Type: "path", Description: "working directory in the container", Example: "/work"},
	{Path: "mounts", Type: "mounts", Description: "host directories to bind mount, HOST:CONTAINER[:ro], or named volumes, NAME:CONTAINER[:ro] (a directory under volumesPath); created when missing, never deleted by down", Example: "[/srv/cache:/data, models:/models]"},
	{Path: "gpu", Type: "gpu", Description: "GPUs: all, a count, a list of UUIDs or PCI addresses, or {devices, vendor, capabilities, mode, optional}", Example: "all"},
	{Path: "resources.memory", Type: "size", Description: "memory limit", Example: "8g"},
	{Path: "resources.cpus", Type: "number", Description: "CPU limit in cores", Example: "2.5"},
	{Path: "resources.shmSize", Type: "size", Description: "size of /dev/shm", Example: "1g"},
	{Path: "resources.pids", Type: "int", Description: "process count limit", Example: "4096"},
	{Path: "health.http", Type: "string", Description: "readiness: HTTP path that answers 2xx/3xx when the service is ready", Example: "/health"},
	{Path: "health.tcp", Type: "bool", Description: "readiness: the port accepts TCP connections", Example: "true"},
	{Path: "health.exec", Type: "command", Description: "readiness: a command run inside the container that exits 0 when ready; a list runs as is, a string runs with /bin/sh -c (Compose's CMD and CMD-SHELL)", Example: "[pg_isready, -U, postgres]"},
	{Path: "health.retries", Type: "int", Default: "3", Description: "failures in a row before the engine's own check (exec checks only) marks the container unhealthy", Example: "5"},
	{Path: "health.port", Type: "port", Description: "port the readiness check probes; default: the main port", Example: "8080"},
	{Path: "health.interval", Type: "duration", Default: "2s", Description: "time between readiness probes", Example: "5s"},
	{Path: "health.timeout", Type: "duration", Default: "2s", Description: "time one probe may take", Example: "3s"},
	{Path: "health.startPeriod", Type: "duration", Description: "time a slow start reads as 'starting', not 'unhealthy'", Example: "2m"},
	{Path: "dependsOn", Type: "deps", Description: "services started first: a list of [kit/]service, or a mapping to started|healthy", Example: "{ml/ollama: healthy}"},
	{Path: "publish", Type: "publish", Description: "publish on the host: an address (all ports, same numbers) or a list of [ADDR:]HOSTPORT[:PORT]; default: none", Example: "[\"127.0.0.1:8080:80\"]"},
	{Path: "publishExposed", Type: "bool", Default: "false", Description: "acknowledge that this service's ports published on an address other than loopback are reachable from other machines", Example: "true"},
	{Path: "restart", Type: "enum", Default: "unless-stopped", Enum: []string{"no", "always", "unless-stopped", "on-failure"}, Description: "restart policy", Example: "always"},
	{Path: "connect", Type: "list", Description: "other kits' networks this service may reach", Example: "[ml]"},
	{Path: "labels", Type: "map", Description: "extra container labels (io.berth.* is reserved)", Example: "{team: ml}"},
}

// Options returns every option berth knows, sorted by path: the global
// ones, the generic kit and service ones, and those of each catalog service
// with its defaults filled in.
func Options() []Option {
	var out []Option
	out = append(out, globalOptions...)
	out = append(out, kitOptions...)
	for _, o := range serviceOptions {
		o.Path = "<kit>.<service>." + o.Path
		out = append(out, o)
	}
	for _, k := range kits.All() {
		out = append(out,
			Option{Path: k.Name + ".enable", Type: "bool", Default: "true", Description: k.Description, Example: "true"},
			Option{Path: k.Name + ".network.subnet", Type: "cidr", Default: k.Subnet.String(), Description: "the " + k.Name + " kit's private network", Example: k.Subnet.String()},
			Option{Path: k.Name + ".network.host", Type: "ip", Default: k.Host.String(), Description: "the host's address on the " + k.Name + " network", Example: k.Host.String()},
		)
		for _, s := range k.Services {
			out = append(out, catalogOptions(k, s)...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// catalogOptions are the options of one catalog service: the common ones
// with the catalog's defaults, plus its own ports and paths.
func catalogOptions(k *kits.Kit, s *kits.Service) []Option {
	base := k.Name + "." + s.Name + "."
	addr := slotAddr(k.Subnet, s.Slot)
	var out []Option
	out = append(out, Option{Path: base + "enable", Type: "bool", Default: "true", Description: s.Description, Example: "true"})
	out = append(out, Option{Path: base + "image", Type: "string", Default: s.Image, Description: "image reference", Example: s.Image})
	out = append(out, Option{Path: base + "ip", Type: "ip", Default: addr, Description: "fixed address on the " + k.Name + " network", Example: addr})
	for _, p := range s.Ports {
		d := strconv.Itoa(int(p.Default))
		out = append(out, Option{Path: base + p.Option, Type: "port", Default: d, Description: p.Description, Example: d})
	}
	for _, p := range s.Paths {
		out = append(out, Option{Path: base + p.Option, Type: "path", Default: p.Default,
			Description: p.Description + " (mounted at " + p.Target + ")", Example: p.Default})
	}
	return out
}

func slotAddr(subnet interface{ String() string }, slot int) string {
	s := subnet.String()
	s = s[:strings.LastIndexByte(s, '.')]
	return s + "." + strconv.Itoa(slot)
}

// Lookup returns the options whose path matches query: an exact path, a
// prefix of whole segments (ml.ollama), or a path with <kit>/<service>
// placeholders matching it.
func Lookup(query string) []Option {
	all := Options()
	if query == "" {
		return all
	}
	var out []Option
	q := strings.Split(query, ".")
	for _, o := range all {
		segs := strings.Split(o.Path, ".")
		if len(segs) < len(q) {
			continue
		}
		ok := true
		for i := range q {
			if segs[i] != q[i] && !(strings.HasPrefix(segs[i], "<") && !isReserved(q[i])) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, o)
		}
	}
	return out
}

func isReserved(k string) bool {
	for _, r := range reservedKeys {
		if r == k {
			return true
		}
	}
	return false
}

func serviceOptionNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, o := range serviceOptions {
		n, _, _ := strings.Cut(o.Path, ".")
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Package kits is the embedded catalog of the seed's built-in kits: the ml
// kit (Ollama, Jupyter, ComfyUI, vLLM, LocalAI) and the dev kit (dev-ml,
// chat-ui, code-server, a Caddy proxy, PostgreSQL), with the seed's names,
// ports, data paths and address slots.
package kits

import (
	"net/netip"
	"sort"
	"time"
)

// Kit is a built-in kit.
type Kit struct {
	Name        string
	Description string
	Subnet      netip.Prefix
	Host        netip.Addr // the host's address on the kit network (gateway)
	Services    []*Service // in slot order
}

// Service returns the kit's service called name, or nil.
func (k *Kit) Service(name string) *Service {
	for _, s := range k.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Port is one port a service listens on. Option is the config option that
// moves it (port, httpPort, …); the container listens on the chosen number.
type Port struct {
	Option      string
	Default     uint16
	Protocol    string
	Description string
}

// Path is a host path a service keeps data in.
type Path struct {
	Option      string // e.g. modelsPath
	Default     string
	Target      string // where it appears in the container
	UID, GID    int    // the owner the service runs as, for a path berth creates
	Description string
}

// Health is a readiness check run from the host.
type Health struct {
	Kind        string // http, tcp, or postgres (a protocol handshake)
	PortOption  string // which Port it probes
	Path        string
	StartPeriod time.Duration
}

// GPUNeed says how a service uses GPUs.
type GPUNeed int

const (
	GPUNone     GPUNeed = iota
	GPUOptional         // uses GPUs when asked and present, runs on CPU otherwise
	GPURequired         // does not run without a GPU
)

// Secret is a credential berth generates once and gives the container.
// Where the program reads it from a file (FileEnv), the container gets a
// read-only file owned by UID:GID with mode 0400 and FileEnv names its
// path, so the value is in no environment: not in 'docker inspect', not
// in a unit file, not in /proc/PID/environ. Otherwise it is in Env.
type Secret struct {
	Name string // state name, e.g. postgres-password
	Env  string // variable the container reads it from
	// FileEnv is the variable that names a file holding the value, when
	// the program has one (POSTGRES_PASSWORD_FILE, JUPYTER_TOKEN_FILE).
	FileEnv string
	// UID and GID own the file in the container: the user the image's
	// program reads it as.
	UID, GID int
}

// Service is a catalog service.
type Service struct {
	Name        string // ollama
	Kit         string // ml
	Container   string // ml-ollama
	Slot        int    // last octet of its fixed address
	Description string
	// Image is berth's own image where berth builds one from a built-in
	// recipe (ghcr.io/voidnxlabs/NAME:latest, built on `berth up` when
	// missing), else the upstream image, which must be pulled.
	Image string
	// Upstream is the project's own published image, one `image:` away
	// when a user prefers it to berth's build.
	Upstream string
	// NoBuild says, for a service whose Image is its upstream image, why
	// berth builds none (docs/services.md has the long form); plan shows
	// it beside the pull.
	NoBuild string
	Ports   []Port
	Paths   []Path
	Env     map[string]string
	// Env and Command may use {port}, replaced by the chosen main port, for
	// images that read their listen port from the environment or arguments,
	// and {url:KIT/SERVICE}, replaced by that service's http://address:port
	// (left empty when that service is disabled).
	Command     []string
	User        string
	Health      Health
	GPU         GPUNeed
	AliasPrefix string   // ml-ollama, dev-pg
	Helpers     []string // extra seed aliases: ollama-list, dev-pg-psql
	Secrets     []Secret
	// Connect lists other kits this service reaches by default.
	Connect []string
	// ConnectAll attaches the service to every enabled kit (the proxy).
	ConnectAll bool
	// Publish publishes the service's ports on the host by default. Only
	// the proxy does: everything else is reached at its private address.
	Publish   bool
	DependsOn []string // kit/service paths
	ShmSize   string
	// Backup is how `berth backup` takes a consistent copy: "" stops the
	// service while its data paths are copied; "pg_dumpall" dumps the
	// databases from the running container instead.
	Backup string
}

// WhyNotBuilt says why berth builds no image for the catalog service whose
// default image is ref, or "" when ref is no such image.
func WhyNotBuilt(ref string) string {
	for _, k := range catalog {
		for _, s := range k.Services {
			if s.Image == ref && s.NoBuild != "" {
				return s.NoBuild
			}
		}
	}
	return ""
}

// MainPort is the service's first port.
func (s *Service) MainPort() Port { return s.Ports[0] }

var catalog = []*Kit{mlKit, devKit}

// All returns the built-in kits, sorted by name.
func All() []*Kit {
	out := append([]*Kit(nil), catalog...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns the built-in kit called name, or nil.
func Get(name string) *Kit {
	for _, k := range catalog {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// ContainerName is the container name of service svc in kit kit: the kit
// name and service name joined, without repeating the kit (dev/dev-ml is
// dev-ml, not dev-dev-ml), as the seed names them.
func ContainerName(kit, svc string) string {
	if len(svc) > len(kit) && svc[:len(kit)+1] == kit+"-" {
		return svc
	}
	return kit + "-" + svc
}

var mlKit = &Kit{
	Name:        "ml",
	Description: "AI/ML workload containers",
	Subnet:      netip.MustParsePrefix("192.168.200.0/24"),
	Host:        netip.MustParseAddr("192.168.200.10"),
	Services: []*Service{
		{
			Name: "ollama", Kit: "ml", Container: "ml-ollama", Slot: 11,
			Description: "Ollama: LLM inference with CUDA support",
			Image:       "ghcr.io/voidnxlabs/ollama:latest",
			Upstream:    "docker.io/ollama/ollama:0.17.4",
			Ports:       []Port{{Option: "port", Default: 11434, Protocol: "tcp", Description: "Ollama API port"}},
			// berth's image runs Ollama as uid 1000 (the upstream image
			// runs it as root, with the models in /root/.ollama/models).
			Paths: []Path{{Option: "modelsPath", Default: "/var/lib/ollama/models", Target: "/home/ollama/.ollama/models",
				UID: 1000, GID: 1000, Description: "host directory holding the downloaded models"}},
			Env:         map[string]string{"OLLAMA_MODELS": "/home/ollama/.ollama/models", "OLLAMA_HOST": "0.0.0.0:{port}"},
			Health:      Health{Kind: "http", PortOption: "port", Path: "/api/version", StartPeriod: 60 * time.Second},
			GPU:         GPUOptional,
			AliasPrefix: "ml-ollama",
			Helpers:     []string{"ollama-list"},
			Backup:      "ollama",
		},
		{
			Name: "jupyter", Kit: "ml", Container: "ml-jupyter", Slot: 12,
			Description: "Jupyter Lab: ML development environment",
			Image:       "ghcr.io/voidnxlabs/jupyterlab:latest",
			Upstream:    "quay.io/jupyter/pytorch-notebook:cuda12-python-3.12",
			Ports:       []Port{{Option: "port", Default: 8888, Protocol: "tcp", Description: "Jupyter Lab port"}},
			Paths: []Path{{Option: "notebooksPath", Default: "/home/kernelcore/dev/notebooks", Target: "/home/jovyan/work",
				UID: 1000, GID: 100, Description: "host directory with the notebooks"}},
			// Both berth's image and Jupyter's own have jupyter on PATH,
			// jovyan (1000:100) and the notebooks in /home/jovyan/work.
			Command:     []string{"jupyter", "lab", "--ip=0.0.0.0", "--port={port}", "--no-browser", "--ServerApp.root_dir=/home/jovyan/work"},
			Health:      Health{Kind: "http", PortOption: "port", Path: "/api", StartPeriod: 60 * time.Second},
			GPU:         GPUOptional,
			AliasPrefix: "ml-jupyter",
			Secrets:     []Secret{{Name: "jupyter-token", Env: "JUPYTER_TOKEN", FileEnv: "JUPYTER_TOKEN_FILE", UID: 1000, GID: 100}}, // jovyan:users
			ShmSize:     "1g",
		},
		{
			Name: "comfyui", Kit: "ml", Container: "ml-comfyui", Slot: 13,
			Description: "ComfyUI: Stable Diffusion image generation",
			Image:       "docker.io/yanwk/comfyui-boot:cu128-slim",
			Upstream:    "docker.io/yanwk/comfyui-boot:cu128-slim",
			NoBuild:     "ComfyUI's own code is not on PyPI (its one 'comfyui' release there is yanked) and GitHub is not reachable",
			Ports:       []Port{{Option: "port", Default: 8188, Protocol: "tcp", Description: "ComfyUI web port"}},
			Paths: []Path{{Option: "dataPath", Default: "/var/lib/comfyui", Target: "/root",
				Description: "host directory with ComfyUI, its models and outputs"}},
			Env:         map[string]string{"CLI_ARGS": "--listen 0.0.0.0"},
			Health:      Health{Kind: "http", PortOption: "port", Path: "/system_stats", StartPeriod: 5 * time.Minute},
			GPU:         GPURequired,
			AliasPrefix: "ml-comfyui",
			ShmSize:     "2g",
		},
		{
			Name: "vllm", Kit: "ml", Container: "ml-vllm", Slot: 14,
			Description: "vLLM: high-performance LLM inference (OpenAI-compatible API)",
			Image:       "docker.io/vllm/vllm-openai:v0.11.0",
			Upstream:    "docker.io/vllm/vllm-openai:v0.11.0",
			NoBuild:     "vLLM's PyPI wheels are CUDA builds pinning torch 2 with NVIDIA's CUDA wheels; its CPU backend builds only from source against PyTorch's own index",
			Ports:       []Port{{Option: "port", Default: 8000, Protocol: "tcp", Description: "OpenAI-compatible API port"}},
			Paths: []Path{{Option: "cachePath", Default: "/var/lib/vllm/huggingface", Target: "/root/.cache/huggingface",
				Description: "host directory for the Hugging Face model cache"}},
			Command:     []string{"--host", "0.0.0.0", "--port", "{port}", "--model", "Qwen/Qwen2.5-0.5B-Instruct"},
			Health:      Health{Kind: "http", PortOption: "port", Path: "/health", StartPeriod: 10 * time.Minute},
			GPU:         GPURequired,
			AliasPrefix: "ml-vllm",
			ShmSize:     "8g",
		},
		{
			Name: "localai", Kit: "ml", Container: "ml-localai", Slot: 15,
			Description: "LocalAI: multi-modal AI inference",
			Image:       "docker.io/localai/localai:v3.7.0-gpu-nvidia-cuda-12",
			Upstream:    "docker.io/localai/localai:v3.7.0-gpu-nvidia-cuda-12",
			NoBuild:     "the Go module proxy refuses github.com/mudler/LocalAI (403) and its C++ backends come from GitHub",
			Ports:       []Port{{Option: "port", Default: 8080, Protocol: "tcp", Description: "LocalAI API port"}},
			Paths: []Path{{Option: "modelsPath", Default: "/var/lib/localai/models", Target: "/build/models",
				Description: "host directory holding LocalAI's models"}},
			Env:         map[string]string{"LOCALAI_ADDRESS": ":{port}"},
			Health:      Health{Kind: "http", PortOption: "port", Path: "/readyz", StartPeriod: 5 * time.Minute},
			GPU:         GPUOptional,
			AliasPrefix: "ml-localai",
		},
	},
}

var devKit = &Kit{
	Name:        "dev",
	Description: "Development environment containers",
	Subnet:      netip.MustParsePrefix("192.168.210.0/24"),
	Host:        netip.MustParseAddr("192.168.210.10"),
	Services: []*Service{
		{
			Name: "dev-ml", Kit: "dev", Container: "dev-ml", Slot: 11,
			Description: "Dev-ML: JupyterLab with PyTorch, transformers, pandas and scikit-learn (CPU)",
			Image:       "ghcr.io/voidnxlabs/pytorch-notebook:latest",
			Upstream:    "quay.io/jupyter/pytorch-notebook:latest",
			Ports:       []Port{{Option: "port", Default: 8889, Protocol: "tcp", Description: "Jupyter port of the dev box"}},
			// berth's pytorch-notebook and Jupyter's own image both run
			// JupyterLab as jovyan (1000:100) with the work in
			// /home/jovyan/work.
			Paths: []Path{{Option: "workspacePath", Default: "/home/kernelcore/dev/workspace", Target: "/home/jovyan/work",
				UID: 1000, GID: 100, Description: "host directory opened in JupyterLab"}},
			Command:     []string{"jupyter", "lab", "--ip=0.0.0.0", "--port={port}", "--no-browser", "--ServerApp.root_dir=/home/jovyan/work"},
			Health:      Health{Kind: "http", PortOption: "port", Path: "/api", StartPeriod: 90 * time.Second},
			GPU:         GPUOptional,
			AliasPrefix: "dev-ml",
			Secrets:     []Secret{{Name: "dev-ml-token", Env: "JUPYTER_TOKEN", FileEnv: "JUPYTER_TOKEN_FILE", UID: 1000, GID: 100}}, // jovyan:users
			ShmSize:     "1g",
		},
		{
			Name: "chat-ui", Kit: "dev", Container: "dev-chat-ui", Slot: 12,
			Description: "Chat-UI: LLM chat interface (Open WebUI) talking to Ollama",
			Image:       "ghcr.io/voidnxlabs/open-webui:latest",
			Upstream:    "ghcr.io/open-webui/open-webui:v0.6.34",
			Ports:       []Port{{Option: "port", Default: 3000, Protocol: "tcp", Description: "chat UI web port"}},
			// berth's image runs Open WebUI as uid 1000 (the upstream
			// image as root); both keep their data in /app/backend/data
			// and read the port from PORT.
			Paths: []Path{{Option: "dataPath", Default: "/var/lib/chat-ui", Target: "/app/backend/data",
				UID: 1000, GID: 1000, Description: "host directory with chats and settings"}},
			Env:         map[string]string{"OLLAMA_BASE_URL": "{url:ml/ollama}", "WEBUI_AUTH": "true", "PORT": "{port}"},
			Health:      Health{Kind: "http", PortOption: "port", Path: "/health", StartPeriod: 3 * time.Minute},
			AliasPrefix: "dev-chat",
			Connect:     []string{"ml"},
		},
		{
			Name: "code-server", Kit: "dev", Container: "dev-code-server", Slot: 13,
			Description: "Code-Server: VS Code in the browser",
			Image:       "ghcr.io/voidnxlabs/code-server:latest",
			Upstream:    "docker.io/codercom/code-server:4.100.3",
			Ports:       []Port{{Option: "port", Default: 8443, Protocol: "tcp", Description: "code-server web port"}},
			Paths: []Path{{Option: "workspacePath", Default: "/home/kernelcore/dev", Target: "/home/coder/project",
				UID: 1000, GID: 1000, Description: "host directory opened in the editor"}},
			Command:     []string{"--bind-addr", "0.0.0.0:{port}", "/home/coder/project"},
			Health:      Health{Kind: "http", PortOption: "port", Path: "/healthz", StartPeriod: 60 * time.Second},
			AliasPrefix: "dev-code",
			// code-server reads its password from $PASSWORD or from its
			// config file only; $HASHED_PASSWORD is no better, since its
			// value is also the session cookie. So it stays in the env.
			Secrets: []Secret{{Name: "code-server-password", Env: "PASSWORD"}},
		},
		{
			Name: "proxy", Kit: "dev", Container: "dev-proxy", Slot: 14,
			Description: "Proxy: Caddy reverse proxy giving every service a name",
			Image:       "ghcr.io/voidnxlabs/caddy:latest",
			Upstream:    "docker.io/library/caddy:2.10.2",
			Ports: []Port{
				{Option: "httpPort", Default: 80, Protocol: "tcp", Description: "HTTP port"},
				{Option: "httpsPort", Default: 443, Protocol: "tcp", Description: "HTTPS port (Caddy's internal CA)"},
			},
			// berth's Caddy runs as uid 1000 and keeps its admin socket,
			// CA and certificates in /data.
			Paths: []Path{{Option: "dataPath", Default: "/var/lib/berth-proxy", Target: "/data",
				UID: 1000, GID: 1000, Description: "host directory with Caddy's certificates and state"}},
			Health:      Health{Kind: "tcp", PortOption: "httpPort", StartPeriod: 20 * time.Second},
			AliasPrefix: "dev-proxy",
			ConnectAll:  true,
			Publish:     true,
		},
		{
			Name: "postgres", Kit: "dev", Container: "dev-postgres", Slot: 15,
			Description: "PostgreSQL: development database",
			// berth's image is PostgreSQL 15 from Debian bookworm; the
			// upstream image is 16. Their data directories do not mix.
			Image:    "ghcr.io/voidnxlabs/postgres-dev:latest",
			Upstream: "docker.io/library/postgres:16",
			Ports:    []Port{{Option: "port", Default: 5432, Protocol: "tcp", Description: "PostgreSQL port"}},
			Paths: []Path{{Option: "dataPath", Default: "/var/lib/postgres-dev", Target: "/var/lib/postgresql/data",
				UID: 999, GID: 999, Description: "host directory with the database cluster"}},
			Env:         map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_DB": "dev", "PGPORT": "{port}"},
			Health:      Health{Kind: "postgres", PortOption: "port", StartPeriod: 30 * time.Second},
			AliasPrefix: "dev-pg",
			Helpers:     []string{"dev-pg-psql"},
			Secrets:     []Secret{{Name: "postgres-password", Env: "POSTGRES_PASSWORD", FileEnv: "POSTGRES_PASSWORD_FILE", UID: 999, GID: 999}}, // the postgres user of the official image and of berth's
			ShmSize:     "256m",
			Backup:      "pg_dumpall",
		},
	},
}

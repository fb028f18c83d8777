package compose

// Status says what Import does with a Compose field.
type Status string

const (
	// Mapped: the field becomes the berth option named in Field.Berth.
	Mapped Status = "mapped"
	// Noted: mapped, with a difference the note says.
	Noted Status = "mapped with a note"
	// Refused: not mapped; Import reports it with its line and a hint.
	Refused Status = "refused"
	// Ignored: carries no meaning for the running containers (version,
	// x- fields used as YAML anchors); reported nowhere.
	Ignored Status = "ignored"
)

// Field is one Compose field and what Import does with it. The table is
// the single source of docs/compose.md, and a test checks that it names
// every field of compose-go's types, so a field the loader learns cannot
// be dropped without a row.
type Field struct {
	Path   string // e.g. services.*.deploy.resources.limits.memory
	Status Status
	Berth  string // the berth option, or why not
}

// Fields returns the table, in the order docs/compose.md lists it.
func Fields() []Field { return fields }

func row(path string, st Status, berth string) Field { return Field{path, st, berth} }

const (
	whyNoNet     = "every berth service runs on its kit's private bridge network at a fixed address; publish ports instead"
	whyNoPriv    = "berth never grants extra privileges to a container: run it with the engine yourself if it needs them"
	whyNoDevices = "berth passes GPUs only (gpu:); other host devices are not passed"
	whyNoSecret  = "put the value in a file and name it in envFile:, or let a catalog service generate it"
	whySwarm     = "a Swarm setting; berth runs one container per service on one host"
	whyOneCtr    = "berth runs exactly one container per service"
)

var fields = []Field{
	// top level
	row("name", Mapped, "the kit name when --kit is not given (sanitized)"),
	row("version", Ignored, "obsolete in the Compose Specification"),
	row("services", Mapped, "services of the kit"),
	row("networks.*.ipam.config[0].subnet", Mapped, "<kit>.network.subnet; without one a free 192.168.x.0/24 is chosen and said in a comment"),
	row("networks.*.ipam.config[0].gateway", Mapped, "<kit>.network.host"),
	row("networks.*.ipam.config[0].ip_range", Refused, "berth gives each service a fixed address; write ipv4_address"),
	row("networks.*.ipam.driver", Refused, "berth uses the engine's default IPAM"),
	row("networks.*.name", Noted, "berth names the network <project>-<kit>"),
	row("networks.*.driver", Noted, "bridge only; another driver is refused"),
	row("networks.*.driver_opts", Refused, "berth creates plain bridge networks"),
	row("networks.*.external", Refused, "berth creates and owns its networks; attach through connect: to another kit"),
	row("networks.*.internal", Refused, "berth networks reach the outside through the host"),
	row("networks.*.attachable", Ignored, "a Swarm setting"),
	row("networks.*.labels", Refused, "berth labels its networks itself (io.berth.*)"),
	row("networks.*.enable_ipv4", Ignored, "berth networks are IPv4"),
	row("networks.*.enable_ipv6", Refused, "berth networks are IPv4 only"),
	row("volumes.*", Mapped, "a named volume: NAME:TARGET in mounts, a directory under volumesPath"),
	row("volumes.*.name", Noted, "berth keeps the volume at <volumesPath>/<project>/<key>"),
	row("volumes.*.driver", Refused, "berth volumes are directories on the host"),
	row("volumes.*.driver_opts", Refused, "berth volumes are directories on the host; write a bind mount for a device"),
	row("volumes.*.external", Refused, "berth volumes are directories it creates; write a bind mount to the existing data"),
	row("volumes.*.labels", Refused, "berth volumes are directories, without labels"),
	row("secrets", Refused, whyNoSecret),
	row("configs", Refused, "write the content to a file and bind mount it read-only"),
	row("models", Refused, "Docker Model Runner; use the ml kit's ollama or vllm"),
	row("jobs", Refused, "berth runs long-lived services only"),
	row("include", Mapped, "the included files are loaded and merged by compose-go"),
	row("x-*", Ignored, "extension fields at the top level hold YAML anchors; a service's x-berth carries berth options"),

	// services
	row("services.*.image", Mapped, "image"),
	row("services.*.build", Noted, "not built: the image (image:, else <project>-<service>) must exist; build it with docker or berth image build"),
	row("services.*.command", Mapped, "command"),
	row("services.*.entrypoint", Noted, "entrypoint; an empty entrypoint (reset) is refused"),
	row("services.*.environment", Mapped, "env; a name without a value takes the importing shell's value, or is refused when unset"),
	row("services.*.env_file", Mapped, "envFile (the values stay in the file)"),
	row("services.*.env_file[].required", Noted, "berth needs every envFile to exist: an optional missing file is left out"),
	row("services.*.env_file[].format", Refused, "berth reads KEY=VALUE files only"),
	row("services.*.ports", Noted, "port/ports (the container ports) and publish; an entry without host_ip is published on 127.0.0.1, not on all addresses"),
	row("services.*.ports[].target", Mapped, "port, ports"),
	row("services.*.ports[].published", Noted, "publish HOSTPORT; a random host port (none given) is refused"),
	row("services.*.ports[].host_ip", Mapped, "publish ADDR"),
	row("services.*.ports[].protocol", Noted, "tcp only; udp is refused"),
	row("services.*.ports[].mode", Ignored, "a Swarm setting"),
	row("services.*.ports[].name", Ignored, "a label for the port"),
	row("services.*.ports[].app_protocol", Ignored, "a hint for tools"),
	row("services.*.expose", Mapped, "port, ports"),
	row("services.*.networks", Noted, "the first network is the kit; more networks become connect: (addresses there are berth's)"),
	row("services.*.networks.*.ipv4_address", Mapped, "ip"),
	row("services.*.networks.*.aliases", Noted, "berth's aliases are the service and container names"),
	row("services.*.networks.*.ipv6_address", Refused, "berth networks are IPv4 only"),
	row("services.*.networks.*.mac_address", Refused, "berth lets the engine pick MAC addresses"),
	row("services.*.networks.*.link_local_ips", Refused, whyNoNet),
	row("services.*.networks.*.driver_opts", Refused, whyNoNet),
	row("services.*.networks.*.priority", Ignored, "the first network is the primary one"),
	row("services.*.networks.*.gw_priority", Ignored, "the kit network is the gateway"),
	row("services.*.networks.*.interface_name", Refused, whyNoNet),
	row("services.*.networks.*.use_service_name_alias", Ignored, "the service name is always an alias"),
	row("services.*.network_mode", Refused, whyNoNet),
	row("services.*.volumes", Mapped, "mounts"),
	row("services.*.volumes[].type", Noted, "bind and volume; tmpfs, npipe, cluster and image are refused"),
	row("services.*.volumes[].read_only", Mapped, "mounts …:ro"),
	row("services.*.volumes[].bind", Noted, "berth creates a missing host directory (create_host_path: true); propagation and selinux are refused"),
	row("services.*.volumes[].volume", Refused, "nocopy and subpath: a berth volume is a plain directory"),
	row("services.*.volumes[].consistency", Ignored, "Docker Desktop only"),
	row("services.*.volumes[].tmpfs", Refused, "berth mounts no tmpfs"),
	row("services.*.volumes[].image", Refused, "berth mounts no image"),
	row("services.*.volumes_from", Refused, "name the same mounts in each service"),
	row("services.*.healthcheck.test", Mapped, "health.exec (CMD: a list, CMD-SHELL: a string); NONE: health: none"),
	row("services.*.healthcheck.interval", Mapped, "health.interval"),
	row("services.*.healthcheck.timeout", Mapped, "health.timeout"),
	row("services.*.healthcheck.start_period", Mapped, "health.startPeriod"),
	row("services.*.healthcheck.retries", Mapped, "health.retries"),
	row("services.*.healthcheck.start_interval", Refused, "berth probes quickly at first by itself"),
	row("services.*.healthcheck.disable", Mapped, "health: none"),
	row("services.*.depends_on", Mapped, "dependsOn"),
	row("services.*.depends_on.*.condition", Noted, "service_started: started, service_healthy: healthy; service_completed_successfully becomes started"),
	row("services.*.depends_on.*.restart", Refused, "berth restarts dependents only when their config changes"),
	row("services.*.depends_on.*.required", Noted, "berth requires every dependency; an optional one is dropped"),
	row("services.*.restart", Noted, "restart; on-failure:N loses its count; no restart: means \"no\", as in Compose"),
	row("services.*.deploy.restart_policy.condition", Mapped, "restart (any: always, on-failure, none: no)"),
	row("services.*.deploy.restart_policy.max_attempts", Refused, "berth restart policies have no count"),
	row("services.*.deploy.restart_policy.delay", Refused, "the engine decides the delay"),
	row("services.*.deploy.restart_policy.window", Refused, "the engine decides the window"),
	row("services.*.deploy.resources.limits.cpus", Mapped, "resources.cpus"),
	row("services.*.deploy.resources.limits.memory", Mapped, "resources.memory"),
	row("services.*.deploy.resources.limits.pids", Mapped, "resources.pids"),
	row("services.*.deploy.resources.limits.devices", Refused, "devices are reservations"),
	row("services.*.deploy.resources.limits.generic_resources", Refused, whySwarm),
	row("services.*.deploy.resources.reservations.cpus", Refused, "berth sets limits, not reservations"),
	row("services.*.deploy.resources.reservations.memory", Refused, "berth sets limits, not reservations"),
	row("services.*.deploy.resources.reservations.pids", Refused, "berth sets limits, not reservations"),
	row("services.*.deploy.resources.reservations.generic_resources", Refused, whySwarm),
	row("services.*.deploy.resources.reservations.devices", Mapped, "gpu (a device request with capability gpu)"),
	row("services.*.deploy.resources.reservations.devices[].driver", Noted, "nvidia: gpu.vendor nvidia; cdi and others are refused"),
	row("services.*.deploy.resources.reservations.devices[].count", Mapped, "gpu: all or a count"),
	row("services.*.deploy.resources.reservations.devices[].device_ids", Noted, "gpu: [UUID …]; indexes are refused (NVML's order changes across reboots) and become a count"),
	row("services.*.deploy.resources.reservations.devices[].capabilities", Mapped, "gpu.capabilities"),
	row("services.*.deploy.resources.reservations.devices[].options", Refused, "berth passes no driver options"),
	row("services.*.deploy.replicas", Refused, whyOneCtr),
	row("services.*.deploy.mode", Refused, whySwarm),
	row("services.*.deploy.labels", Refused, whySwarm),
	row("services.*.deploy.update_config", Refused, whySwarm),
	row("services.*.deploy.rollback_config", Refused, whySwarm),
	row("services.*.deploy.placement", Refused, whySwarm),
	row("services.*.deploy.endpoint_mode", Refused, whySwarm),
	row("services.*.gpus", Mapped, "gpu, as deploy's device requests"),
	row("services.*.labels", Mapped, "labels (io.berth.* is refused)"),
	row("services.*.label_file", Refused, "write the labels in labels:"),
	row("services.*.user", Mapped, "user"),
	row("services.*.working_dir", Mapped, "workdir"),
	row("services.*.hostname", Mapped, "hostname"),
	row("services.*.shm_size", Mapped, "resources.shmSize"),
	row("services.*.mem_limit", Mapped, "resources.memory"),
	row("services.*.cpus", Mapped, "resources.cpus"),
	row("services.*.pids_limit", Mapped, "resources.pids"),
	row("services.*.profiles", Noted, "stacks: one per profile; a service of a profile not given with --profile is imported with enable: false, as Compose starts it only with --profile"),
	row("services.*.container_name", Noted, "berth names every container <kit>-<service>"),
	row("services.*.extends", Mapped, "resolved by compose-go before mapping"),
	row("services.*.x-berth", Mapped, "berth options of the service (kit, service, options), written by berth export compose"),
	row("services.*.x-*", Refused, "an extension field: berth does not know what it means"),
	row("services.*.privileged", Refused, whyNoPriv),
	row("services.*.cap_add", Refused, whyNoPriv),
	row("services.*.cap_drop", Refused, "berth keeps the engine's default capabilities"),
	row("services.*.security_opt", Refused, whyNoPriv),
	row("services.*.devices", Refused, whyNoDevices),
	row("services.*.device_cgroup_rules", Refused, whyNoDevices),
	row("services.*.group_add", Refused, "berth adds groups only for GPU devices"),
	row("services.*.secrets", Refused, whySecretService),
	row("services.*.configs", Refused, "write the content to a file and bind mount it read-only"),
	row("services.*.logging", Refused, "berth leaves logging to the engine's default; read logs with berth logs"),
	row("services.*.log_driver", Refused, "berth leaves logging to the engine's default"),
	row("services.*.log_opt", Refused, "berth leaves logging to the engine's default"),
	row("services.*.init", Refused, "berth runs the image's own init"),
	row("services.*.tty", Refused, "berth containers have no terminal; use berth enter"),
	row("services.*.stdin_open", Refused, "berth containers have no stdin; use berth exec"),
	row("services.*.stop_grace_period", Refused, "berth gives every container 10s to stop"),
	row("services.*.stop_signal", Refused, "berth stops with the image's stop signal"),
	row("services.*.ulimits", Refused, "berth sets no ulimits"),
	row("services.*.sysctls", Refused, "berth sets no sysctls"),
	row("services.*.tmpfs", Refused, "berth mounts no tmpfs"),
	row("services.*.read_only", Refused, "berth containers have a writable root"),
	row("services.*.extra_hosts", Refused, "services reach each other by name on the kit network"),
	row("services.*.dns", Refused, "the engine's DNS is used"),
	row("services.*.dns_opt", Refused, "the engine's DNS is used"),
	row("services.*.dns_search", Refused, "the engine's DNS is used"),
	row("services.*.domainname", Refused, "hostname only"),
	row("services.*.links", Refused, "services reach each other by name on the kit network"),
	row("services.*.external_links", Refused, "services reach each other by name on the kit network"),
	row("services.*.ipc", Refused, "berth isolates IPC; raise shm_size instead"),
	row("services.*.pid", Refused, "berth isolates PIDs"),
	row("services.*.uts", Refused, "berth isolates UTS"),
	row("services.*.userns_mode", Refused, "the engine's user namespace setting is used"),
	row("services.*.cgroup", Refused, "berth uses the engine's default"),
	row("services.*.cgroup_parent", Refused, "berth uses the engine's default"),
	row("services.*.runtime", Refused, "berth picks the runtime for GPUs itself (gpu.mode)"),
	row("services.*.platform", Refused, "the host's platform is used"),
	row("services.*.pull_policy", Refused, "berth pulls a missing image, and a newer one on berth pull"),
	row("services.*.pull_refresh_after", Refused, "berth pulls a missing image, and a newer one on berth pull"),
	row("services.*.scale", Refused, whyOneCtr),
	row("services.*.mem_reservation", Refused, "berth sets limits, not reservations"),
	row("services.*.memswap_limit", Refused, "berth sets memory limits only"),
	row("services.*.mem_swappiness", Refused, "berth sets memory limits only"),
	row("services.*.oom_kill_disable", Refused, "berth keeps the OOM killer"),
	row("services.*.oom_score_adj", Refused, "berth keeps the default OOM score"),
	row("services.*.cpu_count", Refused, "write cpus"),
	row("services.*.cpu_percent", Refused, "write cpus"),
	row("services.*.cpu_period", Refused, "write cpus"),
	row("services.*.cpu_quota", Refused, "write cpus"),
	row("services.*.cpu_rt_period", Refused, "write cpus"),
	row("services.*.cpu_rt_runtime", Refused, "write cpus"),
	row("services.*.cpuset", Refused, "write cpus"),
	row("services.*.cpu_shares", Refused, "write cpus"),
	row("services.*.blkio_config", Refused, "berth sets no I/O limits"),
	row("services.*.storage_opt", Refused, "berth uses the engine's storage defaults"),
	row("services.*.isolation", Refused, "Windows only"),
	row("services.*.credential_spec", Refused, "Windows only"),
	row("services.*.mac_address", Refused, "berth lets the engine pick MAC addresses"),
	row("services.*.annotations", Refused, "berth sets labels, not OCI annotations"),
	row("services.*.attach", Ignored, "berth logs shows every service"),
	row("services.*.develop", Refused, "compose watch has no berth equivalent"),
	row("services.*.provider", Refused, "berth runs containers only"),
	row("services.*.models", Refused, "Docker Model Runner; use the ml kit's ollama or vllm"),
	row("services.*.net", Refused, whyNoNet),
	row("services.*.pre_start", Refused, "berth runs no lifecycle hooks"),
	row("services.*.post_start", Refused, "berth runs no lifecycle hooks"),
	row("services.*.pre_stop", Refused, "berth runs no lifecycle hooks"),
	row("services.*.use_api_socket", Refused, whyNoPriv),
	row("services.*.umask", Refused, "the image's umask is used"),
	row("services.*.volume_driver", Refused, "berth volumes are directories on the host"),
	row("services.*.dockerfile", Refused, "not built: see build"),
}

const whySecretService = "Compose secrets are files in /run/secrets; write the value to a file and mount it read-only, or pass it with envFile:"

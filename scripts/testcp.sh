#!/usr/bin/env bash
# testcp.sh: a real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) on loopback for berth's cluster tests.
#
#   scripts/testcp.sh build   build the binaries (or reuse them) and print their dir
#   scripts/testcp.sh start   build, then start the control plane (idempotent) and
#                             print the path of its kubeconfig
#   scripts/testcp.sh stop    stop it
#   scripts/testcp.sh env     print KUBECONFIG=... for a running control plane
#   scripts/testcp.sh start-node
#                             the same control plane plus a one-node cluster on
#                             this machine (see "The node" below); prints the
#                             kubeconfig. stop stops the node too.
#
# The binaries come from hack/testcp, a separate Go module, so the main
# module's go.mod stays small. They are cached under
# ~/.cache/berth/testcp/<key>/bin, keyed by that module's go.mod and go.sum and
# the Go version: a cold build takes ~7 min, a rebuild with a warm Go build
# cache ~15 s, and a present binary set is reused as is.
#
# Environment:
#   BERTH_TESTCP_DIR   run dir (certs, etcd data, logs, pids); default /tmp/berth-testcp
#   BERTH_TESTCP_PORT  apiserver port on 127.0.0.1; default 16443
#                      (etcd uses PORT+1 and PORT+2, the controller-manager PORT+3,
#                      the scheduler PORT+4, kubelet PORT+5/6, kube-proxy PORT+7/8)
#   BERTH_TESTNODE_ROOT  the node's persistent dir (containerd's images, kubelet,
#                      volumes); default /var/lib/berth-testnode
#   BERTH              a berth binary to build the node's images with; default:
#                      built from this checkout
#
# The node (start-node), as root, next to Docker without touching it:
#   - containerd (Debian's 1.6) with its own socket, root and state
#     (/run/berth-testnode, $BERTH_TESTNODE_ROOT/containerd), runc, and the
#     cgroupfs driver (this machine has cgroup v1 and no systemd as PID 1);
#   - the bridge CNI (Debian's containernetworking-plugins: bridge, host-local,
#     portmap, loopback) on its own bridge berthk8s0 and subnet 10.244.0.0/24,
#     which neither Docker's pools nor the seed's 192.168.2x0.0/24 use;
#     the bridge plugin does not enforce NetworkPolicies;
#   - kube-scheduler, kubelet (--fail-swap-on=false, failCgroupV1: false,
#     cgroup root /berth-testnode), kube-proxy (iptables mode, masquerade-all,
#     no conntrack or route_localnet changes);
#   - the local-path provisioner as the default storage class "local-path";
#     its image, the helper pods' (toolbox) and the sandbox image (pause) are
#     built by berth's builder (hack/testcp/berth.yaml) and imported with
#     `berth cluster load`.
# The apiserver listens on the bridge's address 10.244.0.1 so that pods
# reach it through the kubernetes Service.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/testcp"
k8s_version=v1.37.2
run=${BERTH_TESTCP_DIR:-/tmp/berth-testcp}
port=${BERTH_TESTCP_PORT:-16443}
etcd_client=$((port + 1))
etcd_peer=$((port + 2))
kcm_port=$((port + 3))
cache=${XDG_CACHE_HOME:-$HOME/.cache}/berth/testcp
sched_port=$((port + 4))
kubelet_port=$((port + 5))
kubelet_healthz=$((port + 6))
proxy_metrics=$((port + 7))
proxy_healthz=$((port + 8))
node_root=${BERTH_TESTNODE_ROOT:-/var/lib/berth-testnode}
node_run=/run/berth-testnode
node_name=berth-testnode
bridge=berthk8s0
pod_cidr=10.244.0.0/24
node_ip=10.244.0.1
node_mode=0
api_host=127.0.0.1

log() { echo "testcp: $*" >&2; }

key() {
	cat "$mod/go.mod" "$mod/go.sum" <(go version) <(echo "$k8s_version") | sha256sum | cut -c1-16
}

build() {
	local bin="$cache/$(key)/bin"
	if [[ -x $bin/kube-apiserver && -x $bin/kube-controller-manager && -x $bin/etcd &&
		-x $bin/kube-scheduler && -x $bin/kubelet && -x $bin/kube-proxy ]]; then
		echo "$bin"
		return
	fi
	log "building the control plane and node into $bin (cold: ~12 min)"
	mkdir -p "$bin.tmp"
	local v=k8s.io/component-base/version
	local minor=${k8s_version#v1.}
	minor=${minor%%.*}
	# Without these the apiserver reports v0.0.0 and clients refuse some features.
	local ld="-s -w -X $v.gitVersion=$k8s_version -X $v.gitMajor=1 -X $v.gitMinor=$minor"
	ld+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
	ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
	(
		cd "$mod"
		export CGO_ENABLED=0 GOFLAGS=-mod=mod
		go build -trimpath -ldflags "$ld" -o "$bin.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
		go build -trimpath -ldflags "$ld" -o "$bin.tmp/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
		# The node: scheduler, kubelet, kube-proxy (start-node).
		go build -trimpath -ldflags "$ld" -o "$bin.tmp/kube-scheduler" k8s.io/kubernetes/cmd/kube-scheduler
		go build -trimpath -ldflags "$ld" -o "$bin.tmp/kubelet" k8s.io/kubernetes/cmd/kubelet
		go build -trimpath -ldflags "$ld" -o "$bin.tmp/kube-proxy" k8s.io/kubernetes/cmd/kube-proxy
		go build -trimpath -ldflags "-s -w" -o "$bin.tmp/etcd" go.etcd.io/etcd/server/v3
	)
	rm -rf "$bin"
	mv "$bin.tmp" "$bin"
	echo "$bin"
}

certs() {
	local d=$run/pki
	[[ -f $d/admin.crt ]] && return
	mkdir -p "$d"
	# ECDSA P-256: generation is instant, RSA 2048 takes seconds on 2 cores.
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$d/ca.key" -subj /CN=berth-testcp-ca -days 3650 -out "$d/ca.crt" 2>/dev/null
	sign() { # name subject [san]
		openssl ecparam -name prime256v1 -genkey -noout -out "$d/$1.key" 2>/dev/null
		openssl req -new -key "$d/$1.key" -subj "$2" -out "$d/$1.csr" 2>/dev/null
		local ext=$d/$1.ext
		: >"$ext"
		[[ -n ${3:-} ]] && echo "subjectAltName=$3" >"$ext"
		openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
			-days 3650 -extfile "$ext" -out "$d/$1.crt" 2>/dev/null
	}
	sign apiserver /CN=kube-apiserver "IP:127.0.0.1,IP:10.0.0.1,IP:$node_ip,DNS:localhost,DNS:kubernetes.default.svc"
	# system:masters: the controller-manager runs with its own credentials
	# (--use-service-account-credentials=false) and needs every permission.
	sign admin "/O=system:masters/CN=berth-admin"
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/sa.key" 2>/dev/null
	openssl ec -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

kubeconfig() {
	cat >"$run/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testcp
  cluster:
    server: https://$api_host:$port
    certificate-authority: $run/pki/ca.crt
users:
- name: admin
  user:
    client-certificate: $run/pki/admin.crt
    client-key: $run/pki/admin.key
contexts:
- name: testcp
  context: {cluster: testcp, user: admin}
current-context: testcp
EOF
}

alive() { [[ -f $run/$1.pid ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

ready() {
	curl -sf --max-time 5 --cacert "$run/pki/ca.crt" --cert "$run/pki/admin.crt" --key "$run/pki/admin.key" \
		"https://$api_host:$port/readyz" >/dev/null
}

wait_for() { # what, seconds, command...
	local what=$1 secs=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "$what not ready after ${secs}s; logs in $run"
			tail -n 20 "$run"/*.log >&2 || true
			return 1
		fi
		sleep 0.2
	done
}

# tools installs what start needs when it is missing (a bare CI image).
tools() {
	local missing=()
	command -v openssl >/dev/null || missing+=(openssl)
	command -v curl >/dev/null || missing+=(curl)
	((${#missing[@]} == 0)) && return
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
}

start() {
	tools
	local bin
	bin=$(flock "$cache/.lock" "$0" _build)
	mkdir -p "$run"
	certs
	kubeconfig
	if alive etcd && alive kube-apiserver && alive kube-controller-manager && ready; then
		echo "$run/kubeconfig"
		return
	fi
	stop_procs
	rm -rf "$run/etcd"
	"$bin/etcd" --data-dir "$run/etcd" --unsafe-no-fsync \
		--listen-client-urls "http://127.0.0.1:$etcd_client" --advertise-client-urls "http://127.0.0.1:$etcd_client" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
		--initial-cluster "default=http://127.0.0.1:$etcd_peer" >"$run/etcd.log" 2>&1 9>&- </dev/null &
	echo $! >"$run/etcd.pid"
	wait_for etcd 60 curl -sf --max-time 1 "http://127.0.0.1:$etcd_client/health"
	local apiflags=(--endpoint-reconciler-type none --disable-admission-plugins ServiceAccount)
	if ((node_mode)); then
		# Pods get service account tokens, and the kubernetes Service points
		# at the bridge address; logs and exec go to the kubelet with the
		# admin certificate.
		apiflags=(--kubelet-client-certificate "$run/pki/admin.crt" --kubelet-client-key "$run/pki/admin.key"
			--kubelet-preferred-address-types InternalIP)
	fi
	"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_client" \
		--bind-address "$api_host" --advertise-address "$api_host" --secure-port "$port" \
		--cert-dir "$run/pki" --tls-cert-file "$run/pki/apiserver.crt" --tls-private-key-file "$run/pki/apiserver.key" \
		--client-ca-file "$run/pki/ca.crt" --authorization-mode RBAC \
		--service-account-key-file "$run/pki/sa.pub" --service-account-signing-key-file "$run/pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc \
		--service-cluster-ip-range 10.0.0.0/24 \
		"${apiflags[@]}" >"$run/kube-apiserver.log" 2>&1 9>&- </dev/null &
	echo $! >"$run/kube-apiserver.pid"
	wait_for kube-apiserver 180 ready
	"$bin/kube-controller-manager" --kubeconfig "$run/kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$kcm_port" \
		--use-service-account-credentials=false \
		--service-account-private-key-file "$run/pki/sa.key" --root-ca-file "$run/pki/ca.crt" \
		--leader-elect=false --controllers '*' >"$run/kube-controller-manager.log" 2>&1 9>&- </dev/null &
	echo $! >"$run/kube-controller-manager.pid"
	log "control plane up on https://$api_host:$port"
	echo "$run/kubeconfig"
}

stop_procs() { # [daemon...]; default: all
	local p all=(kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd)
	(($# == 0)) || all=("$@")
	for p in "${all[@]}"; do
		if alive "$p"; then
			local pid
			pid=$(cat "$run/$p.pid")
			kill "$pid" 2>/dev/null || true
			local deadline=$((SECONDS + 15))
			while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f "$run/$p.pid"
	done
}

# node_tools installs the node's packages from Debian when missing.
node_tools() {
	local missing=()
	command -v containerd >/dev/null || missing+=(containerd)
	command -v runc >/dev/null || missing+=(runc)
	[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
	command -v iptables-restore >/dev/null || missing+=(iptables)
	command -v ip >/dev/null || missing+=(iproute2)
	((${#missing[@]} == 0)) && return
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
}

# node_config writes containerd's, the CNI's and the kubelet's
# configuration.
node_config() {
	mkdir -p "$node_root/cni/net.d" "$node_root/volumes" "$node_root/pod-logs" "$node_run"
	# The CRI gives every pod sandbox oom_score_adj -998 (and Guaranteed
	# pods' containers -997). Lowering it needs CAP_SYS_RESOURCE, which
	# root lacks on some hosts (this one's bounding set leaves it out):
	# runc's init then dies writing /proc/self/oom_score_adj and runc
	# reports only "can't get final child's PID from pipe: EOF".
	# restrict_oom_score_adj clamps the value at containerd's own.
	local restrict_oom=false
	(((0x$(awk '/^CapEff:/ {print $2}' /proc/self/status) >> 24) & 1)) || restrict_oom=true
	cat >"$node_run/containerd.toml" <<TOML
version = 2
root = "$node_root/containerd"
state = "$node_run/containerd"
[grpc]
  address = "$node_run/containerd.sock"
[ttrpc]
  address = "$node_run/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = $restrict_oom
  sandbox_image = "ghcr.io/voidnxlabs/pause:latest"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node_root/cni/net.d"
[plugins."io.containerd.internal.v1.opt"]
  path = "$node_root/opt"
TOML
	cat >"$node_root/cni/net.d/10-berth.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "berth-testnode",
  "plugins": [
    {
      "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {"type": "host-local", "dataDir": "$node_run/ipam",
               "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]], "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
	cat >"$run/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $run/pki/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: /berth-testnode
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$node_run/containerd.sock
podLogsDir: $node_root/pod-logs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# The machine is shared: never evict for pressure, never collect images.
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 50
YAML
}

kcurl() {
	curl -sf --max-time 10 --cacert "$run/pki/ca.crt" --cert "$run/pki/admin.crt" --key "$run/pki/admin.key" "$@"
}

node_ready() {
	kcurl "https://$api_host:$port/api/v1/nodes/$node_name" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
}

# kapply server-side applies one YAML object (the script has no kubectl).
kapply() { # object-path file
	kcurl -H 'Content-Type: application/apply-patch+yaml' -X PATCH --data-binary @"$2" \
		"https://$api_host:$port$1?fieldManager=testcp&force=true" >/dev/null
}

start_node() {
	node_mode=1
	api_host=$node_ip
	[[ $(id -u) == 0 ]] || { log "the node needs root"; return 1; }
	node_tools
	# The bridge exists before the apiserver binds its address; the CNI's
	# bridge plugin takes it over.
	ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
	ip addr show dev "$bridge" | grep -q "inet $node_ip/" || ip addr add "$node_ip/${pod_cidr#*/}" dev "$bridge"
	ip link set "$bridge" up
	start >/dev/null
	if alive containerd && alive kube-scheduler && alive kubelet && alive kube-proxy && node_ready; then
		echo "$run/kubeconfig"
		return
	fi
	local bin
	bin=$(flock "$cache/.lock" "$0" _build)
	node_config
	touch "$run/node"
	# Each controller's hierarchy (cgroup v1) gets the kubelet's root.
	local c
	for c in /sys/fs/cgroup/*/; do
		if [[ -e $c/cgroup.procs ]]; then mkdir -p "$c/berth-testnode"; fi
	done
	if ! alive containerd; then
		containerd --config "$node_run/containerd.toml" >"$run/containerd.log" 2>&1 9>&- </dev/null &
		echo $! >"$run/containerd.pid"
		wait_for containerd 30 ctr -a "$node_run/containerd.sock" version
	fi
	node_images
	local p
	for p in kube-scheduler kubelet kube-proxy; do
		if alive "$p"; then kill "$(cat "$run/$p.pid")" 2>/dev/null || true; fi
	done
	"$bin/kube-scheduler" --kubeconfig "$run/kubeconfig" --bind-address 127.0.0.1 --secure-port "$sched_port" \
		--leader-elect=false >"$run/kube-scheduler.log" 2>&1 9>&- </dev/null &
	echo $! >"$run/kube-scheduler.pid"
	"$bin/kubelet" --config "$run/kubelet.yaml" --kubeconfig "$run/kubeconfig" \
		--hostname-override "$node_name" --node-ip "$node_ip" --root-dir "$node_root/kubelet" \
		--cert-dir "$node_root/kubelet/pki" >"$run/kubelet.log" 2>&1 9>&- </dev/null &
	echo $! >"$run/kubelet.pid"
	"$bin/kube-proxy" --kubeconfig "$run/kubeconfig" --hostname-override "$node_name" \
		--proxy-mode iptables --masquerade-all --cluster-cidr "$pod_cidr" \
		--conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
		--iptables-localhost-nodeports=false \
		--metrics-bind-address "127.0.0.1:$proxy_metrics" --healthz-bind-address "127.0.0.1:$proxy_healthz" \
		>"$run/kube-proxy.log" 2>&1 9>&- </dev/null &
	echo $! >"$run/kube-proxy.pid"
	wait_for node 240 node_ready
	storage
	log "node $node_name ready (pods on $pod_cidr)"
	echo "$run/kubeconfig"
}

# berth_bin builds berth from this checkout unless $BERTH names one.
berth_bin() {
	if [[ -n ${BERTH:-} ]]; then
		echo "$BERTH"
		return
	fi
	(cd "$root" && go build -o "$run/berth" ./cmd/berth)
	echo "$run/berth"
}

# node_images builds the node's own images (berth's builder caches them)
# and imports them into the node's containerd.
node_images() {
	local berth
	berth=$(berth_bin)
	"$berth" -f "$root/hack/testcp/berth.yaml" image build pause local-path-provisioner toolbox >&2
	"$berth" -f "$root/hack/testcp/berth.yaml" cluster load --containerd "$node_run/containerd.sock" \
		pause local-path-provisioner toolbox >&2
}

# storage installs the local-path provisioner (its upstream manifest with
# berth's images, the node's volume dir and cluster-admin rights) as the
# default storage class local-path.
storage() {
	local up=$run/local-path.d
	mkdir -p "$up"
	cat >"$up/ns.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: local-path-storage}
YAML
	cat >"$up/sa.yaml" <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: local-path-provisioner-service-account, namespace: local-path-storage}
YAML
	cat >"$up/crb.yaml" <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: local-path-provisioner-bind}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: local-path-provisioner-service-account, namespace: local-path-storage}]
YAML
	cat >"$up/cm.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: local-path-config, namespace: local-path-storage}
data:
  config.json: |-
    {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$node_root/volumes"]}]}
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "\$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "\$VOL_DIR"
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata:
      name: helper-pod
    spec:
      containers:
      - name: helper-pod
        image: ghcr.io/voidnxlabs/toolbox:latest
        imagePullPolicy: Never
YAML
	cat >"$up/deploy.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: local-path-provisioner, namespace: local-path-storage}
spec:
  replicas: 1
  selector: {matchLabels: {app: local-path-provisioner}}
  template:
    metadata: {labels: {app: local-path-provisioner}}
    spec:
      serviceAccountName: local-path-provisioner-service-account
      containers:
        - name: local-path-provisioner
          image: ghcr.io/voidnxlabs/local-path-provisioner:latest
          imagePullPolicy: Never
          command: [local-path-provisioner, --debug, start, --config, /etc/config/config.json]
          volumeMounts: [{name: config-volume, mountPath: /etc/config/}]
          env:
            - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
            - {name: CONFIG_MOUNT_PATH, value: /etc/config/}
      volumes: [{name: config-volume, configMap: {name: local-path-config}}]
YAML
	cat >"$up/sc.yaml" <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
YAML
	kapply /api/v1/namespaces/local-path-storage "$up/ns.yaml"
	kapply /api/v1/namespaces/local-path-storage/serviceaccounts/local-path-provisioner-service-account "$up/sa.yaml"
	kapply /apis/rbac.authorization.k8s.io/v1/clusterrolebindings/local-path-provisioner-bind "$up/crb.yaml"
	kapply /api/v1/namespaces/local-path-storage/configmaps/local-path-config "$up/cm.yaml"
	kapply /apis/apps/v1/namespaces/local-path-storage/deployments/local-path-provisioner "$up/deploy.yaml"
	kapply /apis/storage.k8s.io/v1/storageclasses/local-path "$up/sc.yaml"
}

# stop_node deletes every pod (the kubelet stops them through the CRI,
# which also tears their networks down), stops the daemons and kills what
# is left in the node's containerd.
stop_node() {
	if [[ ! -f $run/node ]]; then
		stop_procs
		return
	fi
	api_host=$node_ip
	# Nothing must recreate or reschedule the pods being deleted.
	stop_procs kube-controller-manager kube-scheduler
	if alive kube-apiserver && alive kubelet; then
		local ns
		for ns in $(kcurl "https://$api_host:$port/api/v1/namespaces" | tr -d ' ' |
			grep -o '"name":"[^"]*"' | cut -d'"' -f4 | sort -u); do
			kcurl -X DELETE "https://$api_host:$port/api/v1/namespaces/$ns/pods?gracePeriodSeconds=0" >/dev/null || true
		done
		local deadline=$((SECONDS + 60))
		while ((SECONDS < deadline)) && ctr -a "$node_run/containerd.sock" -n k8s.io tasks ls 2>/dev/null | grep -q RUNNING; do
			sleep 1
		done
	fi
	stop_procs
	if alive containerd; then
		local t
		for t in $(ctr -a "$node_run/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$node_run/containerd.sock" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
		done
		kill "$(cat "$run/containerd.pid")" 2>/dev/null || true
		rm -f "$run/containerd.pid"
	fi
	# A shim whose task was never deleted outlives containerd.
	local shim
	for shim in $(pgrep -f -- "-address $node_run/containerd.sock" || true); do
		kill "$shim" 2>/dev/null || true
	done
	# What the kubelet mounted for pods (secrets, service account tokens).
	if [[ -n $node_root ]]; then
		grep " $node_root/kubelet/" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	fi
	# kube-proxy leaves its iptables chains behind when it stops.
	local bin=$cache/$(key)/bin
	if [[ -x $bin/kube-proxy ]]; then "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
	# And the kubelet its KUBE-FIREWALL and canary chains.
	local ipt t
	for ipt in iptables ip6tables; do
		"$ipt" -D INPUT -j KUBE-FIREWALL 2>/dev/null || true
		"$ipt" -D OUTPUT -j KUBE-FIREWALL 2>/dev/null || true
		"$ipt" -F KUBE-FIREWALL 2>/dev/null || true
		"$ipt" -X KUBE-FIREWALL 2>/dev/null || true
		for t in filter nat mangle; do
			"$ipt" -t "$t" -F KUBE-KUBELET-CANARY 2>/dev/null || true
			"$ipt" -t "$t" -X KUBE-KUBELET-CANARY 2>/dev/null || true
			"$ipt" -t "$t" -X KUBE-IPTABLES-HINT 2>/dev/null || true
		done
	done
	rm -f "$run/node"
}

# One caller at a time per run dir (fd 9 holds the lock; the daemons are
# started without it, or they would hold it for their lifetime) (and per binary cache): test packages
# running in parallel may all call start.
mkdir -p "$run" "$cache"
case ${1:-start} in
build) flock "$cache/.lock" "$0" _build ;;
_build) build ;;
start) exec 9>"$run.lock" && flock 9 && start ;;
start-node) exec 9>"$run.lock" && flock 9 && start_node ;;
stop) exec 9>"$run.lock" && flock 9 && stop_node ;;
env) alive kube-apiserver && echo "KUBECONFIG=$run/kubeconfig" ;;
*)
	echo "usage: $0 build|start|start-node|stop|env" >&2
	exit 2
	;;
esac

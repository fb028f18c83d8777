#!/usr/bin/env bash
# testcp.sh: a real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) on loopback for berth's cluster tests.
#
#   scripts/testcp.sh build   build the binaries (or reuse them) and print their dir
#   scripts/testcp.sh start   build, then start the control plane (idempotent) and
#                             print the path of its kubeconfig
#   scripts/testcp.sh stop    stop it
#   scripts/testcp.sh env     print KUBECONFIG=... for a running control plane
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
#                      (etcd uses PORT+1 and PORT+2, the controller-manager PORT+3)
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

log() { echo "testcp: $*" >&2; }

key() {
	cat "$mod/go.mod" "$mod/go.sum" <(go version) <(echo "$k8s_version") | sha256sum | cut -c1-16
}

build() {
	local bin="$cache/$(key)/bin"
	if [[ -x $bin/kube-apiserver && -x $bin/kube-controller-manager && -x $bin/etcd ]]; then
		echo "$bin"
		return
	fi
	log "building the control plane into $bin (cold: ~7 min)"
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
	sign apiserver /CN=kube-apiserver "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes.default.svc"
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
    server: https://127.0.0.1:$port
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
	curl -sf --max-time 2 --cacert "$run/pki/ca.crt" --cert "$run/pki/admin.crt" --key "$run/pki/admin.key" \
		"https://127.0.0.1:$port/readyz" >/dev/null
}

wait_for() { # what, seconds, command...
	local what=$1 secs=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "$what not ready after ${secs}s; logs in $run"
			tail -20 "$run"/*.log >&2 || true
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
	wait_for etcd 30 curl -sf --max-time 1 "http://127.0.0.1:$etcd_client/health"
	"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_client" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
		--cert-dir "$run/pki" --tls-cert-file "$run/pki/apiserver.crt" --tls-private-key-file "$run/pki/apiserver.key" \
		--client-ca-file "$run/pki/ca.crt" --authorization-mode RBAC \
		--service-account-key-file "$run/pki/sa.pub" --service-account-signing-key-file "$run/pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc \
		--service-cluster-ip-range 10.0.0.0/24 \
		--endpoint-reconciler-type none \
		--disable-admission-plugins ServiceAccount >"$run/kube-apiserver.log" 2>&1 9>&- </dev/null &
	echo $! >"$run/kube-apiserver.pid"
	wait_for kube-apiserver 60 ready
	"$bin/kube-controller-manager" --kubeconfig "$run/kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$kcm_port" \
		--use-service-account-credentials=false \
		--service-account-private-key-file "$run/pki/sa.key" --root-ca-file "$run/pki/ca.crt" \
		--leader-elect=false --controllers '*' >"$run/kube-controller-manager.log" 2>&1 9>&- </dev/null &
	echo $! >"$run/kube-controller-manager.pid"
	log "control plane up on https://127.0.0.1:$port"
	echo "$run/kubeconfig"
}

stop_procs() {
	local p
	for p in kube-controller-manager kube-apiserver etcd; do
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

# One caller at a time per run dir (fd 9 holds the lock; the daemons are
# started without it, or they would hold it for their lifetime) (and per binary cache): test packages
# running in parallel may all call start.
mkdir -p "$run" "$cache"
case ${1:-start} in
build) flock "$cache/.lock" "$0" _build ;;
_build) build ;;
start) exec 9>"$run.lock" && flock 9 && start ;;
stop) exec 9>"$run.lock" && flock 9 && stop_procs ;;
env) alive kube-apiserver && echo "KUBECONFIG=$run/kubeconfig" ;;
*)
	echo "usage: $0 build|start|stop|env" >&2
	exit 2
	;;
esac

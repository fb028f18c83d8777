#!/usr/bin/env bash
# Installs Podman and systemd-nspawn from Debian and starts Podman's REST API
# service on its root socket, idempotently: safe to run again where they
# already run. berth's podman and nspawn engine tests need them; under
# CI=true a missing engine fails those tests instead of skipping them.
set -euo pipefail

log() { echo "ci-podman: $*" >&2; }

sock=${BERTH_PODMAN_SOCKET:-/run/podman/podman.sock}

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
# --init (a spec's Init) runs catatonit, which podman only recommends.
[ -x /usr/libexec/podman/catatonit ] || need+=(catatonit)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
# nspawn machines get their network from berth: a bridge, veth pairs and
# NAT, made with iproute2 and iptables.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
# curl asks the API socket whether the service answers.
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		log "missing ${need[*]} and this is not root: install them yourself"
		exit 1
	fi
	log "installing ${need[*]} from Debian"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || true
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

up() { curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }

if ! up; then
	if [ "$(id -u)" != 0 ]; then
		log "podman's API is not running on $sock and this is not root: run 'podman system service -t 0 unix://$sock' yourself"
		exit 1
	fi
	log "starting podman system service on $sock"
	mkdir -p "$(dirname "$sock")"
	rm -f "$sock"
	# -t 0: the service never exits on idle; tests come and go.
	nohup podman system service -t 0 "unix://$sock" >/var/log/berth-ci-podman.log 2>&1 &
	for _ in $(seq 1 60); do
		up && break
		sleep 0.5
	done
	up || { log "podman did not start; see /var/log/berth-ci-podman.log"; tail -20 /var/log/berth-ci-podman.log >&2; exit 1; }
fi
log "podman $(podman version --format '{{.Server.Version}}' 2>/dev/null || podman --version) is up on $sock"

#!/usr/bin/env bash
# Installs and starts what berth's tests need, idempotently: Debian's Docker
# engine. Safe to run again on a machine where everything already runs.
set -euo pipefail

log() { echo "ci-setup: $*" >&2; }

if ! command -v dockerd >/dev/null 2>&1; then
	log "installing docker.io from Debian"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || true
	apt-get install -y -qq docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ]; then
		log "docker is not running and this is not root: start dockerd yourself"
		exit 1
	fi
	log "starting dockerd"
	nohup dockerd >/var/log/berth-ci-dockerd.log 2>&1 &
	for _ in $(seq 1 60); do
		docker info >/dev/null 2>&1 && break
		sleep 0.5
	done
	docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/berth-ci-dockerd.log"; tail -20 /var/log/berth-ci-dockerd.log >&2; exit 1; }
fi
log "docker $(docker version --format '{{.Server.Version}}') is up"

# Build tools and the browser of the demo's end-to-end test.
bash "$(dirname "$0")/services-setup.sh"
bash "$(dirname "$0")/ci-podman.sh"

# The Kubernetes control plane of the cluster tests (~7 min cold, cached
# under ~/.cache/berth/testcp): built here so the tests do not race for it.
bash "$(dirname "$0")/testcp.sh" build >/dev/null

#!/usr/bin/env bash
# Installs Debian's Docker engine when missing and starts dockerd when it is
# not running, idempotently. make demo needs only this; make test runs it
# through ci-setup.sh.
set -euo pipefail

log() { echo "docker-setup: $*" >&2; }

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


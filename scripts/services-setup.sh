#!/usr/bin/env bash
# Installs, idempotently, what building the demo's images and checking
# them needs on the build machine, from Debian:
#   g++, make, python3   cgo (Ollama) and node-gyp (code-server's native modules)
#   libkrb5-dev          code-server's kerberos module links against it
#   npm                  installs code-server (Node.js itself comes from npm)
#   chromium             the headless browser of the end-to-end test
#   caddy                the real Caddy of the proxy's routing test (proxy.TestCaddyRefusesForeignHosts)
# Go comes from the machine. Safe to run again.
set -euo pipefail

log() { echo "services-setup: $*" >&2; }

need=()
pairs="g++:g++ make:make python3:python3 npm:npm caddy:caddy"
# make demo builds images but runs no browser: BERTH_NO_BROWSER=1 skips it.
[ -n "${BERTH_NO_BROWSER:-}" ] || pairs="$pairs chromium:chromium"
for pair in $pairs; do
	cmd=${pair%%:*} pkg=${pair#*:}
	command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
[ -e /usr/include/gssapi/gssapi.h ] || need+=(libkrb5-dev)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		log "missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root"
		exit 1
	fi
	log "installing ${need[*]} from Debian"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || true
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
log "build tools ready"

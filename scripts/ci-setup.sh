#!/usr/bin/env bash
# Installs and starts what berth's tests need, idempotently: Debian's Docker
# engine, Podman, the demo's build tools and browser, and the Kubernetes
# test control plane. Safe to run again on a machine where everything
# already runs.
set -euo pipefail

bash "$(dirname "$0")/docker-setup.sh"

# Build tools and the browser of the demo's end-to-end test.
bash "$(dirname "$0")/services-setup.sh"
bash "$(dirname "$0")/ci-podman.sh"

# The Kubernetes control plane of the cluster tests (~7 min cold, cached
# under ~/.cache/berth/testcp): built here so the tests do not race for it.
bash "$(dirname "$0")/testcp.sh" build >/dev/null

# Docker Compose v2, the peer of the compose import tests and the engine
# benchmark (~5 min cold, cached under ~/.cache/berth/bench).
bash "$(dirname "$0")/compose-peer.sh" >/dev/null

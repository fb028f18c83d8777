#!/usr/bin/env bash
# Builds Docker Compose v2 from its Go module (once) and prints the path of
# the binary. The engine benchmark (bench/engine.sh) and the compose import
# tests (compose/docker_test.go, via BERTH_DOCKER_COMPOSE) use it as the peer
# berth is compared with.
#
#   scripts/compose-peer.sh            # prints ~/.cache/berth/bench/docker-compose-v2.40.3
#
# Idempotent: the binary is cached under berth's cache dir and only built
# when missing (about 5 minutes cold on 2 cores). It is built in a throwaway
# module so that compose never becomes a dependency of berth; `go install
# …@version` refuses compose's exclude directives, a module that requires it
# builds it. v2.40.3 is the newest v2 that builds with Go 1.26.8 (v5 needs a
# newer Go). Build output goes to stderr, only the path to stdout.
set -euo pipefail
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

compose_version=v2.40.3
cache="${XDG_CACHE_HOME:-$HOME/.cache}/berth/bench"
compose="$cache/docker-compose-$compose_version"
if ! [ -x "$compose" ]; then
	echo "compose-peer: building docker compose $compose_version (once; about 5 minutes)" >&2
	src="$cache/compose-$compose_version-src"
	mkdir -p "$src"
	(
		cd "$src"
		[ -f go.mod ] || go mod init berthbench/compose >/dev/null 2>&1
		go get "github.com/docker/compose/v2/cmd@$compose_version" >&2
		nice -n 10 go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$compose_version" \
			-o "$compose.tmp.$$" github.com/docker/compose/v2/cmd
	)
	mv "$compose.tmp.$$" "$compose"
fi
echo "$compose"

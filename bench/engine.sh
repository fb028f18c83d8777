#!/usr/bin/env bash
# Measures berth's up against Docker Compose v2 and the engine's own floor
# on the same containers, and prints a table (see docs/benchmarks.md).
#
#   bench/engine.sh                         # N = 5, 20, 50; 5 runs each
#   bench/engine.sh -n 5,20 -reps 3         # flags go to bench/engine
#   bench/engine.sh -cpuprofile /tmp/prof   # and profile berth's library up
#   bench/engine.sh -also-parallel 8,16     # berth's library up at other parallelisms too
#   bench/engine.sh -berth=                 # leave the berth binary out
#
# It builds what it needs: Docker Compose v2.40.3 (scripts/compose-peer.sh:
# about 5 minutes cold, then cached under ~/.cache/berth/bench), the berth binary (its up is measured when it has
# one), and the bench tool in bench/engine, a separate module so that
# compose never becomes a dependency of berth. Needs a running Docker
# engine; uses only 10.219.0.0/16 and removes everything it makes.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

compose=$(scripts/compose-peer.sh)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/berth" ./cmd/berth
(cd bench/engine && go build -mod=mod -o "$tmp/bench" .)

args=(-compose "$compose")
if "$tmp/berth" up --help >/dev/null 2>&1; then
	args+=(-berth "$tmp/berth")
else
	echo "bench: this berth has no up command; measuring its library path only" >&2
fi
echo "bench: $("$compose" version), berth $(git rev-parse --short HEAD 2>/dev/null || echo '?')" >&2
"$tmp/bench" "${args[@]}" "$@"

#!/usr/bin/env bash
# make test-fresh: the README's two commands as on a brand-new machine, in
# the README's order (`make demo`, then `make test`), with every cache the
# builds and tests use pointed at new empty directories, so that nothing
# left in /tmp, ~ or a cache by hand can hide a missing step:
#   HOME, TMPDIR, XDG_CACHE_HOME (berth's image cache, the k8s test control
#   plane), GOCACHE, GOMODCACHE and npm's cache.
# They live under $1/<time> (make: FRESH_DIR, default /var/tmp/berth-fresh)
# and are kept for inspection; remove them when done. The Debian packages
# the set-up scripts install stay installed (that is the machine, not a
# cache). Prints the measured wall times, also written to times.txt there.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${1:-/var/tmp/berth-fresh}
root=$base/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$root"/{home,tmp,xdg-cache,gocache,gomodcache,npm-cache}
export HOME=$root/home TMPDIR=$root/tmp XDG_CACHE_HOME=$root/xdg-cache \
	GOCACHE=$root/gocache GOMODCACHE=$root/gomodcache npm_config_cache=$root/npm-cache
# The toolchain the machine has: a fresh GOPATH must not fetch another.
export GOTOOLCHAIN=local GOPATH=$root/home/go
unset XDG_CONFIG_HOME XDG_STATE_HOME XDG_DATA_HOME

echo "test-fresh: empty caches under $root"
times=$root/times.txt
run() {
	local name=$1
	shift
	local t0 t1 rc=0
	t0=$(date +%s)
	"$@" || rc=$?
	t1=$(date +%s)
	printf '%s: %d s (%dm%02ds), exit %d\n' "$name" $((t1 - t0)) $(((t1 - t0) / 60)) $(((t1 - t0) % 60)) "$rc" | tee -a "$times"
	return "$rc"
}
{
	echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), started $(date -u +%FT%TZ)"
} | tee "$times"
run "make demo" make demo
run "make test" make test
echo "test-fresh: load at the end $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$times"
cat "$times"

#!/usr/bin/env bash
# Builds built-in images cold (empty download cache, no lock) and warm
# (same lock and cache, the case of a rebuild), and prints their compressed
# sizes next to the published sizes of the official images, the build
# times, and the layers the images share.
#
#   bench/images.sh                      # the default set (Debian and PyPI images: minutes)
#   bench/images.sh --all                # every built-in recipe (Ollama's cgo build, Caddy's
#                                        # Go build, code-server's npm install and the PyTorch
#                                        # notebook add tens of minutes on 2 cores)
#   bench/images.sh redis postgres-dev   # some images
#
# Cold is a build with an empty download cache and no lock: berth's cache
# and Go's build cache (GOCACHE under XDG_CACHE_HOME) start empty; Go's
# module cache is the machine's. Warm is a second build from that lock
# and cache (--locked --offline), the case of a rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/berth" ./cmd/berth
berth() { "$tmp/berth" -f "$tmp/no-config.yaml" --state-dir "$tmp/state" "$@"; }

images=("$@")
if [ "${1:-}" = --all ]; then
	mapfile -t images < <(berth image list | awk '$2 == "builtin" {print $1}')
fi
[ ${#images[@]} -gt 0 ] || images=(redis postgres-dev nginx-proxy python-ml jupyterlab pytorch-notebook toolbox app nodejs-dev go-dev)
export XDG_CACHE_HOME="$tmp/cache"

# Published compressed sizes of the official images (Docker Hub, amd64).
declare -A official=([redis]="55.5 (redis)" [postgres-dev]="155 (postgres:16)" [nginx-proxy]="63 (nginx)" [python-ml]="43 (python:3.12-slim, no numpy/jupyter)")

now() { date +%s.%N; }
printf '%-17s %10s %-40s %8s %8s\n' IMAGE "SIZE MB" "OFFICIAL MB" "COLD s" "WARM s"
for img in "${images[@]}"; do
	t0=$(now)
	berth image build "$img" >/dev/null
	t1=$(now)
	berth image build --locked --offline "$img" >/dev/null
	t2=$(now)
	size=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["size"]/1e6))' "$tmp/state/images/$img.json")
	printf '%-17s %10s %-40s %8.1f %8.1f\n' "$img" "$size" "${official[$img]:--}" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
done

echo
echo "Layers shared between images (same digest):"
python3 - "$tmp/state/images" <<'PY'
import glob, json, os, sys
users = {}
sizes = {}
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    if f.endswith(".lock.json"):
        continue
    rec = json.load(open(f))
    for l in rec["layers"]:
        users.setdefault(l["Digest"], []).append(rec["name"])
        sizes[l["Digest"]] = (l["Size"], l.get("Packages") or [l["What"]])
shared = [(d, u) for d, u in users.items() if len(u) > 1]
total = 0
for d, u in sorted(shared, key=lambda x: -sizes[x[0]][0]):
    size, what = sizes[d]
    total += size * (len(u) - 1)
    print("  %-28s %8.1f MB  in %d images: %s" % (",".join(what)[:28], size / 1e6, len(u), " ".join(u)))
print("  %d shared layers; %.1f MB stored once instead of repeatedly" % (len(shared), total / 1e6))
PY

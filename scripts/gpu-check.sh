#!/usr/bin/env bash
# gpu-check.sh compares berth's GPU detection with nvidia-smi on a real
# NVIDIA machine: GPU count, UUIDs, PCI bus ids, models, bound driver and the
# driver version. It needs nvidia-smi and python3, not a container engine.
#
#   scripts/gpu-check.sh               # builds berth with go if $BERTH is unset
#   BERTH=./bin/berth scripts/gpu-check.sh
#
# BERTH_GPU_ARGS adds arguments to `berth gpu` (the tests use --root to
# point it at a fake host). It prints one line per check, then
# "N passed, N failed", and exits 1 when a check failed.
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
check() { # check NAME OK(0|1) DETAIL
	if [ "$2" = 0 ]; then
		passed=$((passed + 1))
		echo "ok    $1: $3"
	else
		failed=$((failed + 1))
		echo "FAIL  $1: $3"
	fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

for tool in nvidia-smi python3; do
	if ! command -v "$tool" >/dev/null; then
		check "$tool" 1 "not installed"
		finish
	fi
done

berth=${BERTH:-}
if [ -z "$berth" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	berth=$tmp/berth
	if ! (cd "$here" && go build -o "$berth" ./cmd/berth); then
		check "build" 1 "go build ./cmd/berth failed; set BERTH to a berth binary"
		finish
	fi
fi

# The same fields berth queries, never the index.
if ! smi=$(nvidia-smi --query-gpu=uuid,pci.bus_id,name,driver_version --format=csv,noheader 2>&1); then
	check "nvidia-smi" 1 "$smi"
	finish
fi
# shellcheck disable=SC2086
if ! inv=$("$berth" gpu --json ${BERTH_GPU_ARGS:-} 2>&1); then
	check "berth gpu" 1 "$inv"
	finish
fi
check "berth gpu" 0 "answered"

# python3 compares the two and prints "NAME<TAB>0|1<TAB>DETAIL" per check.
results=$(SMI="$smi" INV="$inv" python3 - <<'PY'
import csv, io, json, os

def norm(addr):
    # nvidia-smi says 00000000:01:00.0, sysfs 0000:01:00.0.
    dom, bus, rest = addr.strip().lower().split(":")
    return "%04x:%s:%s" % (int(dom, 16), bus, rest)

def out(name, ok, detail):
    print("%s\t%d\t%s" % (name, 0 if ok else 1, detail))

smi = [r for r in csv.reader(io.StringIO(os.environ["SMI"]), skipinitialspace=True) if r]
try:
    inv = json.loads(os.environ["INV"])
except ValueError as e:
    out("json", False, "berth gpu --json: %s" % e)
    raise SystemExit
gpus = [g for g in inv.get("gpus") or [] if g.get("vendor") == "nvidia"]
out("count", len(gpus) == len(smi), "berth %d, nvidia-smi %d" % (len(gpus), len(smi)))
by_uuid = {g.get("uuid", ""): g for g in gpus}
drivers = set()
for uuid, bus, name, driver in smi:
    drivers.add(driver)
    g = by_uuid.get(uuid)
    out("uuid " + uuid, g is not None, "found" if g else "berth does not list it")
    if g is None:
        continue
    out("bus " + uuid, g["address"] == norm(bus), "berth %s, nvidia-smi %s" % (g["address"], bus))
    out("model " + uuid, g.get("model") == name, "berth %r, nvidia-smi %r" % (g.get("model"), name))
    out("driver " + uuid, g.get("driver") == "nvidia", "bound to %r" % g.get("driver"))
have = (inv.get("nvidia") or {}).get("version", "")
out("driver version", drivers == {have}, "berth %r, nvidia-smi %s" % (have, ", ".join(sorted(drivers))))
PY
)
while IFS=$'\t' read -r name ok detail; do
	[ -n "$name" ] && check "$name" "$ok" "$detail"
done <<<"$results"

# The rest of doctor's GPU findings, for the record; they do not count.
echo "--- berth doctor (GPU findings, informational)"
"$berth" doctor --no-engine 2>&1 | grep -E '^(ok|warn|fail) +(nvidia|gpu|node|library|cdi)' || true
finish

#!/usr/bin/env bash
# heartbeat.sh LABEL CMD [ARG...]: runs CMD and, while it runs, prints
# "LABEL: still running (Ns)" on stderr every 30 s, so that a long step
# of `make demo` (a cold `go build` prints nothing for minutes) never looks
# stalled, on a terminal or in a log. Exits with CMD's status.
set -uo pipefail
label=$1
shift
start=$(date +%s)
"$@" &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
	for _ in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	kill -0 "$pid" 2>/dev/null && echo "$label: still running ($(($(date +%s) - start))s)" >&2
done
wait "$pid"

#!/bin/sh
# Durable ticket creation of two builds of yunwei on SQLite, measured in the same run, in
# alternating rounds (A B A B …) so that a noisy machine disturbs both alike.
#
#   bench/compare-writes.sh OLD_BINARY NEW_BINARY [SECONDS_PER_POINT] [ROUNDS]
#
# Each build gets a fresh data directory on the machine's disk, an API token (admin
# create-token) and wrk (bench/wrk/bench.lua, create mode) at concurrency 1, 8 and 32.
# Prints one line per point: build, c, requests/s, p50/p99 ms, non-2xx, server CPU ms per
# request (utime + stime of the server from /proc/PID/stat over the point); then the load average.
set -eu
OLD=$1
NEW=$2
SECS=${3:-10}
ROUNDS=${4:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/compare-lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/yunwei-cmp.XXXXXX")
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT

start() { # name binary port
	mkdir -p "$WORK/$1"
	(cd "$WORK/$1" && exec "$2" --data-dir "$WORK/$1/data" serve --listen "127.0.0.1:$3" \
		>"$WORK/$1/out" 2>"$WORK/$1/err" & echo $! >"$WORK/$1.pid")
	i=0
	until curl -sf "http://127.0.0.1:$3/readyz" >/dev/null; do
		i=$((i + 1)); [ $i -lt 300 ] || { echo "$1 did not start"; cat "$WORK/$1/err"; exit 1; }
		sleep 0.1
	done
	tok=$(cd "$WORK/$1" && exec "$2" --data-dir "$WORK/$1/data" admin create-token --username admin --name bench)
	me=$(curl -sf -H "Authorization: Bearer $tok" "http://127.0.0.1:$3/api/v1/me")
	org=$(printf '%s' "$me" | python3 -c 'import json,sys; print(json.load(sys.stdin)["org_id"])')
	uid=$(printf '%s' "$me" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	echo "$org $uid" >"$WORK/$1.list"
	echo "$tok" >"$WORK/$1.token"
}

start old "$OLD" 18081
start new "$NEW" 18082
compare_rounds create 18081 18082 "$ROUNDS" "$SECS" "$WORK/old.list" "$WORK/new.list"

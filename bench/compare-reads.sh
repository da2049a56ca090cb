#!/bin/sh
# Single-ticket reads (GET /api/v1/tickets/{number}) of two builds of yunwei on SQLite,
# measured in the same run, in alternating rounds (A B A B …) so that a noisy machine
# disturbs both alike.
#
#   bench/compare-reads.sh OLD_BINARY NEW_BINARY [SECONDS_PER_POINT] [ROUNDS] [TICKETS]
#
# READS=queue measures the agent queue page (?sort=queue&open=true&limit=50) instead, and
# READS=search a full-text search page (?q=财务系统&limit=50: a word in every ticket).
#
# Each build gets a fresh data directory on the machine's disk, an API token (admin
# create-token), TICKETS tickets (default 2,000, created through the API with wrk, create
# mode) and then wrk (bench/wrk/bench.lua, get mode, a random ticket of the newest 100 each
# request) at concurrency 1, 8 and 32. Prints one line per point: build, c, requests/s,
# p50/p99 ms, non-2xx, server CPU ms per request (/proc/PID/stat); then each server's RSS and PSS (/proc/PID/smaps_rollup) and the load
# average.
set -eu
OLD=$1
NEW=$2
SECS=${3:-10}
ROUNDS=${4:-2}
TICKETS=${5:-2000}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/compare-lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/yunwei-cmpr.XXXXXX")
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
	printf '%s' "$me" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["org_id"], d["id"])' >"$WORK/$1.orgs"
	echo "$tok" >"$WORK/$1.token"
	# Fill: TICKETS creations, then the numbers of the newest 100 as GET paths.
	n=0
	while [ $n -lt "$TICKETS" ]; do
		curl -sf -o /dev/null -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
			-d '{"kind":"incident","subject":"读取压测","description":"财务系统无法登录，影响月底结账。","channel":"phone","urgency":"medium"}' \
			"http://127.0.0.1:$3/api/v1/tickets"
		n=$((n + 1))
	done
	curl -sf -H "Authorization: Bearer $tok" "http://127.0.0.1:$3/api/v1/tickets?limit=100" |
		python3 -c 'import json,sys; [print("/api/v1/tickets/" + t["number"]) for t in json.load(sys.stdin)["items"]]' >"$WORK/$1.list"
	case "${READS:-get}" in
	queue) echo "/api/v1/tickets?sort=queue&open=true&limit=50" >"$WORK/$1.list" ;;
	search) echo "/api/v1/tickets?q=%E8%B4%A2%E5%8A%A1%E7%B3%BB%E7%BB%9F&limit=50" >"$WORK/$1.list" ;;
	esac
}

mem() { # name
	pid=$(cat "$WORK/$1.pid")
	awk -v b="$1" '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {printf "%s RSS %d KiB, PSS %d KiB\n", b, r, p}' "/proc/$pid/smaps_rollup"
}

start old "$OLD" 18083
start new "$NEW" 18084
echo "tickets per build: $TICKETS; GET paths: $(wc -l <"$WORK/new.list")"
mem old; mem new
compare_rounds get 18083 18084 "$ROUNDS" "$SECS" "$WORK/old.list" "$WORK/new.list"
mem old; mem new

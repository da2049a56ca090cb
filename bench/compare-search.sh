#!/bin/sh
# Full-text search of two builds of yunwei on SQLite on the harness's data set (1,000,000
# tickets at full size), measured in the same run, in alternating rounds (A B A B …).
#
#   bench/compare-search.sh OLD_BINARY OLD_DATA_DIR NEW_BINARY NEW_DATA_DIR [SECONDS] [ROUNDS] [LIST]
#
# The data directories are ones the harness left (`--keep`: bench/target/run/…); copy one for
# the second build (`cp -r`) and, when the builds' search schemas differ, build its index first
# (`NEW_BINARY --data-dir NEW_DATA_DIR search rebuild`), as the harness does. LIST (default search_common.txt in OLD_DATA_DIR) holds
# the request paths, one taken at random per request, as in the harness. Prints per point:
# build, c, requests/s, p50/p99 ms, non-2xx, server CPU ms per request.
set -eu
OLD=$1; OLD_DIR=$(cd "$2" && pwd); NEW=$3; NEW_DIR=$(cd "$4" && pwd)
SECS=${5:-10}; ROUNDS=${6:-2}; LIST=${7:-$OLD_DIR/search_common.txt}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/compare-lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/yunwei-cmps.XXXXXX")
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT

start() { # name binary dir port
	("$2" --data-dir "$3" serve --listen "127.0.0.1:$4" >"$WORK/$1.out" 2>"$WORK/$1.err" & echo $! >"$WORK/$1.pid")
	i=0
	until curl -sf "http://127.0.0.1:$4/readyz" >/dev/null; do
		i=$((i + 1)); [ $i -lt 300 ] || { echo "$1 did not start"; cat "$WORK/$1.err"; exit 1; }
		sleep 0.1
	done
	"$2" --data-dir "$3" admin create-token --username bench-agent --name compare-search >"$WORK/$1.token"
}

start old "$OLD" "$OLD_DIR" 18093
start new "$NEW" "$NEW_DIR" 18094
compare_rounds get 18093 18094 "$ROUNDS" "$SECS" "$LIST" "$LIST"

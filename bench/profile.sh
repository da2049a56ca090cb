#!/usr/bin/env bash
# Profile yunwei under one kind of load with perf (what docs/benchmarks.md "What bounds it" is
# based on). Needs a data directory made by the harness (`--keep` leaves it in bench/target/run/…).
#   bench/profile.sh DATA_DIR get|queue|search_common|search_none|create [SECONDS] [CONCURRENCY]
# Writes bench/target/profile-<what>.{perf,txt}: flat profile (self time per symbol) and the
# share of time per thread name and per yunwei/sqlx/sqlite/hyper/tokio area.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
DATA="$(cd "$1" && pwd)"; WHAT="$2"; SECS="${3:-10}"; CONC="${4:-8}"
BIN="$HERE/target/bin/yunwei"   # the copy the harness ran
OUT="$HERE/target/profile-$WHAT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOKEN=$("$BIN" --data-dir "$DATA" admin create-token --username bench-agent --name profile)
case "$WHAT" in
  get) MODE=get; LIST="$DATA/numbers.txt" ;;
  queue) MODE=get; LIST="$DATA/queue.txt" ;;
  search_common|search_none) MODE=get; LIST="$DATA/$WHAT.txt" ;;
  create) MODE=create; LIST="$DATA/requesters.txt" ;;
  *) echo "unknown: $WHAT" >&2; exit 2 ;;
esac
"$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" >>"$DATA/profile-server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 500); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.02; done
BENCH_MODE=$MODE BENCH_LIST=$LIST BENCH_TOKEN=$TOKEN wrk -t2 -c8 -d3s -s "$HERE/wrk/bench.lua" "http://127.0.0.1:$PORT" >/dev/null
perf record -F 999 -g -p "$PID" -o "$OUT.perf" -- sleep "$SECS" 2>/dev/null &
PERF=$!
BENCH_MODE=$MODE BENCH_LIST=$LIST BENCH_TOKEN=$TOKEN wrk -t2 -c"$CONC" -d"${SECS}s" -s "$HERE/wrk/bench.lua" "http://127.0.0.1:$PORT" | grep BENCH_JSON > "$OUT.wrk.json"
wait $PERF || true
set +e +o pipefail
{
  echo "# $WHAT, c=$CONC, $SECS s, $(date -u '+%F %T UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  cat "$OUT.wrk.json"
  echo; echo "## by thread"
  perf report -i "$OUT.perf" --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9]' | head -12
  echo; echo "## by shared object"
  perf report -i "$OUT.perf" --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -12
  echo; echo "## self time, top symbols"
  perf report -i "$OUT.perf" --no-children --sort sym -g none 2>/dev/null | grep -E '^ +[0-9]' | head -45
  echo; echo "## inclusive time (children), top symbols"
  perf report -i "$OUT.perf" --children --sort sym -g none 2>/dev/null | grep -E '^ +[0-9]' | head -80
} > "$OUT.txt"
echo "$OUT.txt"

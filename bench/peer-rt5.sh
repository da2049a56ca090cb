#!/usr/bin/env bash
# yunwei and Request Tracker 5 side by side, in one run, through one harness.
#
# Both systems are driven by the peer's own harness, ../shared/peers/rt5/bench.py (wrk + bench.lua,
# each point the median of --runs runs, server CPU and memory sampled from /proc, database size):
# the same ticket creation, the same read of one random ticket, the same two searches, the same
# concurrencies, the same size (--tickets, default 10,000), on the same store, one after the other
# on the same machine. Results: bench/results/peer/<system>-<store>.json (rendered into
# docs/benchmarks.md by `cargo run --release -- --report-only --out ../docs/benchmarks.md`).
#
#   bench/peer-rt5.sh [--store sqlite|postgres] [--tickets N] [--duration S] [--runs N]
#                     [--skip-build] [--only yunwei|rt5] [--rt-api-fill N]
#
# yunwei: a fresh installation (SQLite in bench/target/peer/yunwei-sqlite, or a new database on the
#   local PostgreSQL: YUNWEI_BENCH_PG_URL, default postgres://yunwei:yunwei@127.0.0.1:5432/postgres),
#   an agent and its API token made with the CLI, `serve` in its own process group; filled to N
#   tickets through the API by bench.py's fill phase (all incidents of this year, so ticket k is
#   INC-<year>-k, read back as /api/v1/tickets/INC-<year>-{id}).
# RT5: ../shared/peers/rt5/setup.sh --fresh (RT_DB=sqlite|postgresql), --rt-api-fill tickets created
#   through REST2 (default 200; RT creates ~1–4 per second), then rt5/sqlfill.py clones RT's own rows up
#   to N (API creation cannot reach 10,000 in reasonable time), rt-validator --check, restart, and the
#   session-cookie benchmark (RT's fastest authentication), then stop.sh.
# Order of the measured phases for both: get, search, create (as rt5/run-all.sh does), so the reads
# see exactly N tickets.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PEERS="$(cd "$ROOT/../shared/peers" && pwd)"
WORK="$HERE/target/peer"
export RT5_DATA="$WORK/rt5-data" PEER_WORKDIR="$WORK"
STORE=sqlite TICKETS=10000 DURATION=20 RUNS=3 SKIP_BUILD=0 ONLY="" RT_API_FILL=200
while (($#)); do
    case "$1" in
        --store) STORE="$2"; shift 2 ;;
        --tickets) TICKETS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        --only) ONLY="$2"; shift 2 ;;
        --rt-api-fill) RT_API_FILL="$2"; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$STORE" in sqlite) RT_DB=sqlite ;; postgres) RT_DB=postgresql ;; *) echo "--store sqlite|postgres" >&2; exit 2 ;; esac
OUT="$HERE/results/peer"
mkdir -p "$OUT" "$WORK"
COMMON=(--duration "$DURATION" --runs "$RUNS" --concurrency 1,8,32 --quiet-wait 30)
command -v wrk >/dev/null || apt-get install -y wrk

run_yunwei() {
    local bin="$ROOT/target/release/yunwei"
    if ((!SKIP_BUILD)); then (cd "$ROOT" && cargo build --release -p yunwei); fi
    local dir="$WORK/yunwei-$STORE" port=18090 url pg_name=""
    rm -rf "$dir"; mkdir -p "$dir"
    if [[ "$STORE" == sqlite ]]; then
        url="sqlite://$dir/yunwei.db?mode=rwc"
    else
        local base="${YUNWEI_BENCH_PG_URL:-postgres://yunwei:yunwei@127.0.0.1:5432/postgres}"
        pg_name="yunwei_peer_$(date -u +%Y%m%d%H%M%S)"
        psql -X -q "$base" -c "CREATE DATABASE $pg_name"
        url="${base%/*}/$pg_name"
    fi
    local cli=("$bin" --data-dir "$dir" --database-url "$url")
    echo "== yunwei ($STORE): fresh installation in $dir"
    (cd "$dir" && head -c 24 /dev/urandom | base64 | "${cli[@]}" admin create-user --username peer-agent \
        --role agent --display-name 压测坐席 --password-stdin >/dev/null)
    local token
    token="$(cd "$dir" && "${cli[@]}" admin create-token --username peer-agent --name peer | tail -1)"
    # Its own session and process group (pid = pgid), so bench.py samples exactly the server.
    pushd "$dir" >/dev/null
    env -u YUNWEI_CONFIG setsid "${cli[@]}" serve --listen "127.0.0.1:$port" \
        </dev/null >"$dir/server.log" 2>&1 &
    echo $! >"$dir/yunwei.pid"
    popd >/dev/null
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
    local year; year="$(date +%Y)"
    local db_args=(--db-path "$dir/yunwei.db")
    if [[ "$STORE" == postgres ]]; then
        db_args=(--db-path "$dir" --db-size-cmd "psql -X -Atq '$url' -c \"SELECT pg_database_size(current_database())\"")
    fi
    python3 "$PEERS/rt5/bench.py" --base-url "http://127.0.0.1:$port" \
        --auth "Authorization: Bearer $token" \
        --create-path /api/v1/tickets \
        --create-body '{"kind":"incident","subject":"bench {thread}-{n} tag-{tag}-","description":"Benchmark ticket {n} from thread {thread}. Lorem ipsum dolor sit amet."}' \
        --get-path "/api/v1/tickets/INC-$year-{id}" \
        --search 'like=/api/v1/tickets?limit=20&q=tag-{tag}-' \
        --search 'status=/api/v1/tickets?limit=20&status=new' \
        --count-url '/api/v1/tickets?limit=1&kind=incident' --count-regex '"number":"INC-[0-9]{4}-0*([0-9]+)"' \
        --pid-file "$dir/yunwei.pid" "${db_args[@]}" \
        --fill-to "$TICKETS" --fill-step "$TICKETS" --phases fill,get,search,create \
        "${COMMON[@]}" --tag "yunwei-$STORE" --out "$OUT/yunwei-$STORE.json"
    kill -TERM -- "-$(cat "$dir/yunwei.pid")" 2>/dev/null || true
    sleep 2
    if [[ -n "$pg_name" ]]; then
        psql -X -q "${YUNWEI_BENCH_PG_URL:-postgres://yunwei:yunwei@127.0.0.1:5432/postgres}" \
            -c "DROP DATABASE IF EXISTS $pg_name WITH (FORCE)" || true
    fi
}

run_rt5() {
    cd "$PEERS/rt5"
    ./stop.sh || true
    RT_DB="$RT_DB" ./setup.sh --fresh
    python3 bench.py --phases fill --fill-to "$RT_API_FILL" --fill-step "$RT_API_FILL" --quiet-wait 0 \
        --tag "rt5-$STORE-apifill" --out "$WORK/rt5-$STORE-apifill.json"
    if [[ "$RT_DB" == postgresql ]]; then ./stop.sh --keep-db; else ./stop.sh; fi
    python3 sqlfill.py --to "$TICKETS"
    ( source "$RT5_DATA/env.sh" && rt-validator-5 --check 2>&1 | grep -v 'HTML converter' || true )
    ./setup.sh
    python3 bench.py --auth rt-cookie --fill-to 0 --phases get,search,create \
        "${COMMON[@]}" --tag "rt5-$STORE" --out "$OUT/rt5-$STORE.json"
    ./stop.sh
    cd "$HERE"
}

echo "== side by side on $STORE: $TICKETS tickets, ${DURATION} s x $RUNS runs per point ($(date -u '+%F %T') UTC)"
[[ "$ONLY" == rt5 ]] || run_yunwei
[[ "$ONLY" == yunwei ]] || run_rt5
python3 "$PEERS/table.py" "$OUT"/*-"$STORE".json

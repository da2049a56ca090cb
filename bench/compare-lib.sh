# Shared by bench/compare-*.sh (sourced, not run): the measuring loop of a same-run comparison
# of two builds. The sourcing script sets WORK (its scratch directory, holding NAME.pid and
# NAME.token for the builds "old" and "new") and HERE (the bench directory).

cpu() { # name -> server CPU time so far, in clock ticks (utime + stime)
	awk '{print $14 + $15}' "/proc/$(cat "$WORK/$1.pid")/stat"
}

# compare_rounds MODE OLD_PORT NEW_PORT ROUNDS SECONDS OLD_LIST NEW_LIST
# For each round, for c = 1, 8, 32, for each build in turn: wrk (bench/wrk/bench.lua in MODE)
# for SECONDS, then one line: build, c, requests/s, p50/p99 ms, non-2xx, server CPU ms per request.
compare_rounds() {
	printf '%-4s %3s %9s %8s %8s %6s %8s\n' build c req/s p50ms p99ms non2xx cpu_ms/req
	r=0
	while [ $r -lt "$4" ]; do
		r=$((r + 1))
		for c in 1 8 32; do
			for b in old new; do
				if [ $b = old ]; then port=$2; list=$6; else port=$3; list=$7; fi
				c0=$(cpu $b)
				out=$(BENCH_MODE=$1 BENCH_LIST="$list" BENCH_TOKEN=$(cat "$WORK/$b.token") \
					wrk -t$([ $c -lt 2 ] && echo 1 || echo 2) -c$c -d"$5"s --latency -s "$HERE/wrk/bench.lua" "http://127.0.0.1:$port" | grep BENCH_JSON | sed 's/BENCH_JSON //')
				c1=$(cpu $b)
				printf '%s' "$out" | python3 -c '
import json,sys
d=json.load(sys.stdin); b,c,ticks=sys.argv[1],sys.argv[2],int(sys.argv[3])
print("%-4s %3s %9.0f %8.2f %8.2f %6d %8.3f" % (b, c, d["requests"]/(d["duration_us"]/1e6), d["lat_p50_us"]/1000, d["lat_p99_us"]/1000, d["requests"]-d["ok_2xx"], ticks*1000/int(sys.argv[4])/max(d["requests"],1)))' $b $c $((c1 - c0)) "$(getconf CLK_TCK)"
			done
		done
		echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	done
}

#!/usr/bin/env bash
# The catalog at scale, as `make run` starts the platform: `marketplace seed
# --products=N` against a running all-in-one `marketplace serve`, timed; the
# relay and the search index followed until every product is searchable
# (events consumed are summed over the process's consumers, search's and
# orders'); the process's RSS at each moment; then uncached searches through
# the gateway (`loadgen --scenario=search`, open loop) on the full catalog.
#
# Usage: bench/seedscale.sh [OUT_DIR]   (default bench/results/seedscale-run)
# Environment: PRODUCTS (default 100000), RATES (default "10 25 50", req/s of
# searches, 30 s each), MP (a built binary; default: build bin/marketplace),
# ISOLATE (default scale; bench/isolate.sh; its databases are dropped at the
# end). The servers of `make services` must be running; it starts none itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/seedscale-run}
products=${PRODUCTS:-100000}
rates=${RATES:-10 25 50}
mkdir -p "$out"
. bench/binary.sh
export ISOLATE=${ISOLATE:-scale} GATEWAY_RATE_LIMITS=off METRICS_ADDR=127.0.0.1:19100 PPROF_ENABLED=${PPROF_ENABLED:-true}
. bench/isolate.sh
pg=postgres://postgres@localhost:5432
drop() { for db in users orders catalog; do psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS ${ns}_$db WITH (FORCE)" 2>/dev/null || true; done; }
drop
data=$(mktemp -d)
DATA_DIR=$data $mp serve >"$out/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"; drop' EXIT
wait_ready

note() { echo "$(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) rss $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status): $*" | tee -a "$out/phases.txt"; }
metric() { curl -s localhost:19100/metrics | awk -v m="$1" '$1 ~ ("^" m "({|$)") {s += $2} END {printf "%d", s}'; }

note "ready, seeding $products products"
start=$(date +%s.%N)
DATA_DIR=$data $mp seed --products="$products" >"$out/seed.log" 2>&1
seeded=$(date +%s.%N)
note "seed done in $(echo "$seeded - $start" | bc) s"
until [ "$(metric search_index_products)" -ge "$products" ]; do
	sleep 5
	note "events consumed $(metric events_consumed_total), indexed $(metric search_index_products)"
done
note "every product indexed $(echo "$(date +%s.%N) - $start" | bc) s after the seed started"
for rate in $rates; do
	$mp loadgen --target=$gateway --out "$out/search-$rate" --scenario=search --rate="$rate" --duration=30s \
		>"$out/search-$rate.md" 2>"$out/search-$rate.log" || true
	note "searches at $rate/s done"
done

#!/usr/bin/env bash
# A log reader that stops reading (ADR 69): the platform as `make run` starts
# it, with the demo seed, its standard output read through a pipe by cat, as
# a container runtime or a log collector reads it. Catalog reads
# (`--scenario=browse`) at RATE req/s, 10 s to warm the cache, then 40 s
# measured, during which cat is stopped for PAUSE seconds every 5 s. PAUSE=0
# is the baseline: the same run with a reader that keeps up.
#
# Usage: bench/logstall.sh [OUT_DIR]   (default bench/results/logstall-run)
# Environment: MP (a built binary; default: build bin/marketplace), RATE
# (default 1820, the capacity run's 70 %), PAUSE (default 0.5), SETTLE (default
# 30, seconds between the seed and the load), FRESH=1
# starts from empty databases (bench/fresh.sh). The servers of `make
# services` must be running; it starts none itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/logstall-run}
rate=${RATE:-1820}
pause=${PAUSE:-0.5}
mkdir -p "$out"
[ "${FRESH:-0}" = 1 ] && bench/fresh.sh
. bench/binary.sh

export GATEWAY_RATE_LIMITS=off # the load must meet the platform, not the limits
. bench/isolate.sh
data=$(mktemp -d)
mkfifo "$data/log"
cat "$data/log" >"$out/serve.log" &
reader=$!
DATA_DIR=$data $mp serve >"$data/log" 2>&1 &
pid=$!
trap 'kill -CONT $reader 2>/dev/null; kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
wait_ready
DATA_DIR=$data $mp seed >"$out/seed.log" 2>&1 # adds nothing when the demo catalog is there
sleep "${SETTLE:-30}"                          # the seed's events are indexed before the load

$mp loadgen --target=$gateway --out "$out/reads-warmup" --scenario=browse --rate="$rate" --duration=10s >"$out/reads-warmup.md" 2>&1 || true
start=$(date -u -d "+15 sec" +%FT%TZ)
$mp loadgen --target=$gateway --out "$out/reads" --scenario=browse --rate="$rate" --duration=40s --start-at="$start" >"$out/reads.md" 2>&1 &
reads=$!
wait_s=$(($(date -d "$start" +%s) - $(date +%s)))
if [ $wait_s -gt 0 ]; then sleep $wait_s; fi
if [ "$pause" != 0 ]; then
	for _ in $(seq 8); do
		sleep "$(awk -v p="$pause" 'BEGIN { print 5 - p }')"
		kill -STOP $reader
		sleep "$pause"
		kill -CONT $reader
	done
fi
wait $reads || true
echo "reads p99 at $rate req/s with the log reader stopped ${pause}s every 5 s:"
grep '^| \*\*browse\*\*' "$out/reads.md"

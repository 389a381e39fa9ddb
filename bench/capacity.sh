#!/usr/bin/env bash
# Capacity run, as bench/results/capacity.md reports it: the platform as
# `make run` starts it (every service in one process, local defaults) with
# the demo seed, loaded through the gateway by `marketplace loadgen`:
#
#   1. mixed: a step ramp of the Online Boutique-like mix, beside the same
#      ramp against a bare net/http handler (--baseline), to the highest rate
#      meeting the SLO (errors < 0.1%, reads p50 <= 5 ms, p99 <= 50 ms);
#   2. steady: the mix at 70% of that rate;
#   3. overload: the mix at 3x that rate, with the process's RSS sampled
#      every second before, during and after, then the mix at 70% again to
#      see it recover;
#   4. login flood: catalog reads alone, quiet, then beside a flood of logins.
#
# Usage: bench/capacity.sh [OUT_DIR]   (default bench/results/capacity-run)
# Environment: RAMP (default 50:1000:50), STEP (default 10s), SETTLE (default
# 60, seconds between the seed and the load), MODE=all (one
# process, as `make run`) or split (one process per service, found at the
# default addresses; RSS is then the sum of the four), LOADGEN_NICE (default
# 0: the load generators' niceness; see overload.sh), PLATFORM_CPUS and
# LOADGEN_CPUS (the cores of each: bench/pin.sh), FRESH=1 (start from empty
# databases: bench/fresh.sh).
# The servers of `make services` must be running; it starts none itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/capacity-run}
ramp=${RAMP:-50:1000:50}
step=${STEP:-10s}
mkdir -p "$out"
go build -o bin/marketplace ./cmd/marketplace
mp=bin/marketplace
. bench/pin.sh

export GATEWAY_RATE_LIMITS=off # the load must meet the platform, not the limits
[ "${FRESH:-0}" = 1 ] && bench/fresh.sh
data=$(mktemp -d)
pids=()
if [ "${MODE:-all}" = split ]; then
	for target in users products search orders gateway web; do
		DATA_DIR=$data "${on_platform[@]}" $mp serve --target=$target >"$out/serve-$target.log" 2>&1 &
		pids+=($!)
		sleep 3 # each after those it calls
	done
else
	DATA_DIR=$data "${on_platform[@]}" $mp serve >"$out/serve.log" 2>&1 &
	pids+=($!)
fi
pid=${pids[0]}
trap 'kill ${pids[*]} 2>/dev/null; wait ${pids[*]} 2>/dev/null; rm -rf "$data"; unpin_servers' EXIT
for _ in $(seq 120); do
	curl -sf localhost:8080/readyz >/dev/null && break
	sleep 1
done
DATA_DIR=$data "${on_platform[@]}" $mp seed >"$out/seed.log" 2>&1 # adds nothing when the demo catalog is there
# A first seed leaves 2,000 creation events for the relay to publish and the
# search index to take in; the load is measured after, not during, that.
sleep "${SETTLE:-60}"

# The processes' resident memory (KiB), once a second, for the whole run.
(while kill -0 $pid 2>/dev/null; do
	echo "$(date +%s) $(ps -o rss= -p "$(IFS=,; echo "${pids[*]}")" | awk '{s+=$1} END {print s}')"
	sleep 1
done) >"$out/rss.txt" &

run() { # name, loadgen flags...
	local name=$1
	shift
	echo "== $name $(date -u +%T)" | tee -a "$out/phases.txt"
	"${on_loadgen[@]}" $mp loadgen --out "$out/$name" "$@" >"$out/$name.md" 2>"$out/$name.log" || true
}

run mixed --scenario=mixed --ramp="$ramp" --step="$step" --baseline
best=$(sed -n 's/.*highest passing rate: platform \([0-9]*\) req\/s.*/\1/p' "$out/mixed/report.md" | head -n 1)
[ "${best:-0}" -gt 0 ] || best=${ramp%%:*} # no step passed: go on from the ramp's first rate
steady=$((best * 7 / 10))
run steady --scenario=mixed --rate="$steady" --duration=60s
run overload --scenario=mixed --rate=$((best * 3)) --duration=30s
run recovery --scenario=mixed --rate="$steady" --duration=30s

run reads-quiet --scenario=browse --rate="$steady" --duration=30s
# Both prepare on the quiet platform, then the reads begin and the flood 5 s
# later, whatever its preparation took (as in bench/loginflood.sh).
start=$(date -u -d "+30 sec" +%FT%TZ)
run reads-during-login-flood --scenario=browse --rate="$steady" --duration=45s --start-at="$start" &
reads=$!
"${on_loadgen[@]}" $mp loadgen --out "$out/login-flood" --scenario=login --rate=200 --duration=40s --users=32 \
	--start-at="$(date -u -d "$start 5 sec" +%FT%TZ)" >"$out/login-flood.md" 2>&1 || true
wait $reads
echo "== done $(date -u +%T); best=$best steady=$steady" | tee -a "$out/phases.txt"

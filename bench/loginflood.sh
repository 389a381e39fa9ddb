#!/usr/bin/env bash
# Login flood, alone: phase 4 of bench/capacity.sh without the ramp before it.
# The platform as `make run` starts it (every module in one process) with the
# demo seed; catalog reads (`--scenario=browse`) at RATE req/s alone for 10 s
# to warm the cache, then for 30 s measured,
# then for 45 s, the last 40 beside a flood of logins at 200/s from 32
# accounts, both loads beginning at set times once both load generators
# have prepared their buyers (the flood lists no products: a login-only mix
# needs none).
#
# Usage: bench/loginflood.sh [OUT_DIR]   (default bench/results/loginflood-run)
# Environment: MP (a built binary; default: build bin/marketplace), RATE
# (default 350; the issue's aim is judged at 70% of the highest rate that
# bench/capacity.sh finds on the same machine the same hour: it differs from
# boot to boot, see capacity.md's thirty-first round), SETTLE (default 60, seconds between
# the seed and the load), and anything `marketplace serve` reads, such as
# USERS_HASHER=inprocess to compare with hashing in the serving process, or
# METRICS_ADDR=127.0.0.1:9100 PPROF_ENABLED=true to profile it.
# ISOLATE=name runs the platform beside another one on the same servers
# (bench/isolate.sh). FLOOD=browse sends the flood's 200 requests/s as
# catalog reads instead of logins: the baseline that tells what logins cost
# the reads from what any 200 more requests/s cost them on this machine.
# LOADGEN_NICE (default 0) is both load generators' niceness (-10 runs them
# ahead of the platform on the shared cores; see overload.sh); PLATFORM_CPUS
# and LOADGEN_CPUS give each its own cores (bench/pin.sh). FRESH=1 starts from
# empty databases (bench/fresh.sh).
# The servers of `make services` must be running; it starts none itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/loginflood-run}
rate=${RATE:-350}
mkdir -p "$out"
[ "${FRESH:-0}" = 1 ] && bench/fresh.sh
. bench/binary.sh

export GATEWAY_RATE_LIMITS=off # the load must meet the platform, not the limits
. bench/isolate.sh
. bench/pin.sh
data=$(mktemp -d)
DATA_DIR=$data "${on_platform[@]}" $mp serve >"$out/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"; unpin_servers' EXIT
wait_ready
DATA_DIR=$data "${on_platform[@]}" $mp seed >"$out/seed.log" 2>&1 # adds nothing when the demo catalog is there
sleep "${SETTLE:-60}" # the seed's events are indexed before the load

# ticks prints the CPU time (clock ticks, utime + stime) of the processes
# named, summed.
ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }
# cpu prints, cumulative since boot or start, in clock ticks: the machine's
# busy and idle time, the serving process's, and its hashing workers' (its
# children), so that the CPU each phase took can be told apart.
cpu() {
	echo "machine busy $(awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat | sed 's/ / idle /')," \
		"serve $(ticks $pid), hashing workers $(ticks $(pgrep -P $pid))"
}
note() { echo "== $* $(date -u +%T); $(uptime); $(cpu)" | tee -a "$out/phases.txt"; }
run() { # name, loadgen flags...
	local name=$1
	shift
	note "$name"
	"${on_loadgen[@]}" $mp loadgen --target=$gateway --out "$out/$name" "$@" >"$out/$name.md" 2>"$out/$name.log" || true
}

flood=${FLOOD:-login}
note "start USERS_HASHER=${USERS_HASHER:-default} FLOOD=$flood"
# The first second after the seed reads a cold cache (p99 of hundreds of
# ms); in the quiet run it would set the p99 the flood is judged against.
# capacity.sh's quiet run comes after its other phases, warm.
run reads-warmup --scenario=browse --rate="$rate" --duration=10s
run reads-quiet --scenario=browse --rate="$rate" --duration=30s
# Both load generators prepare first, on the quiet platform, and begin their
# loads at set times (--start-at): the reads first, the flood 5 s later, so
# that the reads' first seconds (new connections after the wait) are not
# the flood's, and the flood covers the rest of the reads' window whatever
# its preparation took: its 32 buyers' registrations beside the reads took
# 8 s with a fixed hashing share and up to 22 s with one that yields to a
# busy machine (ADR 68). START (default 30) is the seconds allowed for
# preparation; a load generator that needs longer begins late and its
# report says so.
start=$(date -u -d "+${START:-30} sec" +%FT%TZ)
flood_start=$(date -u -d "$start 5 sec" +%FT%TZ)
run reads-during-login-flood --scenario=browse --rate="$rate" --duration=45s --start-at="$start" &
reads=$!
"${on_loadgen[@]}" $mp loadgen --target=$gateway --out "$out/login-flood" --scenario="$flood" --rate=200 --duration=40s --users=32 --start-at="$flood_start" >"$out/login-flood.md" 2>&1 &
flooding=$!
wait_s=$(($(date -d "$flood_start" +%s) - $(date +%s)))
if [ $wait_s -gt 0 ]; then sleep $wait_s; fi
note flood
# The hashing pool's share every 2 s of the flood (ADR 68), when the
# platform serves its metrics.
if [ -n "${METRICS_ADDR:-}" ]; then
	for _ in $(seq 20); do
		echo "$(date -u +%T) $(curl -fsS "http://$METRICS_ADDR/metrics" | grep '^users_password_hashing_share' | cut -d' ' -f2)"
		sleep 2
	done >"$out/hashing-share.txt" &
fi
wait $flooding || true
wait $reads
note done
# The hashing pool's counters, when the platform serves its metrics.
if [ -n "${METRICS_ADDR:-}" ]; then
	curl -fsS "http://$METRICS_ADDR/metrics" | grep '^users_password' >"$out/hashing-metrics.txt" || true
fi

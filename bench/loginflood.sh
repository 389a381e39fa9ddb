#!/usr/bin/env bash
# Login flood, alone: phase 4 of bench/capacity.sh without the ramp before it.
# The platform as `make run` starts it (every module in one process) with the
# demo seed; catalog reads (`--scenario=browse`) at RATE req/s alone for 10 s
# to warm the cache, then for 30 s measured,
# then for 45 s beside a flood of logins at 200/s from 32 accounts (40 s).
# The flood's loadgen prepares its 32 buyers during the reads' 45 s (and
# lists no products: a login-only mix needs none).
#
# Usage: bench/loginflood.sh [OUT_DIR]   (default bench/results/loginflood-run)
# Environment: MP (a built binary; default: build bin/marketplace), RATE
# (default 350, the capacity run's 70%), SETTLE (default 60, seconds between
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
mp=${MP:-}
if [ -z "$mp" ]; then
	go build -o bin/marketplace ./cmd/marketplace
	mp=bin/marketplace
fi

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
# The reads prepare first (a flood would starve their logins), then the
# flood starts: its preparation takes seconds, its load the rest.
run reads-during-login-flood --scenario=browse --rate="$rate" --duration=45s &
reads=$!
until grep -q '^prepared' "$out/reads-during-login-flood.log" 2>/dev/null; do
	kill -0 $reads 2>/dev/null || { echo "the reads failed to prepare: $out/reads-during-login-flood.log" >&2; exit 1; }
	sleep 0.2
done
"${on_loadgen[@]}" $mp loadgen --target=$gateway --out "$out/login-flood" --scenario="$flood" --rate=200 --duration=40s --users=32 >"$out/login-flood.md" 2>&1 || true
wait $reads
note done
# The hashing pool's counters, when the platform serves its metrics.
if [ -n "${METRICS_ADDR:-}" ]; then
	curl -fsS "http://$METRICS_ADDR/metrics" | grep '^users_password' >"$out/hashing-metrics.txt" || true
fi

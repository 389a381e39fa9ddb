#!/usr/bin/env bash
# One overload and the recovery after it, as bench/results/capacity.md's
# overload rounds ran them: a fresh platform (the binary MP, default
# bin/marketplace, built when missing) with the demo seed, then the mixed
# load at RATE (default 1,800 req/s, three times the sustainable rate) for
# DUR (25s), then at once the mix at RECOVER req/s (default 70 % of a third
# of RATE) for 30 s, to see whether the platform meets its SLO again.
#
# MODE=all (default) runs one process, as `make run`; MODE=split one process
# per service, each with its metrics listener on 127.0.0.1:950N (N from 1:
# users, products, search, orders, gateway, web). Sampled each second into
# OUT_DIR: every process's RSS and CPU time (ps.txt), the gateway's open
# client connections (connections.txt), and the gateway port's accept queue,
# established client connections and the load generator's CPU time (tcp.txt).
# A goroutine and a heap profile of the gateway's process are taken PROBE_AT
# seconds (10) into the overload (PROFILE=1 adds a 5 s CPU profile). Running
# it with two binaries in turn compares them on the same machine.
#
# LOADGEN (default MP) is the binary whose loadgen sends the load: one
# load generator for both binaries of a comparison. LOADGEN_NICE (default 0)
# is the load generator's niceness. -10 runs it ahead of the platform on the
# shared cores; that is not a client with a CPU of its own: the connections
# it opens when answers slow cost CPU the platform then goes without
# (bench/results/capacity.md, twenty-fourth round). PLATFORM_CPUS and
# LOADGEN_CPUS give each its own cores instead (bench/pin.sh).
#
# Usage: [MP=path] [MODE=all|split] bench/overload.sh OUT_DIR
# The servers of `make services` must be running; it starts none itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/overload.sh OUT_DIR}
mp=${MP:-bin/marketplace}
rate=${RATE:-1800}
[ -x "$mp" ] || go build -o "$mp" ./cmd/marketplace
loadgen=${LOADGEN:-$mp}
mkdir -p "$out"
. bench/pin.sh
export GATEWAY_RATE_LIMITS=off
data=$(mktemp -d)
pids=()
if [ "${MODE:-all}" = split ]; then
	targets=(users products search orders gateway web)
	for i in "${!targets[@]}"; do
		PPROF_ENABLED=true METRICS_ADDR=127.0.0.1:950$((i + 1)) DATA_DIR=$data "${on_platform[@]}" $mp serve --target="${targets[$i]}" \
			>"$out/serve-${targets[$i]}.log" 2>&1 &
		pids+=($!)
		sleep 3 # each after those it calls
	done
	metrics=127.0.0.1:9505
else
	PPROF_ENABLED=true METRICS_ADDR=127.0.0.1:9464 DATA_DIR=$data "${on_platform[@]}" $mp serve >"$out/serve.log" 2>&1 &
	pids+=($!)
	metrics=127.0.0.1:9464
fi
samplers=()
trap 'kill ${samplers[*]} ${pids[*]} 2>/dev/null; wait ${pids[*]} 2>/dev/null; rm -rf "$data"; unpin_servers' EXIT
for _ in $(seq 120); do
	curl -sf localhost:8080/readyz >/dev/null && break
	sleep 1
done
DATA_DIR=$data "${on_platform[@]}" $mp seed >"$out/seed.log" 2>&1
sleep "${SETTLE:-30}" # the seed's events indexed before the load

# Each second: the time, then pid, RSS (KiB) and CPU time of each process.
(while true; do
	echo "$(date +%s) $(ps -o pid=,rss=,time= -p "$(IFS=,; echo "${pids[*]}")" | tr '\n' ' ')"
	sleep 1
done) >"$out/ps.txt" &
samplers+=($!)
# The gateway's open client connections (ADR 62).
(while true; do
	echo "$(date +%s) $(curl -s "$metrics/metrics" | awk '/^http_server_connections\{service="gateway"\}/ {print $2}')"
	sleep 1
done) >"$out/connections.txt" &
samplers+=($!)

echo "== overload $(date -u +%T) $rate req/s" >>"$out/phases.txt"
"${on_loadgen[@]}" $loadgen loadgen --out "$out/overload" --scenario=mixed --rate="$rate" --duration="${DUR:-25s}" \
	>"$out/overload.md" 2>"$out/overload.log" &
lg=$!
# The client's side of the gateway's port: what waits to be accepted and
# what the load generator spends.
(while kill -0 $lg 2>/dev/null; do
	echo "$(date +%s) acceptq=$(ss -Hltn 'sport = :8080' | awk '{print $2}' | head -n 1)" \
		"estab=$(ss -Htn state established 'dport = :8080' | wc -l) lg=$(ps -o time= -p $lg)"
	sleep 1
done) >"$out/tcp.txt" &
until grep -q '^prepared' "$out/overload.log" 2>/dev/null; do sleep 0.2; done
sleep "${PROBE_AT:-10}"
curl -s "$metrics/debug/pprof/goroutine?debug=1" >"$out/goroutines.txt"
curl -s "$metrics/debug/pprof/heap" >"$out/heap.pprof"
[ -z "${PROFILE:-}" ] || curl -s "$metrics/debug/pprof/profile?seconds=5" >"$out/cpu.pprof"
wait $lg || true

# The recovery: the load generator prepares its users and carts in a few
# seconds, which the 30 s run's report then counts from its first request.
recover=${RECOVER:-$((rate * 7 / 30))}
echo "== recovery $(date -u +%T) $recover req/s" >>"$out/phases.txt"
"${on_loadgen[@]}" $loadgen loadgen --out "$out/recovery" --scenario=mixed --rate="$recover" --duration=30s \
	>"$out/recovery.md" 2>"$out/recovery.log" || true
echo "== done $(date -u +%T)" >>"$out/phases.txt"

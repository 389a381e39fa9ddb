#!/usr/bin/env bash
# One overload, as bench/results/capacity.md's "door" comparison ran it: a
# fresh all-in-one platform (the binary MP, default bin/marketplace, built
# when missing) with the demo seed, then the mixed load at RATE (default
# 1,800 req/s, three times the sustainable rate) for DUR (25s), with the
# process's RSS sampled every second and a goroutine and a heap profile taken
# PROBE_AT seconds (10) into the load (PROFILE=1 adds a 5 s CPU profile), and the
# gateway's open client connections each second. Running it
# with two binaries in turn compares them on the same machine.
#
# Usage: [MP=path] bench/overload.sh OUT_DIR
# The servers of `make services` must be running; it starts none itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/overload.sh OUT_DIR}
mp=${MP:-bin/marketplace}
[ -x "$mp" ] || go build -o "$mp" ./cmd/marketplace
mkdir -p "$out"
export GATEWAY_RATE_LIMITS=off METRICS_ADDR=127.0.0.1:9464 PPROF_ENABLED=true
data=$(mktemp -d)
DATA_DIR=$data $mp serve >"$out/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 120); do
	curl -sf localhost:8080/readyz >/dev/null && break
	sleep 1
done
DATA_DIR=$data $mp seed >"$out/seed.log" 2>&1
sleep "${SETTLE:-30}" # the seed's events indexed before the load
$mp loadgen --out "$out/overload" --scenario=mixed --rate="${RATE:-1800}" --duration="${DUR:-25s}" \
	>"$out/overload.md" 2>"$out/overload.log" &
lg=$!
(while kill -0 $lg 2>/dev/null; do
	ps -o rss= -p $pid
	sleep 1
done) >"$out/rss.txt" &
# The gateway's open client connections, each second (ADR 62).
(while kill -0 $lg 2>/dev/null; do
	curl -s 127.0.0.1:9464/metrics | awk '/^http_server_connections\{service="gateway"\}/ {print $2}'
	sleep 1
done) >"$out/connections.txt" &
until grep -q '^prepared' "$out/overload.log" 2>/dev/null; do sleep 0.2; done
sleep "${PROBE_AT:-10}"
curl -s "127.0.0.1:9464/debug/pprof/goroutine?debug=1" >"$out/goroutines.txt"
curl -s "127.0.0.1:9464/debug/pprof/heap" >"$out/heap.pprof"
[ -z "${PROFILE:-}" ] || curl -s "127.0.0.1:9464/debug/pprof/profile?seconds=5" >"$out/cpu.pprof"
wait $lg || true

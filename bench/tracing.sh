#!/usr/bin/env bash
# Tracing overhead (issue 15): the same checkout and product-detail loads
# through the gateway with tracing off, on at 10% sampling and on at 100%,
# in one run, exporting over OTLP/HTTP to a local receiver
# (bench/otlpsink, which decodes and counts the spans). The modes are
# interleaved round by round (off, 10%, 100%, off, ...) so that the noise
# of a shared machine falls on all three alike.
#
# Each load is a step ramp (`marketplace loadgen --ramp`); what is compared
# is the highest rate each mode passes the loadgen's SLO at, and its
# latencies at the common steps. Aim: at most 5% throughput lost at 10%.
#
# Usage: bench/tracing.sh [OUT_DIR]   (default bench/results/tracing-run)
# Environment: ROUNDS (default 3), RAMP (default 50:600:50), STEP (default
# 10s), SETTLE (default 30, seconds after the seed), SCENARIOS (default
# "checkout detail"), USERS (the checkout's buyers; default the loadgen's:
# with few buyers most ticks find every buyer busy and read a cart instead). The servers of
# `make services` must be running; nothing else may listen on 8080-8090 or
# 4318.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/tracing-run}
rounds=${ROUNDS:-3}
ramp=${RAMP:-50:600:50}
step=${STEP:-10s}
mkdir -p "$out"
go build -o bin/marketplace ./cmd/marketplace
go build -o bin/otlpsink ./bench/otlpsink
mp=bin/marketplace

bin/otlpsink -addr 127.0.0.1:4318 >"$out/otlpsink.log" 2>&1 &
sink=$!
data=$(mktemp -d)
pid=
stop_platform() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid=
	fi
}
trap 'stop_platform; kill $sink 2>/dev/null; rm -rf "$data"' EXIT

export GATEWAY_RATE_LIMITS=off # the load must meet the platform, not the limits
export DATA_DIR=$data

# mode name -> the tracing variables of that mode
env_of() {
	case $1 in
	off) echo "OTEL_SDK_DISABLED=true" ;;
	ratio10) echo "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1" ;;
	ratio100) echo "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=1" ;;
	esac
}

start_platform() { # mode, log file
	# shellcheck disable=SC2046 # the mode's variables are words on purpose
	env $(env_of "$1") $mp serve >"$2" 2>&1 &
	pid=$!
	for _ in $(seq 120); do
		curl -sf localhost:8080/readyz >/dev/null && return 0
		sleep 1
	done
	echo "the platform did not become ready; see $2" >&2
	return 1
}

# Seed once, untraced, and let the relay and the search index settle.
start_platform off "$out/seed-serve.log"
$mp seed >"$out/seed.log" 2>&1
sleep "${SETTLE:-30}"
stop_platform

for round in $(seq "$rounds"); do
	for mode in off ratio10 ratio100; do
		start_platform "$mode" "$out/serve-$mode-$round.log"
		before=$(curl -s localhost:4318/spans)
		for scenario in ${SCENARIOS:-checkout detail}; do
			name=$scenario-$mode-$round
			echo "== $name $(date -u +%T)" | tee -a "$out/phases.txt"
			users=()
			[ "$scenario" != checkout ] || [ -z "${USERS:-}" ] || users=(--users="$USERS")
			$mp loadgen --scenario=$scenario "${users[@]}" --ramp="$ramp" --step="$step" --out "$out/$name" >"$out/$name.md" 2>"$out/$name.log" || true
		done
		echo "spans exported by $mode round $round: $(($(curl -s localhost:4318/spans) - before))" | tee -a "$out/phases.txt"
		stop_platform
	done
done

# One line per run: its highest passing rate, for the summary.
{
	echo "| scenario | mode | round | highest passing rate |"
	echo "|---|---|---|---|"
	for f in "$out"/*/report.md; do
		run=$(basename "$(dirname "$f")")
		IFS=- read -r scenario mode round <<<"$run"
		rate=$(sed -n "s/.*Highest rate that met the SLO: \([0-9]*\) req\/s.*/\1/p" "$f" | head -n 1)
		echo "| $scenario | $mode | $round | ${rate:-none} |"
	done
} >"$out/summary.md"
cat "$out/summary.md"

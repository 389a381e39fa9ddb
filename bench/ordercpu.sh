#!/usr/bin/env bash
# CPU per order at a fixed rate: the platform as `make run` starts it (every
# module in one process) with the demo seed, the loadgen's `buy` scenario
# (one order of one of 20 products, under an Idempotency-Key, through the
# gateway) at RATE orders/s for 70 s, and over 30 s of its steady part each
# process's CPU time from /proc (summed by command name) and each
# database's transactions and rows from pg_stat_database.
#
# Usage: bench/ordercpu.sh [OUT_DIR]   (default bench/results/ordercpu-run)
# Environment: MP (a built binary; default: build bin/marketplace), RATE
# (default 400), PRODUCTS (how many products the orders spread over;
# default 20, the loadgen's), PG (default postgres://postgres@localhost:5432).
# The serving process runs as "mp-serve" and the loadgen as "mp-loadgen"
# (copies of the binary), so that /proc tells them apart.
# The servers of `make services` must be running; it starts none itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/ordercpu-run}
rate=${RATE:-400}
pg=${PG:-postgres://postgres@localhost:5432}
mkdir -p "$out"
. bench/binary.sh
bin=$(mktemp -d)
cp "$mp" "$bin/mp-serve"
cp "$mp" "$bin/mp-loadgen"

export GATEWAY_RATE_LIMITS=off # the load must meet the platform, not the limits
data=$(mktemp -d)
DATA_DIR=$data "$bin/mp-serve" serve >"$out/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$bin"' EXIT
for _ in $(seq 120); do
	curl -sf localhost:8080/readyz >/dev/null && break
	sleep 1
done
DATA_DIR=$data "$bin/mp-serve" seed >"$out/seed.log" 2>&1
sleep 20 # the seed's events are relayed and indexed first

# ticks prints "pid name CPU-ticks" for every process.
ticks() {
	local f line rest
	for f in /proc/[0-9]*/stat; do
		read -r line <"$f" 2>/dev/null || continue
		rest=${line#*(}
		set -- ${rest##*) }
		echo "${line%% *} $(echo "${rest%)*}" | tr ' ' _) $((${12} + ${13}))"
	done
}
pgstat() {
	psql -qAt "$pg/postgres" -F' ' -c "SELECT datname, xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted
		FROM pg_stat_database WHERE datname IS NOT NULL ORDER BY 1"
}

"$bin/mp-loadgen" loadgen --scenario=buy --users=400 --products="${PRODUCTS:-20}" --rate="$rate" --duration=70s --out "$out/loadgen" >"$out/loadgen.md" 2>"$out/loadgen.log" &
lg=$!
until grep -q '^prepared' "$out/loadgen.log" 2>/dev/null; do
	kill -0 $lg 2>/dev/null || { echo "the loadgen failed to prepare: $out/loadgen.log" >&2; exit 1; }
	sleep 0.5
done
sleep 25
ticks >"$out/ticks0"
pgstat >"$out/pg0"
sleep 30
ticks >"$out/ticks1"
pgstat >"$out/pg1"
hz=$(getconf CLK_TCK)
{
	echo "# CPU seconds over 30 s at $rate orders/s ($((rate * 30)) orders), by process name"
	awk -v hz="$hz" 'NR == FNR { t[$1 " " $2] = $3; next } ($1 " " $2) in t { d[$2] += $3 - t[$1 " " $2] }
		END { for (n in d) if (d[n] > 0) printf "%8.2f %s\n", d[n] / hz, n }' "$out/ticks0" "$out/ticks1" | sort -rn | head -12
	echo "# per database: commits rollbacks inserted updated deleted"
	join "$out/pg0" "$out/pg1" | awk '{ print $1, $7 - $2, $8 - $3, $9 - $4, $10 - $5, $11 - $6 }'
} | tee "$out/cpu.txt"
rm -f "$out/ticks0" "$out/ticks1" "$out/pg0" "$out/pg1"
wait $lg

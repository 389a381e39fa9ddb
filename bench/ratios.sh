#!/usr/bin/env bash
# Ratio rows of bench/results/capacity.md: each path measured through the
# gateway, as clients call it, beside its baseline measured in the same run
# on the same machine and the same PostgreSQL server.
#
#   1. warm product detail: a step ramp of product-page reads (the loadgen's
#      `detail` scenario; every sampled page is cached after its first read)
#      beside the same ramp against a bare net/http JSON handler (--baseline);
#   2. checkout: a step ramp of checkouts (add to cart, place the order,
#      pay), spread over the loadgen seller's 20 products, against pgbench
#      TPC-B;
#   3. one hot product: the same with every buyer on one product, against a
#      pgbench script that decrements one row's stock conditionally;
#   2b, 3b. placing an order alone (the loadgen's `buy` scenario: one
#      product in the order's items, an Idempotency-Key, no cart, no
#      payment), spread and hot, against the same two baselines;
#   4. uncached product detail, measured first: the platform with
#      PRODUCTS_CACHE_TTL=0 (nothing is cached), the same ramp of
#      product-page reads, against pgbench -S (select only).
#
# pgbench runs while the platform is stopped, on a database of its own
# (dropped at the end), with 16 clients, as many as a service's pool.
#
# Usage: bench/ratios.sh [OUT_DIR]   (default bench/results/ratios-run)
# Environment: DETAIL_RAMP (default 500:6000:500), UNCACHED_RAMP (default
# 200:4000:200), CHECKOUT_RAMP (default 50:800:50), STEP (default 5s), PG
# (default postgres://postgres@localhost:5432), ONLY (default all; checkout
# runs only rows 2, 3, 2b and 3b and their baselines; buy only 2b and 3b;
# detail only row 1; uncached only row 4 and its pgbench -S),
# BUY_RAMP (default 100:3000:100), SETTLE (seconds between the seed and
# the load, default 30), MP (a built binary; default: build
# bin/marketplace), FRESH=1 (start from empty databases: bench/fresh.sh).
# The servers of `make services` must be running; it starts none itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/ratios-run}
detail_ramp=${DETAIL_RAMP:-500:6000:500}
checkout_ramp=${CHECKOUT_RAMP:-50:800:50}
buy_ramp=${BUY_RAMP:-100:3000:100}
uncached_ramp=${UNCACHED_RAMP:-200:4000:200}
step=${STEP:-5s}
settle=${SETTLE:-30}
pg=${PG:-postgres://postgres@localhost:5432}
mkdir -p "$out"
. bench/binary.sh
export GATEWAY_RATE_LIMITS=off # the load must meet the platform, not the limits
[ "${FRESH:-0}" = 1 ] && bench/fresh.sh

data=$(mktemp -d)
pid=
stop_platform() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	pid=
}
trap 'stop_platform; rm -rf "$data"; psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS bench_ratios" 2>/dev/null || true' EXIT

start_platform() { # name, then VAR=value settings for serve
	local name=$1
	shift
	env DATA_DIR="$data" "$@" $mp serve >"$out/serve-$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 120); do
		curl -sf localhost:8080/readyz >/dev/null && break
		sleep 1
	done
	DATA_DIR=$data $mp seed >>"$out/seed.log" 2>&1 # adds nothing once the demo catalog is there
	sleep "$settle" # a fresh seed's events relayed and indexed before the load
}

run() { # name, loadgen flags...
	local name=$1
	shift
	echo "== $name $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/phases.txt"
	$mp loadgen --out "$out/$name" "$@" >"$out/$name.md" 2>"$out/$name.log" || true
}

pgbench_run() { # name, pgbench flags...
	local name=$1
	shift
	echo "== pgbench $name $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/phases.txt"
	pgbench -c 16 -j 2 -T 20 "$@" "$pg/bench_ratios" >"$out/pgbench-$name.txt" 2>&1
}

only=${ONLY:-all}
wants() { # row: whether ONLY includes it
	case "$only:$1" in
	all:* | detail:detail | checkout:checkout | checkout:buy | buy:buy | uncached:uncached) return 0 ;;
	esac
	return 1
}
# Uncached reads first, before the order rows write: their thousands of
# orders leave PostgreSQL writing back pages for minutes, and the unpaid ones
# run out 15 minutes later, when the reservation sweep cancels them one
# transaction each; work the reads would share two cores with, where one slow
# second fails a 5 s step's p99 (bench/results/capacity.md, twenty-sixth and
# twenty-seventh rounds).
if wants uncached; then
	start_platform uncached PRODUCTS_CACHE_TTL=0s
	run detail-uncached --scenario=detail --ramp="$uncached_ramp" --step="$step"
	stop_platform
fi
[ "$only" = uncached ] || start_platform cached
if wants detail; then
	# Warm: every run samples the same 500 products (the newest listed), so
	# a minute of reads leaves each of their pages cached for the ramp.
	run detail-warmup --scenario=detail --rate=100 --duration=60s
	run detail-warm --scenario=detail --ramp="$detail_ramp" --step="$step" --baseline
fi
if wants checkout; then
	run checkout --scenario=checkout --users=400 --ramp="$checkout_ramp" --step="$step"
	run checkout-hot --scenario=checkout --users=400 --products=1 --ramp="$checkout_ramp" --step="$step"
fi
if wants buy; then
	run buy --scenario=buy --users=400 --ramp="$buy_ramp" --step="$step"
	run buy-hot --scenario=buy --users=400 --products=1 --ramp="$buy_ramp" --step="$step"
fi
stop_platform

if wants buy || wants uncached; then
	psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS bench_ratios" -c "CREATE DATABASE bench_ratios"
	pgbench -i -s 10 -q "$pg/bench_ratios" >"$out/pgbench-init.txt" 2>&1
fi
if wants buy; then
	pgbench_run tpcb
	psql -q "$pg/bench_ratios" -c "CREATE TABLE hot (id int PRIMARY KEY, stock bigint NOT NULL)" \
		-c "INSERT INTO hot VALUES (1, 1000000000000)"
	echo 'UPDATE hot SET stock = stock - 1 WHERE id = 1 AND stock > 0;' >"$out/decrement.sql"
	pgbench_run hot-decrement -n -f "$out/decrement.sql"
fi
if wants uncached; then
	pgbench_run select-only -S
fi
echo "== done $(date -u +%T)" | tee -a "$out/phases.txt"

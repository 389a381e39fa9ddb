#!/usr/bin/env bash
# Wipes what the platform keeps on this machine's servers, outside its data
# directory, so that a benchmark meets the platform as a first `make run`
# does: drops the users, orders and catalog databases, deletes the search
# replicas' queues and empties Redis's database. Destructive: for a machine
# that runs benchmarks, never one whose data matters. The benchmark scripts
# run it first when FRESH=1.
#
# Why it matters: each run of a script starts the platform in a new data
# directory, so with new local PII keys. The orders an earlier run left
# unpaid are sealed under keys the new one lacks, and its reservation sweep
# tries, and fails, to expire each of them every interval: after a few runs
# of the ordering rows, hundreds of thousands of transactions a sweep, CPU
# the run under measurement pays for (bench/results/capacity.md,
# twenty-seventh round).
#
# Environment: PG (default postgres://postgres@localhost:5432), REDIS_URL
# (default redis://localhost:6379/0).
set -euo pipefail
pg=${PG:-postgres://postgres@localhost:5432}
for db in users orders catalog; do
	PGOPTIONS='-c client_min_messages=warning' psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done
rabbitmqctl -q list_queues name | { grep '^search\.products\.' || true; } | while read -r q; do
	rabbitmqctl -q delete_queue "$q" </dev/null >/dev/null
done
redis-cli -u "${REDIS_URL:-redis://localhost:6379/0}" flushdb >/dev/null

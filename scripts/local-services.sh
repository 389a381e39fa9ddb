#!/usr/bin/env bash
# Starts the local servers the platform and its tests use (PostgreSQL,
# Redis, RabbitMQ) when they are not already listening. Idempotent: a server
# that answers is left alone. The start commands are those of this project's
# machine kind (Debian packages, no systemd).
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name port
  for _ in $(seq 1 60); do
    listening "$2" && return 0
    sleep 1
  done
  echo "local-services: $1 did not start listening on :$2" >&2
  return 1
}

if ! listening 5432; then
  echo "local-services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_for PostgreSQL 5432
fi

if ! listening 6379; then
  echo "local-services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 6379
fi

if ! listening 5672; then
  echo "local-services: starting RabbitMQ"
  rabbitmq-server -detached
  wait_for RabbitMQ 5672
fi

# Sourced by the scripts that build or run the image (build-image.sh,
# deploy-check.sh): installs podman and runc when missing and points podman
# at a containers.conf that works on this project's machines, where crun
# fails on the cgroups and the default ulimits cannot be set.
# shellcheck shell=bash

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  echo "podman-env: installing podman and runc" >&2
  { apt-get update -qq && apt-get install -y -qq podman runc >/dev/null; } ||
    sudo sh -c 'apt-get update -qq && apt-get install -y -qq podman runc >/dev/null'
fi

if [ -z "${CONTAINERS_CONF:-}" ]; then
  CONTAINERS_CONF="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bin/containers.conf"
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
fi
export CONTAINERS_CONF

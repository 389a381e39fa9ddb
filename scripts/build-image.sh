#!/usr/bin/env bash
# Builds the release image (deploy/Dockerfile.release) with podman: a static
# binary built here (with the zone database inside), with this machine's CA certificates, on
# scratch. No base image is pulled. Prints the image's name last.
#
#   scripts/build-image.sh [IMAGE]     default localhost/marketplace:$VERSION
#
# VERSION and COMMIT default to git's (make passes its own).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh

VERSION="${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}"
COMMIT="${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
IMAGE="${1:-localhost/marketplace:${VERSION}}"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
# ferretdb_no_sqlite: the embedded FerretDB runs on PostgreSQL only (ADR 12);
# its SQLite backend (modernc.org/sqlite) would only add size. noloadgen: a
# deployment sends no load to itself (the load generator and its plots are a
# sixth of the binary). timetzdata: the zone database inside the binary
# (450 KB) instead of this machine's zoneinfo (4 MB). The image must stay
# under 60 MB unpacked (issue 16; the image test checks it): see "Size" in
# docs/deploy.md for where the binary's 55 MB go and ADR 34 for what keeps
# it there. No packer (UPX): it breaks read-only and no-exec-memory policies.
CGO_ENABLED=0 go build -trimpath -tags ferretdb_no_sqlite,noloadgen,timetzdata \
  -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
  -o "$ctx/marketplace" ./cmd/marketplace
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
mkdir -p "$ctx/data" "$ctx/rootfs/tmp"
chmod 1777 "$ctx/rootfs/tmp"

podman build --quiet -f deploy/Dockerfile.release \
  --build-arg VERSION="$VERSION" --build-arg COMMIT="$COMMIT" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$IMAGE" "$ctx" >/dev/null
echo "$IMAGE"

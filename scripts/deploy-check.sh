#!/usr/bin/env bash
# The deployment checks (`make deploy-check`, run by .ci/run after make
# test): builds the release image with podman and runs the platform from it
# through the documented journey, and validates deploy/compose.yaml against
# the binary's configuration. Reports its time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh

start=$(date +%s)
status=0
MARKETPLACE_IMAGE_TEST=1 go test -count=1 -tags deploycheck -v \
  -run 'TestTheReleaseImage|TestCompose' ./cmd/marketplace/ || status=$?
took=$(($(date +%s) - start))
printf 'deploy-check took %dm%02ds (%s)\n' $((took / 60)) $((took % 60)) "$([ "$status" -eq 0 ] && echo passed || echo "failed: $status")"
exit "$status"

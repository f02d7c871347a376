#!/usr/bin/env bash
# goreleaser.sh prints the path of GoReleaser v2, building it first if the
# tools cache does not hold it yet (a few minutes, first run only). Everything
# that runs GoReleaser (the configuration check, the end-to-end test of
# installing from a release) gets it from here, so none depends on another
# having run first, and its version is set only here.
set -euo pipefail

GORELEASER_VERSION=${GORELEASER_VERSION:-v2.15.0}
exec "$(dirname "$0")/go-tool.sh" goreleaser github.com/goreleaser/goreleaser/v2 "$GORELEASER_VERSION"

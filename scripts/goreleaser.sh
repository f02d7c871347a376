#!/usr/bin/env bash
# goreleaser.sh prints the path of GoReleaser v2, building it first if the
# tools cache does not hold it yet. Everything that runs GoReleaser (the
# configuration check, the end-to-end test of installing from a release)
# gets it from here, so none depends on another having run first.
#
# GoReleaser is built from the Go module proxy (a few minutes, first run
# only) and cached by version under $ASG_TOOLS_CACHE (default
# ~/.cache/packer-plugin-asg).
set -euo pipefail

GORELEASER_VERSION=${GORELEASER_VERSION:-v2.15.0}
cache=${ASG_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/packer-plugin-asg}
bin="$cache/bin/goreleaser-$GORELEASER_VERSION"
if [ ! -x "$bin" ]; then
  echo "goreleaser: building goreleaser $GORELEASER_VERSION (first run only, a few minutes)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION" 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
  mkdir -p "$cache/bin"
  # A rename within the cache, so a concurrent run sees no half-written binary.
  mv "$tmp/goreleaser" "$bin.$$"
  mv "$bin.$$" "$bin"
fi
echo "$bin"

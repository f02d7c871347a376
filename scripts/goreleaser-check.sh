#!/usr/bin/env bash
# goreleaser-check.sh validates .goreleaser.yml with GoReleaser v2 itself.
# GoReleaser is built from the Go module proxy into the tools cache the first
# time (a few minutes); a full release build is not run here (it takes about
# 17 minutes on two cores).
set -euo pipefail

GORELEASER_VERSION=${GORELEASER_VERSION:-v2.15.0}
cache=${ASG_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/packer-plugin-asg}
bin="$cache/bin/goreleaser-$GORELEASER_VERSION"
if [ ! -x "$bin" ]; then
  echo "goreleaser-check: building goreleaser $GORELEASER_VERSION (first run only)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION" 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
  mkdir -p "$cache/bin"
  mv "$tmp/goreleaser" "$bin"
fi
cd "$(dirname "$0")/.."
"$bin" check

#!/usr/bin/env bash
# actionlint.sh checks the GitHub Actions workflows in .github/workflows with
# actionlint (syntax, expressions, action inputs, and shellcheck on run:
# blocks when shellcheck is on PATH). actionlint is built from the Go module
# proxy into the tools cache the first time (under a minute).
set -euo pipefail

ACTIONLINT_VERSION=${ACTIONLINT_VERSION:-v1.7.12}
cache=${ASG_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/packer-plugin-asg}
bin="$cache/bin/actionlint-$ACTIONLINT_VERSION"
if [ ! -x "$bin" ]; then
  echo "actionlint: building actionlint $ACTIONLINT_VERSION (first run only)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
  mkdir -p "$cache/bin"
  # A rename within the cache, so a concurrent run sees no half-written binary.
  mv "$tmp/actionlint" "$bin.$$"
  mv "$bin.$$" "$bin"
fi
cd "$(dirname "$0")/.."
"$bin" -no-color "$@"

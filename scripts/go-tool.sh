#!/usr/bin/env bash
# go-tool.sh NAME PACKAGE VERSION prints the path of the Go command PACKAGE
# at VERSION, building it with `go install` from the Go module proxy first
# if the tools cache does not hold it yet. Binaries are cached by name and
# version under $ASG_TOOLS_CACHE (default ~/.cache/packer-plugin-asg), so
# only the first run pays the build.
set -euo pipefail

name=$1 package=$2 version=$3
cache=${ASG_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/packer-plugin-asg}
bin="$cache/bin/$name-$version"
if [ ! -x "$bin" ]; then
  echo "$name: building $package@$version (first run only)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir "$tmp/bin"
  GOBIN="$tmp/bin" go install "$package@$version" 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
  built=("$tmp"/bin/*) # the one command installed, whatever go named it
  mkdir -p "$cache/bin"
  # A rename within the cache, so a concurrent run sees no half-written binary.
  mv "${built[0]}" "$bin.$$"
  mv "$bin.$$" "$bin"
fi
echo "$bin"

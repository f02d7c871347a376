#!/usr/bin/env bash
# e2e-tools.sh builds the real packer CLI and the real amazon plugin that the
# end-to-end tests and the demo drive, and prints the directory holding them.
#
# Neither can be installed with `go install` (their modules carry replace
# directives), so each is built from its own module source, fetched through the
# Go module proxy. Binaries are cached by version under $ASG_TOOLS_CACHE
# (default ~/.cache/packer-plugin-asg), so only the first run pays the build.
#
# PACKER_VERSIONS lists the packer releases to build (PACKER_VERSION, one);
# by default the one the tests use and the oldest the plugin supports.
# The defaults come from internal/packerexec/packerexec.go, where they are set.
set -euo pipefail

consts="$(dirname "$0")/../internal/packerexec/packerexec.go"
# const_value NAME prints the string constant NAME of packerexec.go, or fails.
const_value() {
  local v
  v=$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\(v[0-9][0-9.]*\)\"$/\1/p" "$consts")
  [ -n "$v" ] || { echo "e2e-tools: no version constant $1 in $consts" >&2; return 1; }
  echo "$v"
}
if [ -z "${PACKER_VERSIONS:-}" ] && [ -n "${PACKER_VERSION:-}" ]; then
  PACKER_VERSIONS=$PACKER_VERSION
fi
if [ -z "${PACKER_VERSIONS:-}" ]; then
  latest=$(const_value PackerVersion)
  oldest=$(const_value MinPackerVersion)
  PACKER_VERSIONS="$latest $oldest"
fi
if [ -z "${AMAZON_VERSION:-}" ]; then
  AMAZON_VERSION=$(const_value AmazonVersion)
fi
cache=${ASG_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/packer-plugin-asg}
bin="$cache/bin"
mkdir -p "$bin"

# build MODULE VERSION OUTPUT builds the main package at the root of MODULE.
build() {
  local module=$1 version=$2 out=$3
  if [ -x "$out" ]; then return 0; fi
  echo "e2e-tools: building $module@$version (first run only, several minutes)" >&2
  local work dir
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' RETURN
  (cd "$work" && go mod init e2etools >/dev/null 2>&1)
  dir=$(cd "$work" && go mod download -json "$module@$version" 2>/dev/null | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ]; then
    echo "e2e-tools: could not download $module@$version" >&2
    return 1
  fi
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  (cd "$work/src" && GOFLAGS=-mod=mod go build -o "$out.tmp" . 2>"$work/build.log") || { cat "$work/build.log" >&2; return 1; }
  mv "$out.tmp" "$out"
}

pids=()
for v in $PACKER_VERSIONS; do
  build github.com/hashicorp/packer "$v" "$bin/packer-$v" &
  pids+=($!)
done
build github.com/hashicorp/packer-plugin-amazon "$AMAZON_VERSION" "$bin/packer-plugin-amazon_${AMAZON_VERSION}_x5.0_$(go env GOOS)_$(go env GOARCH)" &
pids+=($!)
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ $status -eq 0 ] || { echo "e2e-tools: build failed" >&2; exit 1; }
echo "$bin"

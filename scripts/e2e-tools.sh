#!/usr/bin/env bash
# e2e-tools.sh builds the real packer CLI and the real amazon plugin that the
# end-to-end tests and the demo drive, and prints the directory holding them.
#
# Neither can be installed with `go install` (their modules carry replace
# directives), so each is built from its own module source, fetched through the
# Go module proxy. Binaries are cached by version under $ASG_TOOLS_CACHE
# (default ~/.cache/packer-plugin-asg), so only the first run pays the build.
set -euo pipefail

PACKER_VERSION=${PACKER_VERSION:-v1.16.0}
AMAZON_VERSION=${AMAZON_VERSION:-v1.8.2}
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

build github.com/hashicorp/packer "$PACKER_VERSION" "$bin/packer-$PACKER_VERSION" &
p1=$!
build github.com/hashicorp/packer-plugin-amazon "$AMAZON_VERSION" "$bin/packer-plugin-amazon_${AMAZON_VERSION}_x5.0_$(go env GOOS)_$(go env GOARCH)" &
p2=$!
status=0
wait $p1 || status=1
wait $p2 || status=1
[ $status -eq 0 ] || { echo "e2e-tools: build failed" >&2; exit 1; }
echo "$bin"

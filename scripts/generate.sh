#!/usr/bin/env bash
# generate.sh regenerates every generated file: the HCL2 specs
# (*.hcl2spec.go), the option docs (docs-partials/) and the registry docs
# (.web-docs/).
#
# packer-sdc struct-markdown finds the project root by walking up to a folder
# named packer-plugin-*, and spins forever when there is none (a checkout
# under another name, as in CI). So generation runs inside a symlink with that
# name, and under a timeout in case the tool still hangs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ln -s "$root" "$tmp/packer-plugin-asg"
cd "$tmp/packer-plugin-asg"

rm -rf docs-partials
timeout 300 go generate ./...
./scripts/web-docs.sh

#!/usr/bin/env bash
# goreleaser-check.sh validates .goreleaser.yml with GoReleaser v2 itself.
# A full release build is not run here (it takes about 17 minutes on two
# cores); the end-to-end test TestInstallFromRelease builds one for the host
# platform and installs it with packer init.
set -euo pipefail

cd "$(dirname "$0")/.."
bin=$(./scripts/goreleaser.sh)
"$bin" check

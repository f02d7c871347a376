#!/usr/bin/env bash
# actionlint.sh checks the GitHub Actions workflows in .github/workflows with
# actionlint (syntax, expressions, action inputs, and shellcheck on run:
# blocks when shellcheck is on PATH). actionlint is built into the tools
# cache the first time (under a minute).
set -euo pipefail

ACTIONLINT_VERSION=${ACTIONLINT_VERSION:-v1.7.12}
bin=$("$(dirname "$0")/go-tool.sh" actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION")
cd "$(dirname "$0")/.."
"$bin" -no-color "$@"

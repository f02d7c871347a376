#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target of the project for FUZZTIME each
# (default 100000x: a hundred thousand inputs): a crash fails the run and leaves
# its input in testdata/.
#
# The budget is a count of inputs, not a duration: with a duration, Go 1.26's
# fuzzing coordinator can report its own deadline as a failure ("context
# deadline exceeded", no input written) when a loaded machine's workers are
# mid-input as time runs out (go.dev/issue/75804, fixed in Go 1.27). A count
# sets no deadline, so a slow machine only takes longer.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-100000x}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done

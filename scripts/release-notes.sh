#!/usr/bin/env bash
# release-notes.sh VERSION prints the CHANGELOG.md section of VERSION (v1.2.3
# or 1.2.3), without its heading, for GoReleaser's --release-notes. It fails
# when the section is missing or empty, so a tag whose changes were never
# written down makes no release.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 VERSION" >&2
  exit 2
fi
version=${1#v}
changelog=${CHANGELOG:-$(dirname "$0")/../CHANGELOG.md}

# A section runs from its "## [VERSION]" heading (a date may follow) to the
# next "## " heading; link reference lines ("[1.2.3]: https://...") at the
# end of the file are not notes.
notes=$(awk -v v="$version" '
  /^## / {
    if (found) exit
    h = $0
    sub(/^## +/, "", h)
    if (index(h, "[" v "]") == 1 || index(h, v " ") == 1 || h == v) { found = 1; next }
  }
  found && !/^\[[^]]+\]: / { print }
  END { if (!found) exit 3 }
' "$changelog") || {
  rc=$?
  if [ $rc -eq 3 ]; then
    echo "release-notes: no section for $version in $changelog (add \"## [$version] - YYYY-MM-DD\")" >&2
  fi
  exit 1
}

# Trim leading and trailing blank lines.
notes=$(printf '%s\n' "$notes" | sed -e '/./,$!d')
if [ -z "${notes//[[:space:]]/}" ]; then
  echo "release-notes: the section for $version in $changelog is empty" >&2
  exit 1
fi
printf '%s\n' "$notes"

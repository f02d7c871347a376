#!/usr/bin/env bash
# web-docs.sh renders docs/ (with the option lists from docs-partials/) into
# .web-docs/, the layout the Packer integrations registry reads:
#   .web-docs/README.md                                  the plugin page
#   .web-docs/components/<type>/<name>/README.md         one per component
#   .web-docs/metadata.hcl                               maintained by hand
set -euo pipefail

cd "$(dirname "$0")/.."
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT

go tool packer-sdc renderdocs -src docs -partials docs-partials -dst "$rendered"

# strip_front_matter drops the leading --- ... --- block the registry
# does not want in component pages.
strip_front_matter() {
  awk 'NR == 1 && $0 == "---" { skip = 1; next } skip && $0 == "---" { skip = 0; next } !skip' "$1"
}

find .web-docs -name README.md -delete 2>/dev/null || true
mkdir -p .web-docs
strip_front_matter "$rendered/README.md" > .web-docs/README.md
for page in "$rendered"/post-processors/*.mdx; do
  name=$(basename "$page" .mdx)
  mkdir -p ".web-docs/components/post-processor/$name"
  strip_front_matter "$page" > ".web-docs/components/post-processor/$name/README.md"
done
find .web-docs -type d -empty -delete

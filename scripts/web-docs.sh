#!/usr/bin/env bash
# web-docs.sh renders docs/ (with the option lists from docs-partials/) into
# .web-docs/, the layout the Packer integrations registry reads:
#   .web-docs/README.md                                  the plugin page
#   .web-docs/components/<type>/<name>/README.md         one per component:
#       post-processor/<name> from docs/post-processors/<name>.mdx,
#       data-source/<name> from docs/datasources/<name>.mdx
#   .web-docs/metadata.hcl                               maintained by hand
#
# The registry shows those pages and nothing else. So docs/failure-modes.mdx,
# which a user needs when a build fails, becomes the last section of the
# post-processor's page, and the links between the two become links within
# the page. The guides stay on GitHub: the pages that reach the registry link
# to them by absolute URL. internal/webdocs fails the tests on any link in
# .web-docs/ that would not resolve on the registry.
set -euo pipefail

cd "$(dirname "$0")/.."
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT

go tool packer-sdc renderdocs -src docs -partials docs-partials -dst "$rendered"

# body prints a rendered page without its front matter and without its title
# (a level-1 heading as its first line), since the registry puts the
# integration's or the component's name above each page itself. With a
# second argument of 1, every other heading goes one level down, so that the
# page can become a section of another.
body() {
  awk -v demote="${2:-0}" '
    NR == 1 && $0 == "---" { front = 1; next }
    front { if ($0 == "---") front = 0; next }
    !started && $0 == "" { next }
    !started && /^# / && !titled { titled = 1; next }
    { started = 1 }
    /^[ \t]*(```|~~~)/ { fence = !fence }
    !fence && demote == 1 && /^#+ / { $0 = "#" $0 }
    { print }
  ' "$1"
}

# inline_links turns links to the pages merged into a component page into
# links within it.
inline_links() {
  sed -E \
    -e 's#\]\(\.\./failure-modes\.mdx\)#](\#failure-modes)#g' \
    -e 's#\]\(\.\./failure-modes\.mdx\##](\##g' \
    -e 's#\]\(post-processors/rollout\.mdx\##](\##g'
}

find .web-docs -name README.md -delete 2>/dev/null || true
mkdir -p .web-docs
body "$rendered/README.md" > .web-docs/README.md
for page in "$rendered"/post-processors/*.mdx; do
  name=$(basename "$page" .mdx)
  mkdir -p ".web-docs/components/post-processor/$name"
  {
    body "$page"
    if [ "$name" = rollout ]; then
      printf '\n## Failure modes\n\n'
      body "$rendered/failure-modes.mdx" 1
    fi
  } | inline_links > ".web-docs/components/post-processor/$name/README.md"
done
for page in "$rendered"/datasources/*.mdx; do
  [ -e "$page" ] || continue
  name=$(basename "$page" .mdx)
  mkdir -p ".web-docs/components/data-source/$name"
  body "$page" > ".web-docs/components/data-source/$name/README.md"
done
find .web-docs -type d -empty -delete

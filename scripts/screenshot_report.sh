#!/bin/sh
# Render reports/index.html in a real headless browser, with no network, into a PNG you can look at.
#   scripts/screenshot_report.sh [page.html] [out.png] [width,height]
# Needs Debian's chromium (apt-get install -y chromium). The browser gets a throwaway profile and
# every background service off, so the picture shows what the page alone draws offline.
set -eu
page=${1:-reports/index.html}
out=${2:-reports/index-screenshot.png}
size=${3:-1280,3400}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no chromium on PATH: apt-get install -y chromium" >&2; exit 2; }
[ -f "$page" ] || { echo "$page: no such page (run the report stage: dvc repro report)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
  --window-size="$size" --screenshot="$(realpath -m "$out")" "file://$(realpath "$page")" 2>/dev/null
echo "$out"

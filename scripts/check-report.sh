#!/usr/bin/env bash
# Renders a monthly report (client monthly-report) in headless Chromium and
# fails unless the browser drew it whole: every chart an SVG with a
# non-empty box, the map with country borders and one dot per location of
# the package table, and not one console message from the page (it has no
# script of its own, so any message is an error). Writes a PNG screenshot
# of the first A4 page's width.
#
#   scripts/check-report.sh FILE.html [SCREENSHOT.png]   # default FILE.png
#
# The browser: $CHROMIUM if set, else chromium-headless-shell (Debian
# package of that name), chromium or google-chrome on PATH. When none is
# found, chromium-headless-shell is installed with apt-get (as root, or
# through sudo). No network is needed to render: the report fetches nothing.
set -euo pipefail

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: scripts/check-report.sh FILE.html [SCREENSHOT.png]" >&2; exit 2; }
html=$1
png=${2:-${html%.html}.png}
[ -f "$html" ] || { echo "check-report: $html: no such file" >&2; exit 1; }

find_browser() {
  if [ -n "${CHROMIUM:-}" ]; then printf '%s\n' "$CHROMIUM"; return 0; fi
  local b
  for b in chromium-headless-shell chromium google-chrome; do
    if command -v "$b" >/dev/null; then command -v "$b"; return 0; fi
  done
  return 1
}
if ! browser=$(find_browser); then
  echo "check-report: no Chromium found: installing the Debian package chromium-headless-shell" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt_get=(apt-get)
  elif command -v sudo >/dev/null; then
    apt_get=(sudo apt-get)
  else
    echo "check-report: not root and no sudo: install chromium-headless-shell, or set CHROMIUM to a Chromium binary" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends chromium-headless-shell >&2 ||
    { DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update >&2 &&
      DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends chromium-headless-shell >&2; }
  browser=$(find_browser) || { echo "check-report: chromium-headless-shell installed but not on PATH" >&2; exit 1; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/check-report.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The page the browser renders is the report with one probe appended: it
# asks the layout engine (not the HTML source) for each chart's box and
# reports in one console line, which must be the only one.
probe='<script>(function(){
var bad=[],charts=document.querySelectorAll("svg[data-chart]"),map=document.querySelector("svg[data-chart=map]");
charts.forEach(function(s){var b=s.getBoundingClientRect();if(!(b.width>0&&b.height>0))bad.push("chart "+s.dataset.chart+" has an empty box");
 if(s.dataset.chart!="map"&&!s.querySelector("rect"))bad.push("chart "+s.dataset.chart+" has no bar")});
if(charts.length<2)bad.push(charts.length+" charts");
var borders=map?map.querySelectorAll("path.land").length:0,dots=map?map.querySelectorAll("circle.dot").length:0;
if(!map)bad.push("no map");else if(borders==0)bad.push("the map has no country border");
var locations=0;document.querySelectorAll("[data-locations]").forEach(function(r){locations+=+r.dataset.locations});
if(dots!=locations)bad.push("the map has "+dots+" dots for "+locations+" locations");
if(map)map.querySelectorAll("circle.dot").forEach(function(c){var b=c.getBoundingClientRect();if(!(b.width>0))bad.push("a dot is not drawn")});
console.log(bad.length?"check-report: FAIL "+bad.join("; "):"check-report: ok "+charts.length+" charts, "+borders+" borders, "+dots+" dots");
})()</script>'
page="$work/report.html"
{ sed -e 's#</body>##' "$html"; printf '%s\n</body></html>\n' "$probe"; } >"$page"

status=0
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --enable-logging=stderr --v=0 --window-size=794,1123 --screenshot="$work/shot.png" \
  "file://$page" >"$work/out.txt" 2>"$work/err.txt" || status=$?
if [ "$status" -ne 0 ]; then
  cat "$work/err.txt" >&2
  echo "check-report: $browser exited with status $status" >&2
  exit 1
fi
console=$(sed -n 's/^.*:CONSOLE[^]]*\] //p' "$work/err.txt")
ok=$(printf '%s\n' "$console" | sed -n '/^"check-report: ok /p')
others=$(printf '%s\n' "$console" | sed -e '/^"check-report: ok /d' -e '/^$/d')
if [ -z "$ok" ] || [ -n "$others" ]; then
  printf '%s\n' "${others:-no answer from the probe}" >&2
  echo "check-report: $html did not render whole" >&2
  exit 1
fi
[ -s "$work/shot.png" ] || { echo "check-report: the browser wrote no screenshot" >&2; exit 1; }
mv "$work/shot.png" "$png"
ok=${ok#\"check-report: }
printf 'check-report: %s: %s; screenshot %s\n' "$html" "${ok%%\"*}" "$png"

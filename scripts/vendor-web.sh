#!/usr/bin/env bash
# Fetches the portal's front-end libraries at pinned versions from npm and copies their distributed files,
# with each package's licence, into src/CityWatch.Server/Portal/wwwroot/vendor/ (committed: the server
# serves them itself, no CDN). Writes vendor/README.md with name, version, licence and SHA-256 of each file.
#   scripts/vendor-web.sh     run again after changing a version below
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$root/src/CityWatch.Server/Portal/wwwroot/vendor"

# name@version  then the files to copy from the package (relative to its root), then, for a package whose
# package.json names no licence, the licence its LICENSE file states
packages=(
  "htmx.org@2.0.11|dist/htmx.min.js LICENSE"
  "htmx-ext-sse@2.2.4|sse.js LICENSE|0BSD"
  "leaflet@1.9.4|dist/leaflet.js dist/leaflet.css LICENSE"
  "leaflet.markercluster@1.5.3|dist/leaflet.markercluster.js dist/MarkerCluster.css dist/MarkerCluster.Default.css MIT-LICENCE.txt"
)

command -v npm >/dev/null || { echo "vendor-web: npm is needed" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

rm -rf "$vendor"
mkdir -p "$vendor"
{
  echo "# Vendored front-end libraries"
  echo
  echo "Written by \`scripts/vendor-web.sh\` from the npm registry; do not edit by hand. Served by the CityWatch server under \`/vendor/\`."
  echo
  echo "| package | version | licence | file | sha256 |"
  echo "|---|---|---|---|---|"
} > "$work/README.md"

for entry in "${packages[@]}"; do
  IFS='|' read -r spec files stated <<< "$entry"
  name="${spec%@*}"
  version="${spec##*@}"
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  tarball="$(ls "$work"/*.tgz)"
  mkdir -p "$work/$name"
  tar -xzf "$tarball" -C "$work/$name"
  rm "$tarball"
  licence="$(node -e 'console.log(require(process.argv[1]).license || process.argv[2])' "$work/$name/package/package.json" "${stated:-unknown}")"
  mkdir -p "$vendor/$name"
  for f in $files; do
    # a licence file without an extension gets .txt, so that the server can serve it with a content type
    target="$(basename "$f")"
    [ "$target" = "LICENSE" ] && target="LICENSE.txt"
    install -m 644 "$work/$name/package/$f" "$vendor/$name/$target"
    sum="$(sha256sum "$vendor/$name/$target" | cut -d' ' -f1)"
    echo "| $name | $version | $licence | \`$name/$target\` | \`$sum\` |" >> "$work/README.md"
  done
done
cp "$work/README.md" "$vendor/README.md"
echo "vendor-web: wrote $vendor"

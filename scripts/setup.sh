#!/usr/bin/env bash
# Installs what CityWatch needs on Debian 12 with the .NET 10 SDK, then builds and fetches the models and
# demo assets (verified by SHA-256). Safe to run again: each step checks before it acts.
#   scripts/setup.sh          what the demo needs (ffmpeg)
#   scripts/setup.sh --test   also what the tests need (GStreamer's RTSP server for a real stream, Chromium for the portal,
#                             nats-server, PostgreSQL's binaries: the tests start their own servers on 127.0.0.1)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

packages=(ffmpeg)
if [ "${1:-}" = "--test" ]; then
  packages+=(gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad libgtk-3-0 libatomic1 libdrm2 chromium nats-server postgresql)
fi

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    # The tests initdb and start their own PostgreSQL; the Debian package must not make and start a cluster of its own.
    $sudo_cmd mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $sudo_cmd tee /etc/postgresql-common/createcluster.d/citywatch.conf >/dev/null
  fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ] && command -v pg_lsclusters >/dev/null; then
  # A cluster the package made before (or another install) is left stopped: tests start their own.
  pg_lsclusters --no-header 2>/dev/null | awk '$4 == "online" {print $1, $2}' | while read -r version cluster; do
    $sudo_cmd pg_ctlcluster "$version" "$cluster" stop || true
  done
fi

command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is needed (dotnet not on PATH)" >&2; exit 1; }

# Models and demo assets: from ../shared if it is there, else from their upstream sources; SHA-256 checked.
./citywatch models fetch

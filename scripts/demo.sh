#!/usr/bin/env bash
# README command 1: set up, then run CityWatch on its embedded default (SQLite) with the demo city.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
exec ./citywatch serve --demo "$@"

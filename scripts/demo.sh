#!/usr/bin/env bash
# README command 1: set up, then run CityWatch on its embedded default (SQLite) with the demo city.
# The demo's key-encryption key lives outside the data folder (.demo-secrets/kek beside .data), created on
# first run: a copy of .data alone reads no template and no crop. Set CITYWATCH_KEK or CITYWATCH_KEK_FILE
# to use your own instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
if [ -z "${CITYWATCH_KEK:-}" ] && [ -z "${CITYWATCH_KEK_FILE:-}" ]; then
  export CITYWATCH_KEK_FILE="$root/.demo-secrets/kek"
  if [ ! -f "$CITYWATCH_KEK_FILE" ]; then
    ./citywatch keys kek create --out "$CITYWATCH_KEK_FILE"
  fi
fi
exec ./citywatch serve --demo "$@"

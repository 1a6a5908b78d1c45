#!/usr/bin/env bash
# README command 1: set up, then run CityWatch on its embedded default (SQLite) with the demo city.
# The demo's key-encryption key lives outside the data folder (.demo-secrets/kek beside .data), created on
# first run: a copy of .data alone reads no template and no crop. Set CITYWATCH_KEK or CITYWATCH_KEK_FILE
# to use your own instead.
# One witness runs beside the server as its own process (its key and state in .demo-secrets/witness, outside
# .data): it polls the log's checkpoint, checks consistency with what it cosigned before, cosigns and hands
# the cosignature back. The server is checked against that state at start. Both stop together.
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
url="${CITYWATCH_DEMO_URL:-http://127.0.0.1:5080}"
# `scripts/demo.sh --urls URL` moves the server, and the witness with it; other arguments go to serve.
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --urls) url="${2:?--urls needs a URL}"; shift 2 ;;
    --urls=*) url="${1#--urls=}"; shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
witness_dir="${CITYWATCH_DEMO_WITNESS:-$root/.demo-secrets/witness}"
witness_key="$(./citywatch witness --dir "$witness_dir" --name witness.demo.citywatch.local --print-key)"

./citywatch serve --demo --urls "$url" --witness-key "$witness_key" --witness-state "$witness_dir" ${rest[@]+"${rest[@]}"} &
server=$!
./citywatch witness --dir "$witness_dir" --log "$url" --interval 5 &
witness=$!
stop() {
  kill "$witness" "$server" 2>/dev/null || true
  wait "$witness" "$server" 2>/dev/null || true
}
trap stop EXIT INT TERM
# Whichever ends first (the server stopped, or the witness refused a forked log) ends the other.
wait -n "$server" "$witness"

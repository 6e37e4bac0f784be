#!/usr/bin/env bash
# Load benchmark: authenticated GET /api/v1/usage against the same node's
# GET /healthz, from a load generator in a second process on loopback.
# Each endpoint is measured twice, interleaved, and the ratio is of the
# sums, so both see the same machine noise.
#
#   scripts/load.sh                      # SQLite
#   scripts/load.sh postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#
# Environment: DURATION (per run, default 5s), CONC (default 16),
# LOG_REQUESTS (default true, as the service ships).
set -euo pipefail
cd "$(dirname "$0")/.."
DB_URL=${1:-}
DURATION=${DURATION:-5s}
CONC=${CONC:-16}
LOG_REQUESTS=${LOG_REQUESTS:-true}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/snapglyph" ./cmd/snapglyph
go build -o "$work/load" ./cmd/snapglyph-load
if [ -z "$DB_URL" ]; then
  export SNAPGLYPH_DB="$work/bench.db"
  kind=sqlite
else
  schema="bench_$$"
  psql "$DB_URL" -qc "CREATE SCHEMA $schema" >/dev/null
  trap 'kill $(jobs -p) 2>/dev/null || true; psql "$DB_URL" -qc "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1; rm -rf "$work"' EXIT
  sep='?'; case "$DB_URL" in *\?*) sep='&';; esac
  export SNAPGLYPH_DB="${DB_URL}${sep}search_path=$schema"
  kind=postgres
fi
org=$("$work/snapglyph" org create --name Bench --owner-email bench@example.test --plan max --json | sed -E 's/^\{"id":"([^"]+)".*/\1/')
"$work/snapglyph" org set-limits "$org" --api-calls 1000000000 --image-credits 1000000000 >/dev/null
export SNAPGLYPH_LOAD_KEY=$("$work/snapglyph" key create --org "$org" --name Load-Benchmark --json | sed -E 's/.*"key":"([^"]+)".*/\1/')
"$work/snapglyph" serve --addr 127.0.0.1:18181 --log-requests="$LOG_REQUESTS" 2>"$work/serve.log" &
for _ in $(seq 100); do curl -sf http://127.0.0.1:18181/healthz >/dev/null && break; sleep 0.1; done
# Warm up.
"$work/load" -c "$CONC" -d 1s http://127.0.0.1:18181/api/v1/usage >/dev/null
declare -A rps
for round in 1 2; do
  for ep in healthz api/v1/usage; do
    line=$("$work/load" -c "$CONC" -d "$DURATION" -json "http://127.0.0.1:18181/$ep")
    echo "$kind $ep: $line"
    r=$(echo "$line" | sed -E 's/.*"rps":([0-9.]+).*/\1/')
    rps[$ep]=$(echo "${rps[$ep]:-0} + $r" | bc -l)
  done
done
ratio=$(echo "${rps[api/v1/usage]} / ${rps[healthz]}" | bc -l)
printf '%s: healthz %.0f req/s, usage %.0f req/s (mean of 2), ratio %.2f\n' "$kind" \
  "$(echo "${rps[healthz]}/2" | bc -l)" "$(echo "${rps[api/v1/usage]}/2" | bc -l)" "$ratio"

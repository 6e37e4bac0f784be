#!/usr/bin/env bash
# Load benchmarks, from a load generator in a second process on loopback,
# each comparison measured side by side in one run (the machine is shared):
#
#   scripts/load.sh                 authenticated GET /api/v1/usage against the same node's
#                                   /healthz, on SQLite (and on PostgreSQL if PG_URL is set)
#   scripts/load.sh png             authenticated PNG images (512 px) per second from one node
#   scripts/load.sh nodes           three PostgreSQL nodes against one (needs PG_URL)
#   scripts/load.sh unknown         a flood of well-formed unknown keys against /healthz, on SQLite
#                                   (and PostgreSQL if PG_URL is set): with the per-address throttle
#                                   as shipped (429s), and without it (401s) for 10,000 keys repeated
#                                   and for a new random key per request
#
# PG_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Environment: DURATION (per
# run, default 5s), CONC (default 16), LOG_REQUESTS (default true, as the service ships).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-ratio}
DURATION=${DURATION:-5s}
CONC=${CONC:-16}
LOG_REQUESTS=${LOG_REQUESTS:-true}
work=$(mktemp -d)
schemas=()
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  for s in "${schemas[@]}"; do psql "$PG_URL" -qc "DROP SCHEMA $s CASCADE" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/snapglyph" ./cmd/snapglyph
go build -o "$work/load" ./cmd/snapglyph-load
sg="$work/snapglyph"

# dbfor KIND prints a fresh database for KIND (sqlite or postgres).
dbfor() {
  if [ "$1" = sqlite ]; then
    echo "$work/bench-$RANDOM.db"
  else
    local schema="bench_$$_$RANDOM"
    psql "$PG_URL" -qc "CREATE SCHEMA $schema" >/dev/null
    schemas+=("$schema")
    local sep='?'; case "$PG_URL" in *\?*) sep='&';; esac
    echo "${PG_URL}${sep}search_path=$schema"
  fi
}

# setup DB prints a key of a Max organisation with (practically) no limits.
setup() {
  local org
  org=$(SNAPGLYPH_DB=$1 "$sg" org create --name Bench --owner-email bench@example.test --plan max --json | sed -E 's/^\{"id":"([^"]+)".*/\1/')
  SNAPGLYPH_DB=$1 "$sg" org set-limits "$org" --api-calls 1000000000 --image-credits 1000000000 >/dev/null
  SNAPGLYPH_DB=$1 "$sg" key create --org "$org" --name Load-Benchmark --json | sed -E 's/.*"key":"([^"]+)".*/\1/'
}

# serve DB PORT [FLAG…] starts a node and waits for it.
serve() {
  SNAPGLYPH_DB=$1 "$sg" serve --addr "127.0.0.1:$2" --log-requests="$LOG_REQUESTS" "${@:3}" 2>>"$work/serve-$2.log" &
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return; sleep 0.1; done
  echo "node on port $2 did not start"; cat "$work/serve-$2.log"; exit 1
}

rps() { sed -E 's/.*"rps":([0-9.]+).*/\1/'; }
field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/"; }

# measure LABEL URL… runs the load twice and prints the mean rate.
measure() {
  local label=$1; shift
  local total=0 line
  for round in 1 2; do
    line=$("$work/load" -c "$CONC" -d "$DURATION" -json "$@")
    echo "  $label (round $round): $(echo "$line" | rps | xargs printf '%.0f') req/s, p50 $(echo "$line" | field p50Micros) µs, p99 $(echo "$line" | field p99Micros) µs, statuses $(echo "$line" | sed -E 's/.*"statuses":(\{[^}]*\}).*/\1/')" >&2
    total=$(echo "$total + $(echo "$line" | rps)" | bc -l)
  done
  echo "$total / 2" | bc -l
}

# ratio KIND alternates the two endpoints ROUNDS times (default 3), so
# both see the same machine, and compares the sums.
ratio() {
  local kind=$1 db key port=18181
  db=$(dbfor "$kind"); key=$(setup "$db"); serve "$db" $port
  export SNAPGLYPH_LOAD_KEY=$key
  "$work/load" -c "$CONC" -d 1s "http://127.0.0.1:$port/api/v1/usage" >/dev/null # warm up
  local h=0 u=0 line p50 p99
  for round in $(seq "${ROUNDS:-3}"); do
    line=$("$work/load" -c "$CONC" -d "$DURATION" -json "http://127.0.0.1:$port/healthz")
    echo "  $kind /healthz (round $round): $(echo "$line" | rps | xargs printf '%.0f') req/s, p50 $(echo "$line" | field p50Micros) µs, p99 $(echo "$line" | field p99Micros) µs" >&2
    h=$(echo "$h + $(echo "$line" | rps)" | bc -l)
    line=$("$work/load" -c "$CONC" -d "$DURATION" -json "http://127.0.0.1:$port/api/v1/usage")
    echo "  $kind /api/v1/usage (round $round): $(echo "$line" | rps | xargs printf '%.0f') req/s, p50 $(echo "$line" | field p50Micros) µs, p99 $(echo "$line" | field p99Micros) µs, statuses $(echo "$line" | sed -E 's/.*"statuses":(\{[^}]*\}).*/\1/')" >&2
    u=$(echo "$u + $(echo "$line" | rps)" | bc -l)
  done
  printf '%s: /healthz %.0f req/s, authenticated /api/v1/usage %.0f req/s (means), ratio %.2f\n' "$kind" \
    "$(echo "$h / ${ROUNDS:-3}" | bc -l)" "$(echo "$u / ${ROUNDS:-3}" | bc -l)" "$(echo "$u / $h" | bc -l)"
  kill %% 2>/dev/null; wait 2>/dev/null || true
}

# unknown_ratio KIND LABEL UNKNOWN [FLAG…] alternates /healthz with unknown keys
# (snapglyph-load -unknown UNKNOWN) on a fresh node started with FLAGs.
unknown_ratio() {
  local kind=$1 label=$2 unknown=$3 db port=18184 h=0 u=0 line
  shift 3
  db=$(dbfor "$kind"); setup "$db" >/dev/null; serve "$db" $port "$@"
  unset SNAPGLYPH_LOAD_KEY
  "$work/load" -c "$CONC" -d 1s "http://127.0.0.1:$port/healthz" >/dev/null # warm up
  # The same keys each run (the same -seed): the first pass, here, reads them all.
  if [ "$unknown" -gt 0 ]; then "$work/load" -c "$CONC" -d 30s -n "$unknown" -unknown "$unknown" "http://127.0.0.1:$port/api/v1/usage" >/dev/null; fi
  for round in $(seq "${ROUNDS:-3}"); do
    line=$("$work/load" -c "$CONC" -d "$DURATION" -json "http://127.0.0.1:$port/healthz")
    echo "  $kind $label /healthz (round $round): $(echo "$line" | rps | xargs printf '%.0f') req/s" >&2
    h=$(echo "$h + $(echo "$line" | rps)" | bc -l)
    line=$("$work/load" -c "$CONC" -d "$DURATION" -unknown "$unknown" -json "http://127.0.0.1:$port/api/v1/usage")
    echo "  $kind $label unknown keys (round $round): $(echo "$line" | rps | xargs printf '%.0f') req/s, p50 $(echo "$line" | field p50Micros) µs, p99 $(echo "$line" | field p99Micros) µs, statuses $(echo "$line" | sed -E 's/.*"statuses":(\{[^}]*\}).*/\1/')" >&2
    u=$(echo "$u + $(echo "$line" | rps)" | bc -l)
  done
  printf '%s, %s: /healthz %.0f req/s, unknown keys %.0f req/s (means), ratio %.2f\n' "$kind" "$label" \
    "$(echo "$h / ${ROUNDS:-3}" | bc -l)" "$(echo "$u / ${ROUNDS:-3}" | bc -l)" "$(echo "$u / $h" | bc -l)"
  kill %% 2>/dev/null; wait 2>/dev/null || true
}

case "$MODE" in
unknown)
  for kind in sqlite ${PG_URL:+postgres}; do
    unknown_ratio "$kind" "throttled as shipped (429)" 10000
    unknown_ratio "$kind" "no throttle, 10,000 keys repeated (401)" 10000 --auth-failure-limit 0
    unknown_ratio "$kind" "no throttle, a new key per request (401)" -1 --auth-failure-limit 0
  done
  ;;
ratio)
  ratio sqlite
  if [ -n "${PG_URL:-}" ]; then ratio postgres; fi
  ;;
png)
  db=$(dbfor sqlite); key=$(setup "$db"); serve "$db" 18181
  export SNAPGLYPH_LOAD_KEY=$key
  id=$(curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"name":"Bench","type":"url","content":{"url":"https://example.com/products/item-12345678"}}' \
    http://127.0.0.1:18181/api/v1/qr-codes | sed -E 's/^\{"id":"([^"]+)".*/\1/')
  p=$(measure "PNG 512 px" "http://127.0.0.1:18181/api/v1/qr-codes/$id?format=png&size=512")
  s=$(measure "SVG" "http://127.0.0.1:18181/api/v1/qr-codes/$id?format=svg")
  printf 'one node (SQLite): PNG 512 px %.0f images/s, SVG %.0f images/s\n' "$p" "$s"
  ;;
nodes)
  [ -n "${PG_URL:-}" ] || { echo "set PG_URL"; exit 2; }
  db=$(dbfor postgres); key=$(setup "$db")
  export SNAPGLYPH_LOAD_KEY=$key
  serve "$db" 18181; serve "$db" 18182; serve "$db" 18183
  "$work/load" -c "$CONC" -d 1s http://127.0.0.1:18181/api/v1/usage http://127.0.0.1:18182/api/v1/usage http://127.0.0.1:18183/api/v1/usage >/dev/null
  one=$(measure "1 node" http://127.0.0.1:18181/api/v1/usage)
  three=$(measure "3 nodes" http://127.0.0.1:18181/api/v1/usage http://127.0.0.1:18182/api/v1/usage http://127.0.0.1:18183/api/v1/usage)
  printf 'PostgreSQL: 1 node %.0f req/s, 3 nodes together %.0f req/s (%.2fx), all on one 2-core machine with the database and the load generator\n' "$one" "$three" "$(echo "$three / $one" | bc -l)"
  ;;
*) echo "usage: scripts/load.sh [ratio|png|nodes|unknown]"; exit 2 ;;
esac

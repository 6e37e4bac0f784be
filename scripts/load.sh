#!/usr/bin/env bash
# Load benchmarks, from a load generator in a second process on loopback,
# each comparison measured side by side in one run (the machine is shared):
#
#   scripts/load.sh                 authenticated GET /api/v1/usage against the same node's
#                                   /healthz, on SQLite (and on PostgreSQL if PG_URL is set)
#   scripts/load.sh png             authenticated PNG images (512 px) per second from one node
#   scripts/load.sh nodes           three PostgreSQL nodes against one (needs PG_URL)
#   scripts/load.sh revocation      how long a pause or revocation takes to reach the last of three
#                                   PostgreSQL nodes, over ROUNDS (default 200) rounds, p50/p99/max
#                                   against the goal of 100 ms, with one request's duration as the
#                                   baseline (needs PG_URL; BenchmarkClusterRevocation)
#   scripts/load.sh logo            PNGs with a 2048×2048 logo on one node: the peak memory (VmHWM)
#                                   after 24 concurrent 4096 px requests (24 different images),
#                                   then repeated 512 px images per second; BASELINE=<git rev>
#                                   runs the same against that revision's build, side by side
#   scripts/load.sh reqlog          the request log's cost: on each store, two nodes (request log
#                                   on, as shipped, and off) and /healthz, alternated ROUNDS times;
#                                   then, with PG_URL, a node kept at full load for SUSTAIN (default
#                                   60s) on PostgreSQL at RATE (default 10000) requests/s, its request log
#                                   backlog sampled, and the rows written counted against the requests
#   scripts/load.sh sustain         that last part alone
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
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  # dbfor runs in a command substitution (a subshell): it lists its schemas in a file.
  if [ -f "$work/schemas" ]; then
    while read -r s; do psql "$PG_URL" -qc "DROP SCHEMA $s CASCADE" >/dev/null 2>&1 || true; done <"$work/schemas"
  fi
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
    echo "$schema" >>"$work/schemas"
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
  # A node left running on the port would answer in its place, with
  # another database (its keys unknown here: 401s, then 429s).
  if curl -s -o /dev/null "http://127.0.0.1:$2/healthz"; then
    echo "port $2 is in use by another server: stop it first" >&2; exit 1
  fi
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
  local h=0 u=0 line p50 p99 hr ur ratios=()
  for round in $(seq "${ROUNDS:-3}"); do
    line=$("$work/load" -c "$CONC" -d "$DURATION" -json "http://127.0.0.1:$port/healthz")
    echo "  $kind /healthz (round $round): $(echo "$line" | rps | xargs printf '%.0f') req/s, p50 $(echo "$line" | field p50Micros) µs, p99 $(echo "$line" | field p99Micros) µs" >&2
    hr=$(echo "$line" | rps); h=$(echo "$h + $hr" | bc -l)
    line=$("$work/load" -c "$CONC" -d "$DURATION" -json "http://127.0.0.1:$port/api/v1/usage")
    echo "  $kind /api/v1/usage (round $round): $(echo "$line" | rps | xargs printf '%.0f') req/s, p50 $(echo "$line" | field p50Micros) µs, p99 $(echo "$line" | field p99Micros) µs, statuses $(echo "$line" | sed -E 's/.*"statuses":(\{[^}]*\}).*/\1/')" >&2
    ur=$(echo "$line" | rps); u=$(echo "$u + $ur" | bc -l)
    ratios+=("$(echo "$ur / $hr" | bc -l)")
  done
  # Each round's ratio (its two runs follow each other), then their median
  # and spread: the machine is shared, so only side-by-side runs compare.
  local sorted
  sorted=$(printf '%s\n' "${ratios[@]}" | sort -g | xargs printf '%.2f ')
  printf '%s: /healthz %.0f req/s, authenticated /api/v1/usage %.0f req/s (means), ratio %.2f; per round %s-> median %.2f, min %.2f, max %.2f\n' "$kind" \
    "$(echo "$h / ${ROUNDS:-3}" | bc -l)" "$(echo "$u / ${ROUNDS:-3}" | bc -l)" "$(echo "$u / $h" | bc -l)" \
    "$(printf '%s ' "${ratios[@]}" | xargs printf '%.2f ')" \
    "$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')" \
    "$(echo "$sorted" | awk '{print $1}')" "$(echo "$sorted" | awk '{print $NF}')"
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

# metric PORT NAME prints a sample of a node's /metrics.
metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {printf "%.0f", $2}'; }

# reqlog_ratio KIND compares /api/v1/usage with the request log on (as
# shipped) and off, and /healthz, alternated on two nodes of one machine.
reqlog_ratio() {
  local kind=$1 db_on db_off key_on key_off h=0 on=0 off=0 line pid_on pid_off
  db_on=$(dbfor "$kind"); key_on=$(setup "$db_on"); serve "$db_on" 18185; pid_on=$!
  db_off=$(dbfor "$kind"); key_off=$(setup "$db_off"); serve "$db_off" 18186 --request-log=false; pid_off=$!
  SNAPGLYPH_LOAD_KEY=$key_on "$work/load" -c "$CONC" -d 1s http://127.0.0.1:18185/api/v1/usage >/dev/null # warm up
  SNAPGLYPH_LOAD_KEY=$key_off "$work/load" -c "$CONC" -d 1s http://127.0.0.1:18186/api/v1/usage >/dev/null
  for round in $(seq "${ROUNDS:-3}"); do
    line=$("$work/load" -c "$CONC" -d "$DURATION" -json http://127.0.0.1:18185/healthz)
    h=$(echo "$h + $(echo "$line" | rps)" | bc -l)
    line=$(SNAPGLYPH_LOAD_KEY=$key_on "$work/load" -c "$CONC" -d "$DURATION" -json http://127.0.0.1:18185/api/v1/usage)
    echo "  $kind request log on (round $round): $(echo "$line" | rps | xargs printf '%.0f') req/s, p50 $(echo "$line" | field p50Micros) µs, p99 $(echo "$line" | field p99Micros) µs" >&2
    on=$(echo "$on + $(echo "$line" | rps)" | bc -l)
    line=$(SNAPGLYPH_LOAD_KEY=$key_off "$work/load" -c "$CONC" -d "$DURATION" -json http://127.0.0.1:18186/api/v1/usage)
    echo "  $kind request log off (round $round): $(echo "$line" | rps | xargs printf '%.0f') req/s, p50 $(echo "$line" | field p50Micros) µs, p99 $(echo "$line" | field p99Micros) µs" >&2
    off=$(echo "$off + $(echo "$line" | rps)" | bc -l)
  done
  printf '%s: /healthz %.0f req/s; /api/v1/usage with the request log %.0f req/s (ratio %.2f), without %.0f req/s (ratio %.2f); on/off %.2f; entries written %s, dropped %s\n' "$kind" \
    "$(echo "$h / ${ROUNDS:-3}" | bc -l)" "$(echo "$on / ${ROUNDS:-3}" | bc -l)" "$(echo "$on / $h" | bc -l)" \
    "$(echo "$off / ${ROUNDS:-3}" | bc -l)" "$(echo "$off / $h" | bc -l)" "$(echo "$on / $off" | bc -l)" \
    "$(metric 18185 snapglyph_request_log_written_total)" "$(metric 18185 snapglyph_request_log_dropped_total)"
  kill "$pid_on" "$pid_off" 2>/dev/null; wait "$pid_on" "$pid_off" 2>/dev/null || true
}

# reqlog_sustain sends RATE (default 10000) logged requests a second to one
# PostgreSQL node for SUSTAIN (default 60s), a fixed number of requests so
# every one is answered, and samples its request log twice a second: entries
# recorded and written, and the backlog (bounded by --request-log-buffer;
# dropped entries are counted). At the end it counts the rows in the
# request log and compares them with the requests answered.
reqlog_sustain() {
  local db key secs rate=${RATE:-10000} n rec0 wr0 rec wr back maxback=0 t pid schema rows answered ticks=0
  secs=${SUSTAIN:-60s}; secs=${secs%s}
  n=$((rate * secs))
  db=$(dbfor postgres); key=$(setup "$db"); serve "$db" 18187; pid=$!
  schema=${db##*search_path=}
  rec0=$(metric 18187 snapglyph_request_log_recorded_total); wr0=$(metric 18187 snapglyph_request_log_written_total)
  SNAPGLYPH_LOAD_KEY=$key "$work/load" -c "${SUSTAIN_CONC:-32}" -d "$((secs * 4))s" -n "$n" -rate "$rate" -json http://127.0.0.1:18187/api/v1/usage >"$work/sustain.json" &
  local loadpid=$! t0=$SECONDS
  while kill -0 "$loadpid" 2>/dev/null; do
    sleep 0.5; ticks=$((ticks + 1))
    back=$(metric 18187 snapglyph_request_log_backlog)
    [ "${back:-0}" -gt "$maxback" ] && maxback=$back
    if [ $((ticks % 20)) -eq 0 ]; then
      rec=$(metric 18187 snapglyph_request_log_recorded_total); wr=$(metric 18187 snapglyph_request_log_written_total)
      echo "  $((SECONDS - t0))s: recorded $((rec - rec0)), written $((wr - wr0)), backlog $back" >&2
    fi
  done
  wait "$loadpid" || true
  for _ in $(seq 50); do # the last writes (every 500 ms)
    [ "$(metric 18187 snapglyph_request_log_backlog)" = 0 ] && break; sleep 0.2
  done
  rec=$(metric 18187 snapglyph_request_log_recorded_total); wr=$(metric 18187 snapglyph_request_log_written_total)
  rows=$(psql "$PG_URL" -tAc "SELECT count(*) FROM $schema.request_log")
  t=$(sed -E 's/.*"seconds":([0-9.]+).*/\1/' "$work/sustain.json")
  answered=$(sed -E 's/.*"requests":([0-9]+).*/\1/' "$work/sustain.json")
  printf 'PostgreSQL, one node, %s requests asked at %s/s: %s answered in %.1f s = %.0f logged requests/s (statuses %s, p50 %s µs, p99 %s µs); request log: %s recorded, %s written, %s rows in the table (answered − rows: %s), %s dropped; backlog at most %s entries (sampled every 0.5 s; the buffer holds 100,000), %s after the run; flush errors %s\n' \
    "$n" "$rate" "$answered" "$t" "$(echo "$answered / $t" | bc -l)" \
    "$(sed -E 's/.*"statuses":(\{[^}]*\}).*/\1/' "$work/sustain.json")" "$(field p50Micros <"$work/sustain.json")" "$(field p99Micros <"$work/sustain.json")" \
    "$((rec - rec0))" "$((wr - wr0))" "$rows" "$((answered - rows))" \
    "$(metric 18187 snapglyph_request_log_dropped_total)" "$maxback" "$(metric 18187 snapglyph_request_log_backlog)" \
    "$(metric 18187 snapglyph_request_log_flush_errors_total)"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
}

case "$MODE" in
reqlog)
  for kind in sqlite ${PG_URL:+postgres}; do reqlog_ratio "$kind"; done
  if [ -n "${PG_URL:-}" ]; then reqlog_sustain; fi
  ;;
sustain)
  [ -n "${PG_URL:-}" ] || { echo "set PG_URL"; exit 2; }
  reqlog_sustain
  ;;
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
revocation)
  [ -n "${PG_URL:-}" ] || { echo "set PG_URL"; exit 2; }
  # The benchmark starts its own three nodes (and the CLI) from a fresh build.
  SNAPGLYPH_TEST_POSTGRES=$PG_URL go test -run '^$' -bench '^BenchmarkClusterRevocation$' \
    -benchtime "${ROUNDS:-200}x" -count 1 ./cmd/snapglyph/ | grep -v -E "^\s*\{|over 1 rounds"
  ;;
logo)
  # A 2048×2048 RGBA logo (a disc with a soft edge and stripes), base64, made with python3.
  python3 - >"$work/logo.b64" <<'PY'
import base64, struct, zlib
n = 2048
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
rows = bytearray()
for y in range(n):
    rows.append(0)
    for x in range(n):
        d = (x - n / 2) ** 2 + (y - n / 2) ** 2
        a = 255 if d < (n * 0.45) ** 2 else (128 if d < (n * 0.5) ** 2 else 0)
        rows += bytes((200 if (x // 64 + y // 64) % 2 else 30, 40, 90, a))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", n, n, 8, 6, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")
assert len(png) <= 256 << 10, len(png)
print(base64.b64encode(png).decode())
PY
  bins=("$sg")
  if [ -n "${BASELINE:-}" ]; then
    mkdir "$work/base"
    git archive "$BASELINE" | tar -x -C "$work/base"
    (cd "$work/base" && go build -o "$work/snapglyph-base" ./cmd/snapglyph)
    bins+=("$work/snapglyph-base")
  fi
  port=18181
  for bin in "${bins[@]}"; do
    label=this; [ "$bin" = "$sg" ] || label="baseline $BASELINE"
    sg=$bin
    db=$(dbfor sqlite); key=$(setup "$db"); serve "$db" $port; pid=$!
    export SNAPGLYPH_LOAD_KEY=$key
    printf '{"name":"Logo","type":"url","content":{"url":"https://example.com/products/item-12345678"},"design":{"errorCorrection":"H","logo":"%s"}}' \
      "$(cat "$work/logo.b64")" >"$work/body.json"
    id=$(curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' --data-binary @"$work/body.json" \
      "http://127.0.0.1:$port/api/v1/qr-codes" | sed -E 's/^\{"id":"([^"]+)".*/\1/')
    base="http://127.0.0.1:$port/api/v1/qr-codes/$id?format=png&size="
    rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    # 24 different images (4096 px down to 4073 px) at once, each client waiting up to 2 minutes.
    t0=$(date +%s.%N)
    curls=()
    for i in $(seq 0 23); do
      curl -s -o /dev/null -w '%{http_code}\n' --max-time 120 -H "Authorization: Bearer $key" "${base}$((4096 - i))" >"$work/burst-$i" &
      curls+=($!)
    done
    wait "${curls[@]}" || true
    t1=$(date +%s.%N)
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    echo "  $label: 24 concurrent 4096 px logo PNGs in $(echo "$t1 - $t0" | bc -l | xargs printf '%.1f') s, statuses: $(cat "$work"/burst-* | sort | uniq -c | xargs)" >&2
    plain=$(curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d '{"name":"Plain","type":"url","content":{"url":"https://example.com/products/item-12345678"}}' \
      "http://127.0.0.1:$port/api/v1/qr-codes" | sed -E 's/^\{"id":"([^"]+)".*/\1/')
    "$work/load" -c "$CONC" -d 1s "${base}512" >/dev/null # warm up (and fill the cache)
    r=$(measure "$label: repeated logo PNG 512 px" "${base}512")
    p=$(measure "$label: same run, PNG 512 px without a logo" "http://127.0.0.1:$port/api/v1/qr-codes/$plain?format=png&size=512")
    printf '%s: node RSS %d MB before the burst, peak %d MB (VmHWM) after 24 concurrent 4096 px logo PNGs; repeated logo PNG 512 px %.0f images/s (without a logo: %.0f)\n' \
      "$label" $((rss0 / 1024)) $((hwm / 1024)) "$r" "$p"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
  ;;
*) echo "usage: scripts/load.sh [ratio|png|nodes|unknown|revocation|logo|reqlog|sustain]"; exit 2 ;;
esac

#!/usr/bin/env bash
# Soak: three `snapglyph serve` nodes on a fresh PostgreSQL database, minutes
# of mixed traffic with operator changes, a PostgreSQL restart and a SIGKILL
# of one node; then the invariants are checked and printed (see
# cmd/snapglyph-soak). Run by hand; CI does not run it.
#
#   PG_STOP='pg_ctlcluster --skip-systemctl-redirect 15 main stop' \
#   PG_START='pg_ctlcluster --skip-systemctl-redirect 15 main start' scripts/soak.sh
#   scripts/soak.sh -pg-restart=false -duration 1m      # without the restart
#
# Arguments go to snapglyph-soak (-duration 3m, -nodes 3, -workers 4, -flush-interval 1s,
# -pg-restart, -pg-down 5s, -kill, -base-port 18091). Environment: PG_URL, the server to use
# (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); KEEP=1 keeps the
# database and the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
work=$(mktemp -d)
db="soak_$(date +%s)_$$"
cleanup() {
  status=$?
  if [ "${KEEP:-}" = 1 ]; then
    echo "kept database $db and logs in $work"
  else
    psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    [ $status = 0 ] && rm -rf "$work" || echo "logs kept in $work"
  fi
}
trap cleanup EXIT
go build -o "$work/snapglyph" ./cmd/snapglyph
go build -o "$work/snapglyph-soak" ./cmd/snapglyph-soak
psql "$PG_URL" -qc "CREATE DATABASE $db" >/dev/null
# The same server, the new database.
url=$(echo "$PG_URL" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$db#")
echo "database $db, logs in $work"
"$work/snapglyph-soak" -bin "$work/snapglyph" -db "$url" -log-dir "$work" "$@"

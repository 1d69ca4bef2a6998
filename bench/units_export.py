#!/usr/bin/env python3
"""Driver of bench/units_export.sh (not run on its own).

`run LABEL LANES`: one export of the bench database through the export handler's work-unit
actions, the way the state machine runs them: `plan_units` once, `export_unit` for every planned
unit by LANES concurrent invocations (a shared queue, like a Distributed Map with MaxConcurrency
LANES: each free worker takes the next item), `finish` last. Each lane is its own lambda-host
process (one Lambda execution environment). Appends one JSON line to $BENCH_RESULTS.

`report`: prints the table of every configuration, the per-invocation rate, the planner's
prediction for N Lambdas and the Lambda sizing derived from the measured CPU per heap MiB.

Environment: BENCH_MOTO_URL, BENCH_HOSTS (comma-separated lambda-host URLs), BENCH_PG_PORT,
BENCH_PSQL, BENCH_RESULTS, BENCH_DB (current name of the bench database; renamed to the temp
database name each drill expects), plus AWS_* for boto3.
"""

import concurrent.futures as cf
import json
import os
import queue
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

import boto3

PREFIX = "rdrill-"
SOURCE = "bench"
BUCKET = "bench-units"
CONFIG_KEY = "config/drill.json"
FUNCTION = "bench-export"
# Lambda gives a function CPU in proportion to memory: one full vCPU at 1,769 MB ("Lambda
# memory and computing power", AWS Lambda Developer Guide). The export function has 512 MB.
LAMBDA_MEMORY_MB = 512
VCPU_PER_MB = 1 / 1769


def short_hash(text):
    """naming::short_hash: FNV-1a 64 of the drill id, low 32 bits."""
    h = 0xCBF29CE484222325
    for b in text.encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h & 0xFFFFFFFF:08x}"


def temp_name(drill_id, started_at):
    """core::tempdb::temp_database_name for source `bench` (no truncation needed)."""
    return f"{PREFIX}{SOURCE}-{started_at.strftime('%Y%m%d%H%M')}-{short_hash(drill_id)}"


def aws(service):
    return boto3.client(service, endpoint_url=os.environ["BENCH_MOTO_URL"])


def invoke(host, payload):
    req = urllib.request.Request(
        f"{host}/2015-03-31/functions/{FUNCTION}/invocations",
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=3600) as resp:
        body = json.loads(resp.read())
        if resp.headers.get("X-Amz-Function-Error"):
            raise RuntimeError(f"{payload.get('action')}: {body}")
        return body


def psql(db, sql):
    subprocess.run(
        [os.environ["BENCH_PSQL"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
        check=True,
    )


def deploy(server):
    """Bucket under Object Lock, the restore server's secret, the deployment configuration."""
    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    arn = aws("secretsmanager").create_secret(
        Name="bench/restore-server",
        SecretString=json.dumps({"username": "postgres", "password": "unused-trust-auth"}),
    )["ARN"]
    server["secret"] = {"secrets_manager": {"secret_id": arn}}
    doc = {
        "temp_prefix": PREFIX,
        "backups_url": f"s3://{BUCKET}/backups",
        "object_lock_days": 1,
        "sources": [
            {
                "id": SOURCE,
                "source": {"kind": "backup-set", "store": f"s3://{BUCKET}/in", "server": server},
            }
        ],
    }
    s3.put_object(Bucket=BUCKET, Key=CONFIG_KEY, Body=json.dumps(doc).encode())


def run(label, lanes):
    hosts = os.environ["BENCH_HOSTS"].split(",")[:lanes]
    assert len(hosts) == lanes, f"{lanes} lanes need {lanes} hosts"
    server = {"host": "127.0.0.1", "port": int(os.environ["BENCH_PG_PORT"]),
              "database": "postgres", "tls": "disable"}
    deploy(server)
    started_at = datetime.now(timezone.utc).replace(microsecond=0)
    drill_id = f"bench-{label}-{int(time.time())}"
    drill = {"drill_id": drill_id, "source_id": SOURCE,
             "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    # The handler exports only this drill's temp database: give the bench database its name.
    name = temp_name(drill_id, started_at)
    with open(os.environ["BENCH_DB"]) as f:
        old = f.read().strip()
    psql("postgres", f'ALTER DATABASE "{old}" RENAME TO "{name}"')
    # Every configuration exports a fresh temp: undo the last plan's read-only setting.
    psql("postgres", f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    with open(os.environ["BENCH_DB"], "w") as f:
        f.write(name)
    source = dict(server, database=name)

    t0 = time.monotonic()
    planned = invoke(hosts[0], {"action": "plan_units", "drill": drill, "source": source})
    t_plan = time.monotonic()
    work = queue.Queue()
    for u in range(planned["units"]):
        work.put(u)
    per_unit = []

    def lane(host):
        while True:
            try:
                u = work.get_nowait()
            except queue.Empty:
                return
            s = time.monotonic()
            out = invoke(host, {"action": "export_unit", "drill": drill, "source": source,
                                "set": planned["set"], "unit": u})
            per_unit.append({"unit": u, "seconds": time.monotonic() - s, "rows": out["rows"],
                             "compressed_bytes": out["compressed_bytes"]})

    with cf.ThreadPoolExecutor(lanes) as pool:
        for f in [pool.submit(lane, h) for h in hosts]:
            f.result()
    t_units = time.monotonic()
    summary = invoke(hosts[0], {"action": "finish", "drill": drill, "set": planned["set"]})
    t_end = time.monotonic()

    key = planned["set"].removeprefix(f"s3://{BUCKET}/").rstrip("/") + "/units/plan.json"
    plan = json.loads(aws("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    estimated = {u["unit"]: u["estimated_bytes"] for u in plan["units"]}
    for p in per_unit:
        p["estimated_bytes"] = estimated[p["unit"]]
    assert summary["rows"] == sum(p["rows"] for p in per_unit), (summary, per_unit)
    result = {
        "label": label, "lanes": lanes, "units": planned["units"],
        "heap_bytes": planned["total_bytes"], "budget_bytes": planned["budget_bytes"],
        "rows": summary["rows"], "raw_bytes": summary["raw_bytes"],
        "compressed_bytes": summary["compressed_bytes"],
        "plan_s": t_plan - t0, "units_s": t_units - t_plan, "finish_s": t_end - t_units,
        "wall_s": t_end - t0, "per_unit": sorted(per_unit, key=lambda p: p["unit"]),
    }
    with open(os.environ["BENCH_RESULTS"], "a") as f:
        f.write(json.dumps(result) + "\n")
    print(f"bench: {label}: {planned['units']} units by {lanes} lanes in {result['wall_s']:.1f} s, "
          f"{summary['rows']} rows", file=sys.stderr)


def add_hosts(label, cpu_s, rss_kb):
    """Appends the lambda-host processes' CPU seconds and peak RSS to configuration LABEL."""
    path = os.environ["BENCH_RESULTS"]
    rows = [json.loads(line) for line in open(path)]
    for r in rows:
        if r["label"] == label:
            r["host_cpu_s"], r["host_rss_kb"] = float(cpu_s), int(rss_kb)
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def predict(sizes, lambdas, rate):
    """core::units::predict_seconds: biggest units first, each to the least loaded lane."""
    lanes = [0] * max(lambdas, 1)
    for s in sorted(sizes, reverse=True):
        lanes[lanes.index(min(lanes))] += s
    return max(lanes) / rate


def report():
    rows = [json.loads(line) for line in open(os.environ["BENCH_RESULTS"])]
    one = next(r for r in rows if r["units"] == 1)
    mb, mib = 1e6, 1 << 20
    print(f"\n== work-unit export: {one['rows']:,} rows, {one['heap_bytes'] / mb:,.0f} MB heap, "
          f"{one['compressed_bytes'] / mb:,.0f} MB set ==")
    print(f"{'configuration':<18}{'units':>6}{'lanes':>6}{'wall s':>8}{'rows/s':>10}"
          f"{'heap MB/s':>10}{'set MB/s':>9}{'speed-up':>9}{'CPU s':>7}{'RSS MB':>8}")
    for r in rows:
        print(f"{r['label']:<18}{r['units']:>6}{r['lanes']:>6}{r['wall_s']:>8.1f}"
              f"{r['rows'] / r['wall_s']:>10,.0f}{r['heap_bytes'] / r['wall_s'] / mb:>10.1f}"
              f"{r['compressed_bytes'] / r['wall_s'] / mb:>9.1f}{one['wall_s'] / r['wall_s']:>9.2f}"
              f"{r.get('host_cpu_s', 0):>7.0f}{r.get('host_rss_kb', 0) / 1024:>8.0f}")
    print("(wall = plan_units + every export_unit + finish; rows/s and MB/s over that wall; "
          "CPU s = all lambda-host processes, user+sys incl. pg_dump; RSS = the biggest one)")
    ncpu = os.cpu_count()
    print(f"This machine has {ncpu} cores for PostgreSQL, moto, every invocation and the other "
          f"work on it: no configuration can go beyond {ncpu}x, the Lambda fleet is not bound so.")
    for r in rows:
        print(f"  {r['label']}: plan {r['plan_s']:.1f} s, units {r['units_s']:.1f} s, "
              f"finish {r['finish_s']:.1f} s")

    # The per-invocation rate: heap bytes per second of one export_unit, from the configuration
    # with one lane per core (the least contended multi-unit run).
    multi = [r for r in rows if r["units"] > 1]
    base = min(multi, key=lambda r: abs(r["lanes"] - ncpu)) if multi else one
    rates = [p["estimated_bytes"] / p["seconds"] for p in base["per_unit"]]
    rate = statistics.median(rates)
    print(f"\none invocation alone (1-unit, {one['lanes']} lane, 2 COPY jobs): "
          f"{one['heap_bytes'] / one['units_s'] / mib:.1f} MiB/s heap")
    print(f"per-invocation rate ({base['label']}, median of {len(rates)} units): "
          f"{rate / mib:.1f} MiB/s heap (min {min(rates) / mib:.1f}, max {max(rates) / mib:.1f})")
    sizes = [p["estimated_bytes"] for p in base["per_unit"]]
    print("planner's prediction for this set at that rate (core::units::predict_seconds), "
          "units phase only:")
    measured = {r["lanes"]: r["units_s"] for r in multi}
    for n in (1, 2, 4, 8, 16, 64):
        m = f"   measured here {measured[n]:.1f} s" if n in measured else ""
        print(f"  {n:>3} Lambdas: {predict(sizes, n, rate):7.1f} s{m}")
    print(f"  (beyond {ncpu} lanes the measurement here is CPU-bound; in AWS each invocation has "
          "its own CPU and the limit is the source instance's read rate)")

    # Lambda sizing from CPU: the client side of the export (COPY protocol, zstd, SDK upload) is
    # the invocation's own CPU; PostgreSQL's is the RDS instance's.
    cpu_rows = [r for r in rows if r.get("host_cpu_s")]
    if cpu_rows:
        per_mib = [r["host_cpu_s"] / (r["heap_bytes"] / mib) for r in cpu_rows]
        cpu_per_mib = max(per_mib)
        vcpu = LAMBDA_MEMORY_MB * VCPU_PER_MB
        lam = vcpu / cpu_per_mib
        print(f"\nCPU per heap MiB (invocations): {min(per_mib) * 1000:.1f}..{cpu_per_mib * 1000:.1f} ms; "
              f"a {LAMBDA_MEMORY_MB} MB Lambda has {vcpu:.2f} vCPU -> {lam:.1f} MiB/s per "
              f"invocation (from the worst configuration)")
        print(f"  one 900 s invocation at 40 % fill: {lam * 900 * 0.4 / 1024:.1f} GiB heap per unit")
        for gb in (100, 1000):
            secs = gb * 1e9 / (lam * mib)
            print(f"  {gb:>5} GB heap: {secs:,.0f} Lambda-seconds ({secs * LAMBDA_MEMORY_MB / 1024:,.0f} "
                  f"GB-s at {LAMBDA_MEMORY_MB} MB); units phase {secs / 8 / 60:,.0f} min at the "
                  f"deployed MaxConcurrency 8, {secs / 32 / 60:,.0f} min at 32")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "run":
        run(sys.argv[2], int(sys.argv[3]))
    elif cmd == "hosts":
        add_hosts(*sys.argv[2:5])
    elif cmd == "report":
        report()
    else:
        sys.exit(f"unknown command {cmd!r}")

//! Helpers of the dump, validation and snapshot tests: loading data sets, and proving two databases equal with
//! PostgreSQL's own tools (pg_dump), independently of the code under test.

use std::path::PathBuf;
use std::process::Command;

use crate::TestDb;
use drill_engine::dump::{self, Database, ExportOptions, ExportOutcome, RestoreOptions};
use drill_engine::store::Store;

/// A PostgreSQL client program of the stack's installation.
pub fn pg_program(name: &str) -> PathBuf {
    let dir = std::env::var("DRILL_TEST_PG_BIN")
        .map(PathBuf::from)
        .or_else(|_| drill_engine::localpg::pg_bindir())
        .expect("PostgreSQL binaries (DRILL_TEST_PG_BIN or pg_config)");
    dir.join(name)
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs SQL text through psql (stops at the first error).
pub fn psql(url: &str, sql: &str) {
    use std::io::Write;
    let mut child = Command::new(pg_program("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn dataset(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/datasets")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Chinook, with its own DROP/CREATE DATABASE and `\c` removed so it loads into `db`.
pub fn load_chinook(db: &TestDb) {
    let sql = dataset("chinook.sql")
        .replace("DROP DATABASE IF EXISTS chinook;", "")
        .replace("CREATE DATABASE chinook;", "")
        .replace("\\c chinook;", "");
    assert!(!sql.contains("\\c "), "chinook.sql changed shape");
    psql(&db.url, &sql);
}

/// The Pagila schema adapted to PostgreSQL 15 (it is dumped from a newer server): `uuidv7()` is
/// PG18 (`gen_random_uuid()` instead), VIRTUAL generated columns are PG18 (STORED instead), and
/// the pgvector extension is not installed here (its extension, type and table are left out).
/// Then generated rows for every table.
pub fn load_pagila(db: &TestDb) {
    let sql = dataset("pagila-schema.sql")
        .replace("uuidv7()", "gen_random_uuid()")
        .replace(" VIRTUAL", " STORED");
    let sep = "\n--\n-- Name: ";
    let blocks: Vec<&str> = sql
        .split(sep)
        .filter(|b| {
            ![
                "film_embedding",
                "public.vector",
                "EXISTS vector",
                "EXTENSION vector",
            ]
            .iter()
            .any(|x| b.contains(x))
        })
        .collect();
    psql(&db.url, &blocks.join(sep));
    psql(&db.url, &fixture("pagila_rows.sql"));
}

pub fn load_pgbench(db: &TestDb, scale: u32) {
    run(
        Command::new(pg_program("pgbench")).args([
            "-i",
            "-q",
            "-s",
            &scale.to_string(),
            "-d",
            &db.url,
        ]),
        "pgbench -i",
    );
}

/// Drops the random `\restrict` keys newer pg_dump versions put in plain output.
fn without_restrict(dump: &str) -> String {
    dump.lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn schema_dump(url: &str) -> String {
    schema_dump_with(url, &[])
}

/// `pg_dump --schema-only` with more options (e.g. `--no-owner`), by the newest pg_dump (it
/// dumps servers of both majors; an older one refuses newer servers).
pub fn schema_dump_with(url: &str, options: &[&str]) -> String {
    without_restrict(&run(
        Command::new(crate::newest_pg_dump())
            .args(["--schema-only", "-d", url])
            .args(options),
        "pg_dump --schema-only",
    ))
}

/// `pg_dump --data-only` (rows and sequence values), with the rows of each COPY block sorted:
/// chunks of one table load in parallel, so physical row order may differ, row content not.
pub fn data_dump(url: &str) -> String {
    let dump = without_restrict(&run(
        Command::new(crate::newest_pg_dump()).args(["--data-only", "-d", url]),
        "pg_dump --data-only",
    ));
    let mut out = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in dump.lines() {
        match &mut block {
            Some(rows) if line == "\\." => {
                rows.sort_unstable();
                out.append(rows);
                out.push(line);
                block = None;
            }
            Some(rows) => rows.push(line),
            None => {
                out.push(line);
                if line.starts_with("COPY ") && line.ends_with("FROM stdin;") {
                    block = Some(Vec::new());
                }
            }
        }
    }
    assert!(block.is_none(), "unterminated COPY block");
    out.join("\n")
}

fn psql_rows(url: &str, sql: &str) -> Vec<String> {
    run(
        Command::new(pg_program("psql")).args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ]),
        "psql",
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

/// Each materialized view, whether populated, and its rows (sorted): `pg_dump --data-only` has
/// only a REFRESH statement for them, never their contents.
pub fn matview_contents(url: &str) -> Vec<(String, bool, Vec<String>)> {
    psql_rows(
        url,
        "SELECT format('%I.%I', schemaname, matviewname) || '|' || ispopulated FROM pg_matviews ORDER BY 1",
    )
    .into_iter()
    .map(|line| {
        let (name, populated) = line.rsplit_once('|').expect("name|populated");
        let populated = populated == "true";
        let rows = if populated {
            psql_rows(url, &format!("SELECT t::text FROM {name} t ORDER BY 1"))
        } else {
            Vec::new()
        };
        (name.to_owned(), populated, rows)
    })
    .collect()
}

/// Every sequence's `last_value` and `is_called` (also in the data dump's setval lines; here
/// explicitly, so a lost sequence state names the sequence).
pub fn sequence_values(url: &str) -> Vec<String> {
    psql_rows(
        url,
        "SELECT format('%I.%I', schemaname, sequencename) || ' ' || coalesce(last_value::text, 'null') \
         FROM pg_sequences ORDER BY 1",
    )
}

/// Asserts schema, data, sequence values and materialized view contents of two databases are the
/// same, per pg_dump and the views' own rows.
pub fn assert_same_database(source: &str, restored: &str) {
    assert_eq!(
        sequence_values(source),
        sequence_values(restored),
        "sequences differ"
    );
    assert_eq!(
        matview_contents(source),
        matview_contents(restored),
        "materialized views differ (populated flag or rows)"
    );
    let (a, b) = (schema_dump(source), schema_dump(restored));
    assert!(a.contains("CREATE TABLE"), "schema dump looks empty");
    if a != b {
        let diff: Vec<String> = a
            .lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .take(10)
            .map(|(x, y)| format!("- {x}\n+ {y}"))
            .collect();
        panic!(
            "schemas differ ({} vs {} lines):\n{}",
            a.lines().count(),
            b.lines().count(),
            diff.join("\n")
        );
    }
    let (a, b) = (data_dump(source), data_dump(restored));
    if a != b {
        let diff: Vec<String> = a
            .lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .take(10)
            .map(|(x, y)| format!("- {}\n+ {}", &x[..x.len().min(300)], &y[..y.len().min(300)]))
            .collect();
        panic!(
            "data differ ({} vs {} lines):\n{}",
            a.lines().count(),
            b.lines().count(),
            diff.join("\n")
        );
    }
}

pub async fn s3_store(url: &str) -> Store {
    let cfg = crate::aws_config().await;
    Store::open(url, Some(&crate::s3(&cfg))).unwrap()
}

/// A new bucket in moto (optionally with Object Lock enabled).
pub async fn create_bucket(object_lock: bool) -> String {
    let cfg = crate::aws_config().await;
    let s3 = crate::s3(&cfg);
    let bucket = crate::unique("dump-");
    s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(object_lock)
        .send()
        .await
        .expect("create bucket");
    bucket
}

/// Exports `source`, restores into a fresh database, asserts both equal; returns the export.
pub async fn round_trip(
    source: &TestDb,
    dest: &Store,
    options: &ExportOptions,
) -> (ExportOutcome, TestDb) {
    let db = Database::from_url(&source.url).unwrap();
    // The deployment's pairing: the newest pg_dump, whatever the server's major.
    let mut options = options.clone();
    options.pg_dump.get_or_insert_with(crate::newest_pg_dump);
    let outcome = dump::export(&db, dest, &options).await.expect("export");
    let set_url = outcome.set_url.clone();
    let set = if dest.is_s3() {
        s3_store(&set_url).await
    } else {
        Store::open(&set_url, None).unwrap()
    };
    let target = source.sibling("dump_rt_").await;
    let restored = dump::restore(
        &set,
        &Database::from_url(&target.url).unwrap(),
        &RestoreOptions::default(),
    )
    .await
    .expect("restore");
    assert_eq!(restored.rows, outcome.manifest.totals().rows);
    assert_same_database(&source.url, &target.url);
    (outcome, target)
}

pub fn file_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("file://{}", dir.path().display()), None).unwrap();
    (dir, store)
}

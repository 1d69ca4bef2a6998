//! `integrity` and `full_read` against a cluster of our own whose files we damage on disk:
//! a B-tree index page and a heap page are overwritten while the server is stopped.

use std::io::{Seek, SeekFrom, Write};

use chrono::Utc;
use drill_core::checks::{CheckConfig, Outcome, Status};
use drill_engine::localpg::{ClusterOptions, LocalCluster};
use drill_engine::pg::Database;
use drill_engine::validate::{validate, ValidateInput, Validated};
use drill_tests::connect;

fn input() -> ValidateInput {
    ValidateInput {
        source_id: "app".into(),
        drill_id: drill_tests::unique("d-"),
        drill_started_at: Utc::now(),
        backup: None,
        config: CheckConfig::default(),
        manifest: None,
        history: None,
    }
}

fn status(v: &Validated, name: &str) -> Status {
    v.report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap()
        .status
}

fn details(v: &Validated, name: &str) -> String {
    v.report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap()
        .details
        .join("\n")
}

/// Overwrites `len` bytes at `offset` of a relation file (path relative to the data directory).
fn scribble(cluster: &LocalCluster, rel_path: &str, offset: u64, len: usize) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(cluster.data_dir().join(rel_path))
        .unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&vec![0xAB; len]).unwrap();
    f.sync_all().unwrap();
}

#[tokio::test]
async fn corrupt_index_fails_integrity_and_corrupt_heap_page_fails_full_read() {
    let mut cluster = LocalCluster::start(ClusterOptions::default()).unwrap();
    let admin = connect(&cluster.url("postgres")).await;
    admin.batch_execute("CREATE DATABASE app").await.unwrap();
    let url = cluster.url("app");
    let client = connect(&url).await;
    client
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
             INSERT INTO accounts SELECT g, g % 1000 FROM generate_series(1, 20000) g;
             CREATE TABLE notes (id int, body text);
             INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 2000) g;
             CHECKPOINT;",
        )
        .await
        .unwrap();
    let path = |rel: &'static str| {
        let client = &client;
        async move {
            client
                .query_one("SELECT pg_relation_filepath($1::text::regclass)", &[&rel])
                .await
                .unwrap()
                .get::<_, String>(0)
        }
    };
    let index_file = path("accounts_pkey").await;
    let heap_file = path("notes").await;
    drop(client);
    drop(admin);

    // Healthy first: both checks pass (and amcheck is installed and removed again).
    let healthy = validate(&Database::from_url(&url).unwrap(), input())
        .await
        .unwrap();
    assert_eq!(
        status(&healthy, "integrity"),
        Status::Pass,
        "{}",
        healthy.report.render_table()
    );
    assert_eq!(status(&healthy, "full_read"), Status::Pass);
    assert!(healthy.report.passed);
    let leftover = connect(&url)
        .await
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(
        leftover, 0,
        "the amcheck extension created for the check must be dropped"
    );

    cluster.stop().unwrap();
    // Index block 1 (the first leaf): line pointers and tuples, page header intact, so only
    // amcheck notices. Heap block 0 of `notes`: the page header, so any read fails.
    scribble(&cluster, &index_file, 8192 + 24, 2000);
    scribble(&cluster, &heap_file, 0, 24);
    cluster.restart().unwrap();
    let url = cluster.url("app");

    let v = validate(&Database::from_url(&url).unwrap(), input())
        .await
        .unwrap();
    assert_eq!(
        status(&v, "integrity"),
        Status::Fail,
        "{}",
        v.report.render_table()
    );
    let integrity = details(&v, "integrity");
    assert!(
        integrity.contains("index public.accounts_pkey is corrupt"),
        "{}",
        v.report.render_table()
    );
    assert!(
        integrity.contains("table public.notes is corrupt"),
        "{integrity}"
    );
    assert_eq!(status(&v, "full_read"), Status::Fail);
    let read = details(&v, "full_read");
    assert!(read.contains("public.notes is unreadable"), "{read}");
    assert!(read.contains("invalid page in block 0"), "{read}");
    // The undamaged heap of accounts still reads completely.
    assert_eq!(
        v.report
            .tables
            .iter()
            .find(|t| t.table == "public.accounts")
            .map(|t| t.rows),
        Some(20000)
    );
    assert_eq!(v.report.outcome, Outcome::BackupInvalid);
    assert!(!v.report.passed);
}

#[tokio::test]
async fn integrity_stays_within_its_time_budget() {
    let cluster = LocalCluster::start(ClusterOptions::default()).unwrap();
    let url = cluster.url("postgres");
    connect(&url)
        .await
        .batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, v text);
             INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 300000) g;
             CREATE INDEX big_v ON big (v);",
        )
        .await
        .unwrap();
    let mut inp = input();
    inp.config.integrity.time_budget_seconds = 0;
    let v = validate(&Database::from_url(&url).unwrap(), inp)
        .await
        .unwrap();
    let c = v
        .report
        .checks
        .iter()
        .find(|c| c.name == "integrity")
        .unwrap();
    // Nothing could be checked: reported as such, neither corruption nor a pass.
    assert_eq!(c.status, Status::Skipped, "{c:#?}");
    assert!(
        c.measured.contains("3 not checked (time budget spent)"),
        "{}",
        c.measured
    );
    assert!(c
        .details
        .iter()
        .any(|d| d == "index public.big_v: not checked within the time budget"));
}

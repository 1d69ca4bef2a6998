//! No false alarm on a good restore, no pass on a bad one: for each schema the round-trip tests
//! load (and a fixture of the hard parts: types and domains outside `public`, arrays of them,
//! collations, identity and generated columns, partitions, materialized views), on both server
//! majors, export → restore → compare the restored catalog with the set's own manifest passes;
//! then each single deliberate difference fails, naming what differs.

use drill_tests::dump as dump_support;

use drill_core::checks::{self, Baseline, Fingerprint, RowCountConfig, SchemaConfig, Status};
use drill_engine::dump::{self, Database, ExportOptions, RestoreOptions};
use drill_tests::{Server, TestDb};
use dump_support::*;

/// The schema and row-count checks of a validation against the manifest, as `drill validate
/// --manifest` runs them.
async fn check_against(
    manifest: &Fingerprint,
    db: &TestDb,
) -> (checks::CheckResult, checks::CheckResult) {
    let client = drill_tests::connect(&db.url).await;
    let measured = drill_engine::validate::fingerprint(&client)
        .await
        .expect("fingerprint");
    let schema = checks::evaluate_schema(
        &measured,
        Some((manifest, Baseline::Manifest)),
        &SchemaConfig::default(),
    );
    let rows =
        checks::evaluate_row_counts(&measured, Some(manifest), None, &RowCountConfig::default());
    (schema, rows)
}

async fn exported_and_restored(src: &TestDb) -> (Fingerprint, TestDb) {
    let (_dir, store) = file_store();
    let options = ExportOptions {
        pg_dump: Some(drill_tests::newest_pg_dump()),
        ..ExportOptions::default()
    };
    let out = dump::export(&Database::from_url(&src.url).unwrap(), &store, &options)
        .await
        .expect("export");
    let target = src.sibling("fid_rt_").await;
    dump::restore(
        &drill_engine::store::Store::open(&out.set_url, None).unwrap(),
        &Database::from_url(&target.url).unwrap(),
        &RestoreOptions::default(),
    )
    .await
    .expect("restore");
    // What `drill validate --manifest <set>` reads: the manifest as stored.
    let fp =
        drill_engine::validate::load_fingerprint(&format!("{}manifest.json", out.set_url), None)
            .await
            .expect("manifest fingerprint");
    (fp, target)
}

type Loader = fn(&TestDb);

fn load_hard_cases(db: &TestDb) {
    psql(&db.url, &fixture("hard_cases.sql"));
}

fn load_fidelity(db: &TestDb) {
    psql(&db.url, &fixture("fidelity.sql"));
}

const SCHEMAS: &[(&str, Loader)] = &[
    ("chinook", load_chinook),
    ("pagila", load_pagila),
    ("hard_cases", load_hard_cases),
    ("fidelity", load_fidelity),
];

async fn good_restores_pass(server: &Server) {
    for (name, load) in SCHEMAS {
        let src = TestDb::create_on(&server.url, "fid_src_").await;
        load(&src);
        let (manifest, restored) = exported_and_restored(&src).await;
        let (schema, rows) = check_against(&manifest, &restored).await;
        assert_eq!(
            schema.status,
            Status::Pass,
            "{name} on the {} server: a good restore failed the schema check: {:?}",
            server.label,
            schema.details
        );
        assert_eq!(rows.status, Status::Pass, "{name}: {:?}", rows.details);
        assert!(
            manifest.indexes.as_ref().is_some_and(|i| !i.is_empty()),
            "{name}: the manifest describes no indexes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_restore_of_every_schema_matches_its_manifest_on_the_packaged_major() {
    good_restores_pass(&drill_tests::packaged_server()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_restore_of_every_schema_matches_its_manifest_on_the_newest_major() {
    good_restores_pass(&drill_tests::newest_server()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_single_difference_fails_naming_it_on_both_majors() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "a dropped column",
            "ALTER TABLE sales.customers DROP COLUMN note",
            &["column sales.customers.note", "missing"],
        ),
        (
            "a changed type",
            "ALTER TABLE sales.orders ALTER COLUMN customer_id TYPE bigint",
            &["column sales.orders.customer_id has type bigint, expected integer"],
        ),
        (
            "a missing partition",
            "DROP TABLE sales.events_2026",
            &["table sales.events_2026 is missing"],
        ),
        (
            "a dropped index",
            "DROP INDEX sales.customers_name_idx",
            &["index sales.customers_name_idx", "missing"],
        ),
        (
            "a lost collation",
            "ALTER TABLE sales.customers ALTER COLUMN name TYPE text COLLATE \"default\"",
            &["column sales.customers.name", "COLLATE types.c_copy"],
        ),
    ];
    for server in drill_tests::servers() {
        let src = TestDb::create_on(&server.url, "fid_src_").await;
        load_fidelity(&src);
        let (manifest, restored) = exported_and_restored(&src).await;
        for (what, change, named) in cases {
            let copy = TestDb::copy_of(&restored, "fid_bad_").await;
            psql(&copy.url, change);
            let (schema, _) = check_against(&manifest, &copy).await;
            assert_eq!(
                schema.status,
                Status::Fail,
                "{what} on the {} server passed the schema check",
                server.label
            );
            let details = schema.details.join("\n");
            for part in *named {
                assert!(
                    details.contains(part),
                    "{what}: {part:?} not named in:\n{details}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialized_views_come_back_as_they_were_on_both_majors() {
    for server in drill_tests::servers() {
        let src = TestDb::create_on(&server.url, "fid_mv_").await;
        load_fidelity(&src);
        let (_dir, store) = file_store();
        let (out, restored) = round_trip(&src, &store, &ExportOptions::default()).await;
        let names: Vec<(&str, bool)> = out
            .manifest
            .materialized_views
            .iter()
            .map(|m| (m.name.as_str(), m.populated))
            .collect();
        // Dependencies first, whatever the names' order.
        let pos = |n: &str| names.iter().position(|(m, _)| *m == n).unwrap();
        assert!(
            pos("revenue_by_status") < pos("a_paid_summary"),
            "{names:?}"
        );
        assert!(names.contains(&("not_yet", false)), "{names:?}");
        let views = matview_contents(&restored.url);
        let paid = views
            .iter()
            .find(|v| v.0 == "reports.a_paid_summary")
            .unwrap();
        assert!(paid.1 && paid.2.len() == 1 && paid.2[0] != "()", "{paid:?}");
        let not_yet = views.iter().find(|v| v.0 == "reports.not_yet").unwrap();
        assert!(!not_yet.1, "an unpopulated view came back populated");
    }
}

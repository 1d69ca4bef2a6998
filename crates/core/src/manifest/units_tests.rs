use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};

use super::*;
use crate::checks::{ExpectedTable, Fingerprint};
use crate::units::{plan, PlannerSettings, TableSize};

fn object(key: &str, rows: Option<u64>) -> ObjectEntry {
    ObjectEntry {
        key: key.into(),
        raw_bytes: 10,
        compressed_bytes: 5,
        sha256: "0".repeat(64),
        rows,
    }
}

/// Two tables, the first split over several units.
fn sample() -> ExportPlan {
    let settings = PlannerSettings {
        throughput_bytes_per_second: 1024 * 1024,
        invocation_seconds: 100,
        fill_percent: 10,
    };
    // Budget 10 MiB = 1280 pages; table 0 has 4000 pages → 4 chunks, table 1 is small.
    let units = plan(
        &[TableSize { pages: 4000 }, TableSize { pages: 3 }],
        8192,
        64 << 20,
        &settings,
    )
    .unwrap()
    .units;
    let table = |name: &str| PlannedTable {
        schema: "public".into(),
        name: name.into(),
        columns: vec![],
        pages: 0,
    };
    ExportPlan {
        drill_id: "d1".into(),
        server_version: "17.2".into(),
        database: "app".into(),
        encoding: "UTF8".into(),
        planned_at: Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap(),
        data_taken_at: None,
        block_size: 8192,
        budget_bytes: settings.budget_bytes(),
        throughput_bytes_per_second: settings.throughput_bytes_per_second,
        tables: vec![table("big"), table("small")],
        units,
        pre_data: object("schema/pre-data.sql", None),
        post_data: object("schema/post-data.sql", None),
        sequences: object("sequences.json", None),
        schema: Fingerprint {
            tables: ["big", "small"]
                .map(|n| ExpectedTable {
                    schema: "public".into(),
                    name: n.into(),
                    columns: vec![],
                    rows: None,
                })
                .to_vec(),
            indexes: None,
            constraints: None,
        },
        materialized_views: vec![],
    }
}

fn result_of(plan: &ExportPlan, unit: u32) -> UnitResult {
    let u = &plan.units[unit as usize];
    UnitResult {
        unit,
        started_at: plan.planned_at,
        finished_at: plan.planned_at,
        objects: u
            .chunks
            .iter()
            .map(|c| ChunkObject {
                table: c.table,
                chunk: c.chunk,
                object: object(
                    &unit_data_key("public", &plan.tables[c.table].name, c.chunk, "a1"),
                    Some(100 + c.chunk as u64),
                ),
            })
            .collect(),
    }
}

fn all_results(plan: &ExportPlan) -> BTreeMap<u32, UnitResult> {
    plan.units
        .iter()
        .map(|u| (u.unit, result_of(plan, u.unit)))
        .collect()
}

#[test]
fn every_unit_reported_gives_a_manifest_that_the_restore_accepts() {
    let plan = sample();
    assert!(plan.units.len() >= 4, "{:#?}", plan.units);
    let results = all_results(&plan);
    let t = plan.planned_at;
    let m = assemble(&plan, &results, t, t, "0.1.0").unwrap();
    crate::manifest::check(&m).unwrap();
    // The big table's objects in chunk order, whatever unit wrote them.
    let keys: Vec<&str> = m.tables[0].objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys.len(), 4);
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    assert_eq!(m.tables[0].rows, 100 + 101 + 102 + 103);
    assert_eq!(m.tables[1].rows, 100);
    assert_eq!(m.schema.as_ref().unwrap().tables[0].rows, Some(406));
    assert_eq!(m.snapshot_at, plan.planned_at);
}

#[test]
fn a_missing_unit_gives_no_manifest_and_names_the_unit() {
    let plan = sample();
    let mut results = all_results(&plan);
    results.remove(&2);
    let t = plan.planned_at;
    let err = assemble(&plan, &results, t, t, "0.1.0").unwrap_err();
    assert_eq!(
        err,
        AssembleError::Missing {
            missing: vec![2],
            total: plan.units.len()
        }
    );
    assert!(err.to_string().contains("unit(s) 2 of"), "{err}");
}

#[test]
fn a_result_with_other_chunks_than_planned_is_refused() {
    let plan = sample();
    let mut results = all_results(&plan);
    results.get_mut(&1).unwrap().objects.pop();
    let t = plan.planned_at;
    let err = assemble(&plan, &results, t, t, "0.1.0").unwrap_err();
    assert!(
        matches!(err, AssembleError::Inconsistent { unit: 1, .. }),
        "{err}"
    );
}

#[test]
fn only_a_set_below_the_destination_is_accepted() {
    let d = "s3://b/backups/app";
    let name = crate::manifest::set_name("app", Utc::now(), "1a2b3c4d");
    assert!(check_set_url(d, &format!("{d}/{name}/")).is_ok(), "{name}");
    assert!(check_set_url(d, &format!("{d}/{name}")).is_ok());
    for bad in [
        "s3://b/backups/app/",
        "s3://b/backups/app",
        "s3://b/backups/app/../other/x",
        "s3://b/backups/app/x",
        "s3://b/backups/app/x/y/z",
        "s3://b/backups/app/../y",
        "s3://b/backups/apple/x",
        "s3://other/backups/app/x",
        "s3://b/backups/app/..",
    ] {
        let err = check_set_url(d, bad).unwrap_err();
        assert!(err.contains(bad), "{err}");
    }
}

use super::*;
use crate::checks::CheckConfig;

const MIB: u64 = 1024 * 1024;

type PageRange = (u64, Option<u64>);
const BLOCK: u64 = 8192;

fn sizes(mib: &[u64]) -> Vec<TableSize> {
    mib.iter()
        .map(|m| TableSize {
            pages: m * MIB / BLOCK,
        })
        .collect()
}

fn settings(mib_per_second: u64) -> PlannerSettings {
    PlannerSettings {
        throughput_bytes_per_second: mib_per_second * MIB,
        invocation_seconds: 100,
        fill_percent: 50,
    }
}

#[test]
fn a_small_database_is_one_unit_with_every_table() {
    // Budget 10 MiB/s * 100 s * 50% = 500 MiB; the database is 30 MiB.
    let p = plan(&sizes(&[10, 0, 20]), BLOCK, 64 * MIB, &settings(10)).unwrap();
    assert_eq!(p.budget_bytes, 500 * MIB);
    assert_eq!(p.units.len(), 1);
    let tables: Vec<usize> = p.units[0].chunks.iter().map(|c| c.table).collect();
    assert_eq!(tables, [0, 1, 2]);
    assert!(p.units[0].chunks.iter().all(|c| c.pages.is_none()));
    // An empty database is still one (empty) unit: the export writes schema and manifest.
    assert_eq!(
        plan(&[], BLOCK, 64 * MIB, &settings(10))
            .unwrap()
            .units
            .len(),
        1
    );
}

#[test]
fn a_big_table_is_split_in_page_ranges_and_small_tables_are_grouped() {
    // Budget 1 MiB/s * 100 s * 50% = 50 MiB; chunks capped at 64 MiB → 50 MiB.
    let p = plan(&sizes(&[400, 5, 5, 5]), BLOCK, 64 * MIB, &settings(1)).unwrap();
    assert!(p.units.iter().all(|u| u.estimated_bytes <= p.budget_bytes));
    // 400 MiB in 50 MiB ranges = 8 units; the three small tables go into one more.
    assert_eq!(p.units.len(), 9, "{:#?}", p.units);
    let big: Vec<&Chunk> = p
        .units
        .iter()
        .flat_map(|u| &u.chunks)
        .filter(|c| c.table == 0)
        .collect();
    assert_eq!(big.len(), 8);
    // Ranges cover the table without gap or overlap, the last one open-ended.
    let mut ranges: Vec<(u64, Option<u64>)> = big.iter().map(|c| c.pages.unwrap()).collect();
    ranges.sort();
    assert_eq!(ranges[0].0, 0);
    for w in ranges.windows(2) {
        assert_eq!(w[0].1, Some(w[1].0));
    }
    assert_eq!(ranges.last().unwrap().1, None);
    let small: Vec<&WorkUnit> = p
        .units
        .iter()
        .filter(|u| u.chunks.iter().any(|c| c.table != 0))
        .collect();
    assert_eq!(small.len(), 1);
    assert_eq!(small[0].chunks.len(), 3);
    // Unit numbers are the positions, so a unit's result can be found by number.
    for (i, u) in p.units.iter().enumerate() {
        assert_eq!(u.unit as usize, i);
    }
}

#[test]
fn chunk_numbers_are_the_single_invocation_ones() {
    // The same chunk keys whatever the unit budget: an object's key does not depend on the split.
    let t = sizes(&[300, 7]);
    let one = plan(&t, BLOCK, 64 * MIB, &settings(100)).unwrap();
    let many = plan(&t, BLOCK, 64 * MIB, &settings(2)).unwrap();
    assert_eq!(one.units.len(), 1);
    assert!(many.units.len() > 2);
    let keys = |p: &UnitPlan| {
        let mut k: Vec<(usize, u32, Option<PageRange>)> = p
            .units
            .iter()
            .flat_map(|u| &u.chunks)
            .map(|c| (c.table, c.chunk, c.pages))
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&one), keys(&many));
}

#[test]
fn bad_settings_are_refused_naming_the_setting() {
    for (s, word) in [
        (
            PlannerSettings {
                throughput_bytes_per_second: 10,
                ..Default::default()
            },
            "throughput",
        ),
        (
            PlannerSettings {
                invocation_seconds: 901,
                ..Default::default()
            },
            "invocation",
        ),
        (
            PlannerSettings {
                fill_percent: 0,
                ..Default::default()
            },
            "fill",
        ),
    ] {
        let err = plan(&[], BLOCK, MIB, &s).unwrap_err();
        assert!(err.to_string().contains(word), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
}

#[test]
fn the_prediction_is_the_longest_lane() {
    let s = settings(10);
    let units: Vec<WorkUnit> = (0..8)
        .map(|i| WorkUnit {
            unit: i,
            chunks: Vec::new(),
            estimated_bytes: 100 * MIB,
        })
        .collect();
    assert_eq!(predict_seconds(&units, 1, &s), 80.0);
    assert_eq!(predict_seconds(&units, 2, &s), 40.0);
    assert_eq!(predict_seconds(&units, 8, &s), 10.0);
    // More Lambdas than units: one unit's time.
    assert_eq!(predict_seconds(&units, 100, &s), 10.0);
}

/// `function_timeout = { ... name = N ... }` of infra/lambda.tf.
fn function_timeout(name: &str) -> u64 {
    let tf = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/lambda.tf"
    ))
    .expect("infra/lambda.tf");
    let block = tf
        .split("function_timeout = {")
        .nth(1)
        .and_then(|b| b.split('}').next())
        .expect("function_timeout block in infra/lambda.tf");
    block
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == name).then(|| v.split('#').next().unwrap().trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {name} timeout in infra/lambda.tf"))
}

#[test]
fn check_defaults_end_inside_the_deployed_functions() {
    let defaults = CheckConfig::default();
    for function in ["validate", "export"] {
        let limit = function_timeout(function);
        assert!(limit > 0 && limit <= 900, "{function}: {limit}");
        check_timeouts(
            defaults.statement_timeout_seconds,
            defaults.integrity.time_budget_seconds,
            limit,
        )
        .unwrap_or_else(|e| panic!("{function} ({limit} s): {e}"));
    }
    assert!(DEFAULT_INVOCATION_SECONDS <= function_timeout("export"));
    // The check itself: the old defaults (3,600 s, 1,800 s) do not fit 900 s.
    assert!(check_timeouts(3600, 1800, 900).is_err());
    assert!(check_timeouts(300, 600, 900).is_err());
}

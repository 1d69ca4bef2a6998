use std::time::Duration;

use super::*;
use crate::checks::{evaluate_full_read, evaluate_integrity, ReadFailure};
use crate::report::TableRead;
use crate::units::Chunk;

fn chunk(table: usize, chunk: u32) -> Chunk {
    Chunk {
        table,
        chunk,
        pages: None,
        estimated_pages: 10,
    }
}

/// Four units: table 0 (`public.big`) in two ranged chunks (units 0 and 1), tables 1 and 2 whole.
fn plan() -> ValidationPlan {
    let unit = |unit, chunks| WorkUnit {
        unit,
        chunks,
        estimated_bytes: 81920,
    };
    ValidationPlan {
        drill_id: "d".into(),
        block_size: 8192,
        budget_bytes: 100_000,
        tables: ["public.big", "public.a", "public.b"]
            .iter()
            .map(|t| PlannedRead {
                table: (*t).into(),
                pages: 10,
            })
            .collect(),
        units: vec![
            unit(0, vec![chunk(0, 0)]),
            unit(1, vec![chunk(0, 1)]),
            unit(2, vec![chunk(1, 0)]),
            unit(3, vec![chunk(2, 0)]),
        ],
    }
}

fn read(table: &str, rows: u64) -> TableRead {
    TableRead {
        table: table.into(),
        rows,
        bytes: rows * 10,
        duration_ms: 1,
    }
}

fn result(unit: u32, table: &str, rows: u64) -> UnitChecks {
    UnitChecks {
        unit,
        read: ReadPass {
            reads: vec![read(table, rows)],
            duration: Duration::from_millis(5),
            ..Default::default()
        },
        integrity: Some(IntegrityPass {
            tables_checked: 1,
            indexes_checked: 1,
            ..Default::default()
        }),
    }
}

fn all() -> Vec<UnitChecks> {
    vec![
        result(2, "public.a", 7),
        result(0, "public.big", 100),
        result(1, "public.big", 50),
        result(3, "public.b", 3),
    ]
}

#[test]
fn the_units_of_a_table_are_summed_into_one_read_and_every_unit_counts_once() {
    let s = sum(&plan(), &all());
    assert!(s.missing.is_empty() && s.cut_short.is_empty());
    let rows: Vec<(&str, u64)> = s
        .read
        .reads
        .iter()
        .map(|r| (r.table.as_str(), r.rows))
        .collect();
    assert_eq!(
        rows,
        [("public.a", 7), ("public.b", 3), ("public.big", 150)]
    );
    assert_eq!(s.integrity.tables_checked, 4);
    assert_eq!(evaluate_full_read(&s.read).status, Status::Pass);
    let r = s.tell(evaluate_integrity(s.integrity.clone(), 480));
    assert_eq!(r.status, Status::Pass);
    assert_eq!(r.measured, "4 B-tree indexes, 4 tables checked");
}

#[test]
fn a_unit_without_a_result_or_cut_short_makes_the_checks_incomplete_naming_it() {
    // Unit 1 has no result: big's second half was never read.
    let mut results = all();
    results.retain(|r| r.unit != 1);
    let s = sum(&plan(), &results);
    assert_eq!(s.missing, [1]);
    let r = s.tell(evaluate_full_read(&s.read));
    assert_eq!(r.status, Status::Incomplete);
    assert!(
        r.measured
            .starts_with("ran out of time after 3 of 4 units, unit(s) 1 incomplete; "),
        "{}",
        r.measured
    );
    assert!(
        r.details
            .iter()
            .any(|d| d.contains("unit 1 (no result): public.big")),
        "{:?}",
        r.details
    );
    assert_eq!(
        s.tell(evaluate_integrity(s.integrity.clone(), 480)).status,
        Status::Incomplete
    );

    // Unit 3 ran but the deadline cut it short.
    let mut results = all();
    results[3].read.reads.clear();
    results[3].read.out_of_time.push("public.b".into());
    let s = sum(&plan(), &results);
    assert_eq!(s.cut_short, [3]);
    let r = s.tell(evaluate_full_read(&s.read));
    assert_eq!(r.status, Status::Incomplete);
    assert!(
        r.measured.contains("unit(s) 3 incomplete"),
        "{}",
        r.measured
    );
    assert!(
        r.details
            .contains(&"unit 3: public.b: not read before the invocation's deadline".into()),
        "{:?}",
        r.details
    );

    // Corruption in any unit still fails, incomplete or not.
    results[0].read.failures.push(ReadFailure {
        table: "public.big".into(),
        corruption: true,
        message: "bad page".into(),
    });
    let s = sum(&plan(), &results);
    assert_eq!(s.tell(evaluate_full_read(&s.read)).status, Status::Fail);
}

#[test]
fn unit_files_live_below_the_drill_never_where_an_event_says() {
    assert_eq!(
        units_prefix("nightly/2026 prod"),
        "validation-units/nightly_2026_prod"
    );
    assert_eq!(unit_key(7), "unit-00007.json");
    // A plan and a result survive the trip through S3 (JSON).
    let r = &all()[0];
    let back: UnitChecks = serde_json::from_slice(&serde_json::to_vec(r).unwrap()).unwrap();
    assert_eq!(&back, r);
    let p = plan();
    let back: ValidationPlan = serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

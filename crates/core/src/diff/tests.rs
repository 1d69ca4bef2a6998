use super::*;

fn counts(base: u64, inserted: u64, deleted: u64, updated: u64) -> RowCounts {
    RowCounts {
        base_rows: base,
        sandbox_rows: base + inserted - deleted,
        inserted,
        deleted,
        updated,
        ..RowCounts::default()
    }
}

fn table(name: &str, rows: RowCounts) -> TableDiff {
    TableDiff::compared(
        "public",
        name,
        Matching::PrimaryKey(vec!["id".into()]),
        rows,
        ColumnChanges::default(),
    )
}

fn verdict(tables: &[TableDiff]) -> (Verdict, Vec<String>) {
    judge(tables, &[], &DiffPolicy::default())
}

#[test]
fn nothing_changed_is_no_change_and_exits_zero() {
    let (v, findings) = verdict(&[table("a", counts(10, 0, 0, 0))]);
    assert_eq!(v, Verdict::NoChange);
    assert!(findings.is_empty());
    assert_eq!(v.exit_code(), 0);
    // An empty table staying empty is not "emptied".
    assert_eq!(
        verdict(&[table("e", counts(0, 0, 0, 0))]).0,
        Verdict::NoChange
    );
}

#[test]
fn a_few_deleted_test_rows_are_changes() {
    let (v, findings) = verdict(&[table("students", counts(1000, 0, 20, 0))]);
    assert_eq!(v, Verdict::Changes);
    assert_eq!(
        findings,
        ["table public.students: 0 inserted, 20 deleted, 0 updated"]
    );
    assert_eq!(v.exit_code(), EXIT_CHANGES);
}

#[test]
fn an_emptied_table_is_destructive() {
    let (v, findings) = verdict(&[table("students", counts(1000, 0, 1000, 0))]);
    assert_eq!(v, Verdict::Destructive);
    assert_eq!(
        findings[0],
        "table public.students emptied (1000 rows deleted)"
    );
    assert_eq!(v.exit_code(), EXIT_DESTRUCTIVE);
}

#[test]
fn more_than_the_share_deleted_or_updated_is_destructive_and_the_share_is_configurable() {
    // 6 deleted + 5 updated of 100 = 11 % > 10 %.
    let t = [table("t", counts(100, 0, 6, 5))];
    assert_eq!(verdict(&t).0, Verdict::Destructive);
    assert!(verdict(&t).1[0].contains("11.0 %"), "{:?}", verdict(&t).1);
    // Exactly 10 % is still only changes; inserts never count.
    assert_eq!(
        verdict(&[table("t", counts(100, 500, 5, 5))]).0,
        Verdict::Changes
    );
    let lax = DiffPolicy::new(0.5).unwrap();
    assert_eq!(judge(&t, &[], &lax).0, Verdict::Changes);
    assert!(DiffPolicy::new(0.0).is_err());
    assert!(DiffPolicy::new(1.5).is_err());
    assert!(DiffPolicy::new(f64::NAN).is_err());
}

#[test]
fn dropped_tables_and_columns_are_destructive_added_ones_are_changes() {
    let dropped = TableDiff::one_sided("public", "old", TableChange::Dropped, 7);
    assert_eq!(dropped.rows.deleted, 7);
    let (v, f) = verdict(&[dropped]);
    assert_eq!(
        (v, f[0].as_str()),
        (Verdict::Destructive, "table public.old dropped (7 rows)")
    );
    let added = TableDiff::one_sided("public", "new", TableChange::Added, 3);
    assert_eq!(verdict(&[added]).0, Verdict::Changes);

    let base = [
        ColumnDef {
            name: "id".into(),
            type_name: "integer".into(),
        },
        ColumnDef {
            name: "note".into(),
            type_name: "text".into(),
        },
        ColumnDef {
            name: "n".into(),
            type_name: "integer".into(),
        },
    ];
    let sandbox = [
        ColumnDef {
            name: "id".into(),
            type_name: "integer".into(),
        },
        ColumnDef {
            name: "n".into(),
            type_name: "bigint".into(),
        },
        ColumnDef {
            name: "flag".into(),
            type_name: "boolean".into(),
        },
    ];
    let (changes, common) = compare_columns(&base, &sandbox);
    assert_eq!(common, ["id", "n"]);
    assert_eq!(changes.dropped, ["note"]);
    assert_eq!(changes.added, ["flag"]);
    assert_eq!(changes.retyped, ["n: integer → bigint"]);
    let t = TableDiff::compared(
        "public",
        "t",
        Matching::RowHash,
        counts(5, 0, 0, 0),
        changes.clone(),
    );
    assert_eq!(t.change, TableChange::Changed);
    let (v, f) = verdict(&[t]);
    assert_eq!(v, Verdict::Destructive);
    assert!(
        f.contains(&"column public.t.note dropped".to_owned()),
        "{f:?}"
    );
    let only_added = ColumnChanges {
        added: changes.added,
        ..ColumnChanges::default()
    };
    let t = TableDiff::compared(
        "public",
        "t",
        Matching::RowHash,
        counts(5, 0, 0, 0),
        only_added,
    );
    assert_eq!(verdict(&[t]).0, Verdict::Changes);
}

#[test]
fn moved_sequences_are_changes() {
    let s = |n: &str, v| ("public".to_owned(), n.to_owned(), v);
    let seqs = compare_sequences(
        &[s("a_seq", Some(10)), s("b_seq", None), s("gone", Some(1))],
        &[s("a_seq", Some(12)), s("b_seq", None), s("new", Some(1))],
    );
    let changes: Vec<_> = seqs.iter().map(|s| (s.name.as_str(), s.change)).collect();
    assert_eq!(
        changes,
        [
            ("a_seq", TableChange::Changed),
            ("b_seq", TableChange::Unchanged),
            ("gone", TableChange::Dropped),
            ("new", TableChange::Added)
        ]
    );
    let (v, f) = judge(&[], &seqs, &DiffPolicy::default());
    assert_eq!(v, Verdict::Changes);
    assert_eq!(f[0], "sequence public.a_seq moved 10 → 12");
}

#[test]
fn the_exit_codes_differ_from_the_error_codes() {
    let errors: Vec<u8> = crate::ErrorKind::ALL
        .iter()
        .map(|k| k.exit_code().code())
        .collect();
    for v in [Verdict::Changes, Verdict::Destructive] {
        assert!(!errors.contains(&v.exit_code()), "{v:?}");
    }
    assert_ne!(EXIT_CHANGES, EXIT_DESTRUCTIVE);
}

#[test]
fn the_report_serializes_with_flat_row_counts() {
    let r = DiffReport::new(
        "h:1/s".into(),
        "h:1/s_base".into(),
        vec![table("a", counts(3, 1, 0, 0))],
        vec![],
        DiffPolicy::default(),
        0.5,
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["verdict"], "changes");
    assert_eq!(v["tables"][0]["inserted"], 1);
    assert_eq!(v["tables"][0]["matching"]["by"], "primary_key");
    assert_eq!(r.changed_tables().count(), 1);
}

//! The `schema` verdict: the measured catalog against the expected fingerprint, naming every
//! added, removed or changed table, column, index and constraint.

use std::collections::BTreeMap;

use super::{
    Baseline, CheckResult, ExpectedConstraint, ExpectedTable, Fingerprint, SchemaConfig, Status,
};

/// Compares the measured schema with an expected one; every added, removed or changed object is
/// named in `details`.
pub fn evaluate_schema(
    measured: &Fingerprint,
    expected: Option<(&Fingerprint, Baseline)>,
    config: &SchemaConfig,
) -> CheckResult {
    const NAME: &str = "schema";
    if !config.enabled {
        return CheckResult::skipped(NAME, "disabled");
    }
    let summary = format!(
        "{} tables, {} indexes, {} constraints",
        measured.tables.len(),
        measured.indexes.as_ref().map_or(0, Vec::len),
        measured.constraints.as_ref().map_or(0, Vec::len)
    );
    let Some((expected, baseline)) = expected else {
        return CheckResult::skipped(NAME, format!("{summary}; nothing to compare against"))
            .expected("no manifest and no earlier good drill");
    };
    let mut details = Vec::new();

    let key = |t: &ExpectedTable| (t.schema.clone(), t.name.clone());
    let m: BTreeMap<_, _> = measured.tables.iter().map(|t| (key(t), t)).collect();
    let e: BTreeMap<_, _> = expected.tables.iter().map(|t| (key(t), t)).collect();
    for (k, et) in &e {
        match m.get(k) {
            None => details.push(format!("table {} is missing", et.qualified())),
            Some(mt) => diff_columns(et, mt, &mut details),
        }
    }
    for (k, mt) in &m {
        if !e.contains_key(k) {
            details.push(format!("table {} is unexpected (added)", mt.qualified()));
        }
    }
    if config.indexes {
        if let (Some(ei), Some(mi)) = (&expected.indexes, &measured.indexes) {
            diff_named(
                "index",
                ei.iter().map(|i| {
                    (
                        (i.schema.clone(), i.name.clone()),
                        (&i.table, &i.definition),
                    )
                }),
                mi.iter().map(|i| {
                    (
                        (i.schema.clone(), i.name.clone()),
                        (&i.table, &i.definition),
                    )
                }),
                &mut details,
            );
        }
    }
    if config.constraints {
        if let (Some(ec), Some(mc)) = (&expected.constraints, &measured.constraints) {
            // Constraint names are unique per table, not per schema.
            let k =
                |c: &ExpectedConstraint| (c.schema.clone(), format!("{} on {}", c.name, c.table));
            diff_named(
                "constraint",
                ec.iter().map(|c| (k(c), (&c.table, &c.definition))),
                mc.iter().map(|c| (k(c), (&c.table, &c.definition))),
                &mut details,
            );
        }
    }
    let status = if details.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    CheckResult::new(NAME, status)
        .measured(summary)
        .expected(format!("same as {}", baseline.label()))
        .details(details)
}

fn diff_columns(expected: &ExpectedTable, measured: &ExpectedTable, out: &mut Vec<String>) {
    let q = expected.qualified();
    let m: BTreeMap<&str, &str> = measured
        .columns
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let e: BTreeMap<&str, &str> = expected
        .columns
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    for (name, ty) in &e {
        match m.get(name) {
            None => out.push(format!("column {q}.{name} ({ty}) is missing")),
            Some(mt) if mt != ty => {
                out.push(format!("column {q}.{name} has type {mt}, expected {ty}"))
            }
            Some(_) => {}
        }
    }
    for (name, ty) in &m {
        if !e.contains_key(name) {
            out.push(format!("column {q}.{name} ({ty}) is unexpected (added)"));
        }
    }
}

fn diff_named<'a>(
    what: &str,
    expected: impl Iterator<Item = ((String, String), (&'a String, &'a String))>,
    measured: impl Iterator<Item = ((String, String), (&'a String, &'a String))>,
    out: &mut Vec<String>,
) {
    let e: BTreeMap<_, _> = expected.collect();
    let m: BTreeMap<_, _> = measured.collect();
    for ((schema, name), (table, def)) in &e {
        match m.get(&(schema.clone(), name.clone())) {
            None => out.push(format!(
                "{what} {schema}.{name} on {schema}.{table} is missing ({def})"
            )),
            Some((_, mdef)) if mdef != def => out.push(format!(
                "{what} {schema}.{name} changed: {mdef}, expected {def}"
            )),
            Some(_) => {}
        }
    }
    for ((schema, name), (table, def)) in &m {
        if !e.contains_key(&(schema.clone(), name.clone())) {
            out.push(format!(
                "{what} {schema}.{name} on {schema}.{table} is unexpected (added: {def})"
            ));
        }
    }
}

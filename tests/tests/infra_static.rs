//! The state machine definition and the Terraform code, checked as code: ASL validity, failure
//! paths, retries, and checkov.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use drill_tests::infra::{asl_validate, render_asl, repo, sample_template_vars};
use serde_json::Value;

fn definition() -> Value {
    serde_json::from_str(&render_asl(&sample_template_vars())).expect("rendered ASL is JSON")
}

fn inner_states(def: &Value) -> &serde_json::Map<String, Value> {
    def["States"]["Sources"]["ItemProcessor"]["States"]
        .as_object()
        .expect("Map state with an ItemProcessor")
}

/// Every state a state can go to next, on success or failure.
fn successors(state: &Value) -> Vec<String> {
    let mut next = Vec::new();
    let mut push = |v: &Value| {
        if let Some(s) = v.as_str() {
            next.push(s.to_owned());
        }
    };
    push(&state["Next"]);
    push(&state["Default"]);
    for c in state["Choices"].as_array().into_iter().flatten() {
        push(&c["Next"]);
    }
    for c in state["Catch"].as_array().into_iter().flatten() {
        push(&c["Next"]);
    }
    next
}

fn is_terminal(state: &Value) -> bool {
    state["End"] == Value::Bool(true) || matches!(state["Type"].as_str(), Some("Succeed" | "Fail"))
}

/// Paths from `start` that reach a terminal state without passing a state in `through`.
fn escaping_paths(
    states: &serde_json::Map<String, Value>,
    start: &str,
    through: &BTreeSet<String>,
) -> Vec<Vec<String>> {
    fn walk(
        states: &serde_json::Map<String, Value>,
        name: &str,
        through: &BTreeSet<String>,
        path: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        if through.contains(name) || path.iter().any(|p| p == name) {
            return; // covered, or a loop already being walked
        }
        path.push(name.to_owned());
        let state = &states[name];
        if is_terminal(state) {
            out.push(path.clone());
        }
        for next in successors(state) {
            walk(states, &next, through, path, out);
        }
        path.pop();
    }
    let mut out = Vec::new();
    walk(states, start, through, &mut Vec::new(), &mut out);
    out
}

fn tasks_calling(states: &serde_json::Map<String, Value>, arn_suffix: &str) -> BTreeSet<String> {
    states
        .iter()
        .filter(|(_, s)| {
            s["Type"] == "Task"
                && s["Resource"]
                    .as_str()
                    .is_some_and(|r| r.ends_with(arn_suffix))
        })
        .map(|(n, _)| n.clone())
        .collect()
}

#[test]
fn rendered_definition_passes_asl_validator() {
    let (ok, out) = asl_validate(&render_asl(&sample_template_vars()));
    assert!(ok, "asl-validator: {out}");
    // The validator really validates: a definition pointing at a missing state fails.
    let broken = render_asl(&sample_template_vars())
        .replace("\"Next\": \"Validate\"", "\"Next\": \"NoSuchState\"");
    let (ok, out) = asl_validate(&broken);
    assert!(!ok, "a dangling Next must be rejected: {out}");
}

#[test]
fn every_path_after_the_restore_reaches_delete_temp() {
    let def = definition();
    let states = inner_states(&def);
    // The tasks that delete the temp resource (delete-temp's `expire_copies` deletes only old
    // snapshot copies, before the restore).
    let deletes: BTreeSet<String> = tasks_calling(states, "function:restore-drill-delete-temp")
        .into_iter()
        .filter(|n| states[n]["Parameters"]["action"] != "expire_copies")
        .collect();
    assert_eq!(
        deletes,
        BTreeSet::from([
            "CleanupAfterFailure".to_owned(),
            "CleanupAfterRestoreFailure".to_owned(),
            "DeleteTemp".to_owned()
        ])
    );
    // Even a failed restore goes through delete-temp before anything ends.
    let escaping = escaping_paths(states, "Restore", &deletes);
    assert!(escaping.is_empty(), "{escaping:?}");
    let after_restore = states["Restore"]["Next"].as_str().unwrap();
    let escaping = escaping_paths(states, after_restore, &deletes);
    assert!(
        escaping.is_empty(),
        "paths that end without deleting the temp resource: {escaping:?}"
    );
    // Each step's Catch leads to cleanup too (checked per state, not only from the start);
    // the states that handle a failed delete-temp itself are exempt: the delete was attempted.
    let after_delete_failure: BTreeSet<String> = deletes
        .iter()
        .flat_map(|d| states[d]["Catch"].as_array().into_iter().flatten())
        .filter_map(|c| c["Next"].as_str().map(str::to_owned))
        .collect();
    for (name, state) in states {
        if deletes.contains(name)
            || after_delete_failure.contains(name)
            || name == "Restore"
            || name == "RestoreFailed"
        {
            continue;
        }
        let reachable_from_restore = !escaping_paths(states, after_restore, &BTreeSet::new())
            .iter()
            .all(|p| !p.contains(name));
        if reachable_from_restore && !name.starts_with("Report") {
            assert!(
                escaping_paths(states, name, &deletes).is_empty(),
                "{name} can end without delete-temp: {state}"
            );
        }
    }
}

#[test]
fn the_snapshot_copy_branch_always_goes_on_to_the_restore() {
    let def = definition();
    let states = inner_states(&def);
    let start = def["States"]["Sources"]["ItemProcessor"]["StartAt"]
        .as_str()
        .unwrap();
    assert_eq!(start, "SnapshotCopyWanted");
    // Without a configured snapshot_copy the drill starts with the restore; the Map item says
    // only whether the source has one (its settings are the deployment's).
    assert_eq!(states[start]["Default"], "Restore");
    assert_eq!(
        states[start]["Choices"][0]["Variable"],
        "$.entry.snapshot_copy"
    );
    assert_eq!(states[start]["Choices"][0]["BooleanEquals"], true);
    // With it, success and every failure of the copy or the expiry lead to the restore: a
    // failed copy never skips the drill, and is recorded for the report.
    let restore = BTreeSet::from(["Restore".to_owned()]);
    let escaping = escaping_paths(states, start, &restore);
    assert!(
        escaping.is_empty(),
        "paths that skip the restore: {escaping:?}"
    );
    for name in ["CopySnapshot", "ExpireCopies"] {
        let catch = &states[name]["Catch"][0];
        assert_eq!(catch["ResultPath"], "$.snapshot_copy_failure", "{name}");
        let pass = catch["Next"].as_str().unwrap();
        assert_eq!(states[pass]["ResultPath"], "$.snapshot_copy_failure");
        assert_eq!(states[pass]["Next"], "Restore");
    }
    assert_eq!(
        states["CopySnapshot"]["Parameters"]["action"],
        "copy_snapshot"
    );
    assert_eq!(
        states["ExpireCopies"]["Parameters"]["action"],
        "expire_copies"
    );
}

#[test]
fn no_task_passes_configuration_from_the_execution_input() {
    // Every Lambda call names the drill and what earlier steps produced, never a source's
    // settings: those come from the deployment configuration by source id.
    let def = definition();
    let plan = &def["States"]["Plan"];
    assert_eq!(plan["Parameters"]["action"], "plan");
    assert_eq!(def["StartAt"], "Plan");
    assert_eq!(def["States"]["Sources"]["ItemsPath"], "$.sources");
    let text: String = inner_states(&def)
        .values()
        .map(|s| s["Parameters"].to_string())
        .collect();
    for forbidden in [
        "$.entry.source",
        "$.entry.checks",
        "object_lock",
        "destination",
        "history",
        "share_with",
        "instance_identifier",
    ] {
        assert!(
            !text.contains(forbidden),
            "the definition passes {forbidden}"
        );
    }
}

#[test]
fn every_path_ends_with_a_report() {
    let def = definition();
    let states = inner_states(&def);
    let reports: BTreeSet<String> = ["ReportSuccess", "ReportFailure", "ReportFailed"]
        .into_iter()
        .map(String::from)
        .collect();
    let start = def["States"]["Sources"]["ItemProcessor"]["StartAt"]
        .as_str()
        .unwrap();
    let escaping = escaping_paths(states, start, &reports);
    assert!(escaping.is_empty(), "paths without a report: {escaping:?}");
    // A failed restore is cleaned up too (the temp name is derived from drill and source).
    assert_eq!(
        states["RestoreFailed"]["Next"],
        "CleanupAfterRestoreFailure"
    );
    assert_eq!(
        states["CleanupAfterRestoreFailure"]["Next"],
        "ReportFailure"
    );
}

#[test]
fn every_task_retries_only_transient_errors_and_catches_everything() {
    let def = definition();
    let mut all: Vec<(String, Value)> = inner_states(&def)
        .iter()
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect();
    all.extend(
        def["States"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, s)| (n.clone(), s.clone())),
    );
    let never_retry = [
        "States.ALL",
        "Drill.GuardViolation",
        "Drill.BackupInvalid",
        "Drill.InvalidInput",
        "Drill.CouldNotRun",
        "States.TaskFailed",
    ];
    let mut tasks = 0;
    for (name, state) in &all {
        if state["Type"] != "Task" && state["Type"] != "Map" {
            continue;
        }
        tasks += 1;
        if state["Type"] == "Task" {
            let retry = state["Retry"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} has no Retry"));
            for r in retry {
                for e in r["ErrorEquals"].as_array().unwrap() {
                    assert!(
                        !never_retry.contains(&e.as_str().unwrap()),
                        "{name} retries {e}: only transient errors may be retried"
                    );
                }
                assert!(
                    r["MaxAttempts"].as_u64().unwrap() <= 5,
                    "{name}: bounded retries"
                );
                assert!(r["BackoffRate"].as_f64().unwrap() > 1.0, "{name}: backoff");
            }
        }
        let catch = state["Catch"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no Catch"));
        assert!(
            catch.iter().any(|c| c["ErrorEquals"]
                .as_array()
                .unwrap()
                .contains(&Value::from("States.ALL"))),
            "{name} must catch every error"
        );
    }
    assert!(tasks >= 9, "expected every step as a Task, found {tasks}");
}

#[test]
fn the_execution_fails_when_any_source_failed() {
    let def = definition();
    let top = def["States"].as_object().unwrap();
    assert_eq!(top["DrillFailed"]["Type"], "Fail");
    assert_eq!(top["AllPassed"]["Default"], "DrillFailed");
    assert_eq!(top["Sources"]["Catch"][0]["Next"], "DrillFailed");
    // Only Lambda tasks for AWS work (aws-sdk integrations behave differently in moto and AWS).
    let mut resources = HashMap::new();
    for (name, s) in inner_states(&def).iter().chain(top.iter()) {
        if let Some(r) = s["Resource"].as_str() {
            resources.insert(name.clone(), r.to_owned());
        }
    }
    for (name, r) in resources {
        assert!(r.starts_with("arn:aws:lambda:"), "{name} uses {r}");
    }
}

#[test]
fn checkov_finds_no_failed_checks_and_every_skip_has_a_reason() {
    let checkov = repo().join(".venv-tools/bin/checkov");
    assert!(
        checkov.exists(),
        "{} is missing: run scripts/setup",
        checkov.display()
    );
    let out = Command::new(&checkov)
        .args([
            "-d",
            "infra",
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
        ])
        .args(["--skip-download", "-o", "json"])
        .current_dir(repo())
        .env("BC_SKIP_MAPPING", "TRUE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("checkov output is not JSON ({e}): {text}"));
    let summary = &report["summary"];
    assert_eq!(
        summary["failed"], 0,
        "checkov failed checks: {}",
        report["results"]["failed_checks"]
    );
    assert!(summary["passed"].as_u64().unwrap() > 100, "{summary}");
    for skipped in report["results"]["skipped_checks"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let reason = skipped["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or("");
        assert!(
            reason.len() > 20,
            "suppression of {} without a real reason: {reason:?}",
            skipped["check_id"]
        );
    }
}

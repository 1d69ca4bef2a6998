//! The fleet arithmetic, on the real ASL: a Standard execution fails at 25,000 history events
//! (Step Functions "Quotas for Standard Workflows"), and an INLINE Map adds every iteration's
//! events to the parent, while a DISTRIBUTED Map runs each iteration as a child execution with a
//! history of its own. The per-source flow must run as a child, so the parent's history does not
//! grow with the number of sources; each child's worst case (the longest wait loop Terraform
//! allows, every call retried to the end) must stay under the quota too.
//!
//! Event costs per state visit (Step Functions history event types): a Task is entered, scheduled,
//! started, succeeded or failed, exited (5), and each retry adds scheduled, started, failed (3);
//! Wait, Choice, Pass, Succeed and Fail are entered and exited (2); a Distributed Map is entered,
//! starts a Map Run, ends it, exits (4); an Inline Map adds, per iteration, started and ended (2)
//! plus the iteration's own states. An execution starts and ends (2).

use serde_json::Value;

use drill_tests::infra::{render_asl, repo, sample_template_vars};

const HISTORY_QUOTA: u64 = 25_000;

/// The states of the wait loop: visited once per status poll.
const LOOP: [&str; 4] = [
    "WaitForTemp",
    "CheckTemp",
    "TempReady",
    "EnableManagedSecret",
];

fn asl(wait_seconds: u64, budget_seconds: u64) -> Value {
    let mut vars = sample_template_vars();
    vars.insert("wait_seconds", wait_seconds.to_string());
    vars.insert("restore_budget_seconds", budget_seconds.to_string());
    serde_json::from_str(&render_asl(&vars)).unwrap()
}

/// `local.max_status_polls` of infra/statemachine.tf (its precondition bounds the budget).
fn max_status_polls() -> u64 {
    let tf = std::fs::read_to_string(repo().join("infra/statemachine.tf")).unwrap();
    let line = tf
        .lines()
        .find(|l| l.trim_start().starts_with("max_status_polls"))
        .expect("infra/statemachine.tf sets local.max_status_polls");
    line.split('=').nth(1).unwrap().trim().parse().unwrap()
}

fn retries(state: &Value) -> u64 {
    state["Retry"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| r["MaxAttempts"].as_u64().unwrap_or(3))
                .sum()
        })
        .unwrap_or(0)
}

fn is_distributed(map: &Value) -> bool {
    map["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
}

/// Worst-case events one visit of `state` adds to the history it runs in, for `items` iterations
/// if it is a Map (its iterations' own worst case each).
fn visit(state: &Value, items: u64, polls: u64) -> u64 {
    match state["Type"].as_str().unwrap() {
        "Task" => 5 + 3 * retries(state),
        "Map" if is_distributed(state) => 4,
        "Map" => 4 + items * (2 + flow(&state["ItemProcessor"]["States"], 1, polls)),
        _ => 2,
    }
}

/// Upper bound of the events of one run of a flow: every state once (more than any one path
/// takes), the loop states once per poll.
fn flow(states: &Value, items: u64, polls: u64) -> u64 {
    states
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, s)| {
            let times = if LOOP.contains(&name.as_str()) {
                polls
            } else {
                1
            };
            times * visit(s, items, polls)
        })
        .sum()
}

/// Polls the wait loop can make: it goes on while elapsed < budget, one wait apart, plus the
/// poll that sees the budget spent.
fn polls(def: &Value, wait_seconds: u64) -> u64 {
    let choice = &def["States"]["Sources"]["ItemProcessor"]["States"]["TempReady"];
    let budgets: Vec<u64> = choice["Choices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["Next"] == "WaitForTemp" || c["Next"] == "EnableManagedSecret")
        .map(|c| {
            // Every way back into the loop is bounded by the elapsed time.
            c["And"]
                .as_array()
                .and_then(|a| a.iter().find_map(|x| x["NumericLessThan"].as_u64()))
                .unwrap_or_else(|| panic!("loop branch without a time bound: {c}"))
        })
        .collect();
    assert_eq!(budgets.len(), 2, "{choice:#}");
    budgets.iter().max().unwrap().div_ceil(wait_seconds) + 1
}

fn parent_events(def: &Value, sources: u64, polls: u64) -> u64 {
    2 + flow(&def["States"], sources, polls)
}

fn child_events(def: &Value, polls: u64) -> u64 {
    2 + flow(
        &def["States"]["Sources"]["ItemProcessor"]["States"],
        1,
        polls,
    )
}

#[test]
fn the_per_source_flow_runs_as_a_child_execution_and_the_parent_stays_under_the_quota() {
    let (wait, budget) = (60, 7200); // the Terraform defaults
    let def = asl(wait, budget);
    let sources = &def["States"]["Sources"];
    assert_eq!(sources["Type"], "Map");
    let config = &sources["ItemProcessor"]["ProcessorConfig"];
    assert_eq!(config["Mode"], "DISTRIBUTED", "{config}");
    assert_eq!(config["ExecutionType"], "STANDARD", "{config}");
    // Items come from the plan's output, not from S3.
    assert_eq!(sources["ItemsPath"], "$.sources");
    assert!(sources.get("ItemReader").is_none());

    let polls = polls(&def, wait);
    assert_eq!(polls, 121);
    let parent = parent_events(&def, 100, polls);
    assert!(parent < HISTORY_QUOTA, "parent: {parent} events");
    // It does not grow with the sources at all.
    assert_eq!(parent, parent_events(&def, 10_000, polls));
    // What INLINE would have cost: the reason for the change.
    let mut inline = def.clone();
    inline["States"]["Sources"]["ItemProcessor"]["ProcessorConfig"] =
        serde_json::json!({"Mode": "INLINE"});
    let before = parent_events(&inline, 100, polls);
    assert!(before > HISTORY_QUOTA, "inline: {before} events");
    println!("parent for 100 sources: {parent} events (inline: {before}); polls {polls}");
}

#[test]
fn each_sources_child_stays_under_the_quota_at_the_longest_wait_loop_terraform_allows() {
    // The precondition of infra/statemachine.tf: ceil(budget / wait) <= max_status_polls.
    let max = max_status_polls();
    let def = asl(1, max);
    let polls = polls(&def, 1);
    assert_eq!(polls, max + 1);
    let child = child_events(&def, polls);
    assert!(
        child < HISTORY_QUOTA,
        "child: {child} events at {polls} polls"
    );
    // The unit Maps inside the child are distributed too: their units add nothing to it.
    let inner = &def["States"]["Sources"]["ItemProcessor"]["States"];
    for map in ["ValidateUnits", "ExportUnits"] {
        assert!(is_distributed(&inner[map]), "{map}");
    }
    // And the bound is tight enough to matter: twice the polls would not fit.
    assert!(child_events(&def, 2 * polls) > HISTORY_QUOTA);
    println!("child at {polls} polls: {child} events");
}

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use drill_core::operate::{self, EventKind, HistoryEvent, StepOutcome};
use serde_json::json;

use super::Follow;
use crate::sfn::{ExecutionInfo, Executions, SfnError};

const PARENT: &str = "arn:aws:states:r:1:execution:drill:n1";
const RUN: &str = "arn:aws:states:r:1:mapRun:drill/Sources:u1";

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_558_000 + s, 0).unwrap()
}

fn ev(s: i64, kind: EventKind) -> HistoryEvent {
    HistoryEvent {
        timestamp: at(s),
        kind,
    }
}

fn entered(s: i64, state: &str, src: &str) -> HistoryEvent {
    ev(
        s,
        EventKind::Entered {
            state: state.into(),
            input: json!({"drill": {"source_id": src}}).to_string(),
        },
    )
}

fn exited(s: i64, state: &str, src: &str) -> HistoryEvent {
    ev(
        s,
        EventKind::Exited {
            state: state.into(),
            output: json!({"source_id": src, "passed": true}).to_string(),
        },
    )
}

/// A parent whose per-source steps are only in its two children: `a` has ended, `b` runs.
struct Fleet {
    reads: Mutex<Vec<String>>,
}

fn child(name: &str) -> String {
    format!("arn:aws:states:r:1:execution:drill/Sources:{name}")
}

impl Executions for Fleet {
    async fn start(&self, _: &str, _: &str, _: &str) -> Result<String, SfnError> {
        unreachable!()
    }
    async fn describe(&self, _: &str) -> Result<ExecutionInfo, SfnError> {
        unreachable!()
    }
    async fn latest(&self, _: &str) -> Result<Option<ExecutionInfo>, SfnError> {
        unreachable!()
    }
    async fn history(&self, execution: &str) -> Result<Vec<HistoryEvent>, SfnError> {
        self.reads.lock().unwrap().push(execution.to_owned());
        Ok(if execution == PARENT {
            vec![
                ev(
                    0,
                    EventKind::Exited {
                        state: "Plan".into(),
                        output: json!({"sources": [{"id": "a"}, {"id": "b"}]}).to_string(),
                    },
                ),
                ev(
                    1,
                    EventKind::Entered {
                        state: "Sources".into(),
                        input: json!({"sources": [{"id": "a"}, {"id": "b"}]}).to_string(),
                    },
                ),
            ]
        } else if execution == child("a") {
            vec![
                ev(1, EventKind::Other),
                entered(2, "Restore", "a"),
                entered(5, "Validate", "a"),
                entered(7, "ReportSuccess", "a"),
                exited(8, "ReportSuccess", "a"),
                ev(8, EventKind::ExecutionSucceeded),
            ]
        } else if execution == child("b") {
            vec![entered(3, "Restore", "b"), entered(4, "WaitForTemp", "b")]
        } else {
            return Err(SfnError::NotFound(format!("no execution {execution}")));
        })
    }
    async fn map_runs(&self, execution: &str) -> Result<Vec<String>, SfnError> {
        assert_eq!(execution, PARENT, "map runs are listed of the parent");
        Ok(vec![RUN.into()])
    }
    async fn map_run_executions(&self, map_run: &str) -> Result<Vec<ExecutionInfo>, SfnError> {
        assert_eq!(map_run, RUN);
        Ok([("a", "SUCCEEDED"), ("b", "RUNNING")]
            .iter()
            .map(|(n, status)| ExecutionInfo {
                arn: child(n),
                name: n.to_string(),
                status: status.to_string(),
                started_at: at(1),
                error: None,
                cause: None,
            })
            .collect())
    }
}

#[tokio::test]
async fn each_sources_steps_come_from_its_child_and_the_parent_alone_has_none() {
    let sfn = Fleet {
        reads: Mutex::new(Vec::new()),
    };
    let parent_only = sfn.history(PARENT).await.unwrap();
    assert!(operate::progress(&parent_only).is_empty());

    let events = Follow::default().history(&sfn, PARENT).await.unwrap();
    let lines: Vec<(String, String)> = operate::progress(&events)
        .into_iter()
        .map(|l| {
            assert_eq!(l.outcome, StepOutcome::Ok);
            (l.source, l.step)
        })
        .collect();
    let want = [
        ("b", "restore"),
        ("a", "restore"),
        ("a", "validate"),
        ("a", "report"),
    ]
    .map(|(s, t)| (s.to_string(), t.to_string()));
    assert_eq!(lines, want);
    // Merged by time, and the plan is still the parent's.
    assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    assert_eq!(
        operate::planned_sources(&events).unwrap(),
        vec!["a".to_string(), "b".to_string()]
    );
    // A child's end is not the execution's end.
    assert_eq!(operate::execution_end(&events), None);
    assert!(!events.iter().any(|e| e.kind == EventKind::Other));
}

#[tokio::test]
async fn an_ended_childs_history_is_read_once_a_running_ones_every_poll() {
    let sfn = Fleet {
        reads: Mutex::new(Vec::new()),
    };
    let mut follow = Follow::default();
    let first = follow.history(&sfn, PARENT).await.unwrap();
    let second = follow.history(&sfn, PARENT).await.unwrap();
    assert_eq!(first, second, "the kept history is the one read");
    let reads = sfn.reads.lock().unwrap();
    let count = |arn: &str| reads.iter().filter(|r| *r == arn).count();
    assert_eq!(count(PARENT), 2);
    assert_eq!(count(&child("a")), 1, "{reads:?}");
    assert_eq!(count(&child("b")), 2, "{reads:?}");
}

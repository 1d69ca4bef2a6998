//! `drill aws run`: start an execution and, with `--wait`, follow it to its end.

use std::time::Duration;

use drill_core::operate::StackRef;
use drill_core::operate::{self, EventKind};
use drill_core::ExitCode;
use drill_engine::sfn::Executions;
use drill_engine::sfn_follow::Follow;
use drill_engine::store::Store;
use serde_json::json;

use super::status::{status, statuses};
use super::{kind_of, RunArgs};
use crate::output::{CliError, CliResult, Globals};
use crate::summary;

pub(super) async fn start<E: Executions>(
    sfn: &E,
    reports: &Store,
    stack: &StackRef,
    a: RunArgs,
    globals: &Globals,
) -> CliResult {
    for id in &a.sources {
        operate::check_source_id(id).map_err(|e| CliError::usage(format!("--sources: {e}")))?;
    }
    // The input form the deployment defines: source ids only ({} = every configured source).
    let input = if a.sources.is_empty() {
        json!({})
    } else {
        json!({ "sources": a.sources })
    };
    let name = a
        .name
        .unwrap_or_else(|| format!("manual-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let arn = sfn
        .start(&stack.state_machine_arn, &name, &input.to_string())
        .await?;
    if !globals.json {
        println!("started execution {name}\n  {arn}");
    }
    let poll = Duration::from_millis(a.poll_ms.max(50));
    // Wait for the plan, even without --wait: an unknown source id fails it at once.
    let planned = loop {
        let events = sfn.history(&arn).await?;
        if let Some(p) = operate::planned_sources(&events) {
            break p;
        }
        if operate::execution_end(&events).is_some() {
            // Ended before planning: the input was refused (the description has the error).
            let info = sfn.describe(&arn).await?;
            let (error, cause) = match operate::execution_end(&events) {
                Some(EventKind::ExecutionFailed { error, cause }) if !error.is_empty() => {
                    (error, cause)
                }
                _ => (
                    info.error.unwrap_or_default(),
                    info.cause.unwrap_or_default(),
                ),
            };
            if info.status == "SUCCEEDED" {
                break Vec::new();
            }
            return Err(CliError::new(
                kind_of(&error),
                format!(
                    "execution {name} ended {} before any source ran: {error}: {}",
                    info.status,
                    operate::readable_cause(&cause)
                ),
            )
            .with_hint(
                "Name only source ids configured in the deployment (drill.json of the stack).",
            ));
        }
        tokio::time::sleep(poll).await;
    };
    if !globals.json {
        println!("sources: {}", planned.join(", "));
    }
    if !a.wait {
        if globals.json {
            globals.print_json(&json!({"execution": name, "arn": arn, "sources": planned}));
        } else {
            println!("follow it with: drill aws status {name}");
        }
        return Ok(ExitCode::Ok);
    }
    let width = planned.iter().map(String::len).max().unwrap_or(6);
    // Lines already printed: a child listed late can add lines before them (the merged history
    // grows in the middle too), so each line is printed once, whenever it first appears.
    let mut printed: Vec<operate::ProgressLine> = Vec::new();
    let mut follow = Follow::default();
    loop {
        let events = follow.history(sfn, &arn).await?;
        for l in operate::progress(&events) {
            if !printed.contains(&l) {
                if !globals.json {
                    println!("{}", l.render(width));
                }
                printed.push(l);
            }
        }
        if operate::execution_end(&events).is_some() {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    if globals.json {
        return status(sfn, reports, stack, Some(arn), globals).await;
    }
    // The closing summary is `drill run`'s, one per source of the execution.
    let ex = statuses(sfn, reports, &arn).await?;
    let records = crate::aws_html::records_with_steps(reports, &ex.reports, &ex.lines).await;
    let style = summary::Style::for_stdout(false);
    for r in &records {
        print!("{}", summary::render(r, style));
    }
    for s in &ex.sources {
        if !records.iter().any(|r| r.source_id == s.source) {
            println!(
                "{}: {} (no run report){}",
                s.source,
                s.result,
                s.failed_step
                    .as_ref()
                    .map(|st| format!(", failed at {st}: {}", s.error.as_deref().unwrap_or("")))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ex.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use drill_core::operate::HistoryEvent;
    use drill_engine::sfn::{ExecutionInfo, SfnError};
    use std::sync::Mutex;

    /// A service whose history is scripted: each `history` call reveals one more event batch.
    struct Scripted {
        batches: Vec<Vec<HistoryEvent>>,
        calls: Mutex<usize>,
        started: Mutex<Vec<String>>,
        deny: bool,
    }

    fn at(s: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_764_558_000 + s, 0).unwrap()
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

    impl Executions for Scripted {
        async fn start(&self, _: &str, name: &str, input: &str) -> Result<String, SfnError> {
            if self.deny {
                return Err(SfnError::AccessDenied(
                    "StartExecution: AccessDeniedException: not authorized".into(),
                ));
            }
            self.started.lock().unwrap().push(input.to_owned());
            Ok(format!("arn:aws:states:r:1:execution:sm:{name}"))
        }
        async fn describe(&self, execution: &str) -> Result<ExecutionInfo, SfnError> {
            let done = *self.calls.lock().unwrap() >= self.batches.len();
            Ok(ExecutionInfo {
                arn: execution.into(),
                name: execution.rsplit(':').next().unwrap().into(),
                status: if done { "FAILED" } else { "RUNNING" }.into(),
                started_at: at(0),
                error: Some("Drill.Failed".into()),
                cause: None,
            })
        }
        async fn latest(&self, _: &str) -> Result<Option<ExecutionInfo>, SfnError> {
            Ok(None)
        }
        async fn history(&self, _: &str) -> Result<Vec<HistoryEvent>, SfnError> {
            let mut c = self.calls.lock().unwrap();
            *c = (*c + 1).min(self.batches.len());
            Ok(self.batches[..*c].concat())
        }
        // The scripted history is the whole story: no Map Run children.
        async fn map_runs(&self, _: &str) -> Result<Vec<String>, SfnError> {
            Ok(Vec::new())
        }
        async fn map_run_executions(&self, _: &str) -> Result<Vec<ExecutionInfo>, SfnError> {
            Ok(Vec::new())
        }
    }

    fn stack() -> StackRef {
        StackRef {
            state_machine_arn: "arn:aws:states:r:1:stateMachine:sm".into(),
            reports_url: "file:///nonexistent-drill-reports".into(),
        }
    }

    fn scripted(batches: Vec<Vec<HistoryEvent>>, deny: bool) -> Scripted {
        Scripted {
            batches,
            calls: Mutex::new(0),
            started: Mutex::new(Vec::new()),
            deny,
        }
    }

    fn args(sources: &[&str], wait: bool) -> RunArgs {
        RunArgs {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            wait,
            name: Some("n1".into()),
            poll_ms: 1,
        }
    }

    #[tokio::test]
    async fn a_followed_run_without_report_exits_by_the_failure_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let reports = Store::open(&format!("file://{}", tmp.path().display()), None).unwrap();
        let fail = json!({"drill": {"source_id": "a"}, "failure": {"step": "restore", "Error": "Drill.BackupInvalid", "Cause": "no backup"}});
        let sfn = scripted(
            vec![
                vec![ev(
                    0,
                    EventKind::Exited {
                        state: "Plan".into(),
                        output: json!({"sources": [{"id": "a"}]}).to_string(),
                    },
                )],
                vec![entered(1, "Restore", "a")],
                vec![ev(
                    3,
                    EventKind::Exited {
                        state: "RestoreFailed".into(),
                        output: fail.to_string(),
                    },
                )],
                vec![ev(
                    4,
                    EventKind::ExecutionFailed {
                        error: "Drill.Failed".into(),
                        cause: "x".into(),
                    },
                )],
            ],
            false,
        );
        let code = start(
            &sfn,
            &reports,
            &stack(),
            args(&["a"], true),
            &Globals::new(true, 0),
        )
        .await
        .unwrap();
        assert_eq!(code, ExitCode::BackupInvalid);
        assert_eq!(sfn.started.lock().unwrap()[0], r#"{"sources":["a"]}"#);
    }

    #[tokio::test]
    async fn a_refused_plan_is_a_usage_error_even_without_wait() {
        let sfn = scripted(
            vec![vec![ev(
                0,
                EventKind::ExecutionFailed {
                    error: "Drill.InvalidInput".into(),
                    cause: "unknown source id \"nope\"".into(),
                },
            )]],
            false,
        );
        let reports = Store::open("file:///nonexistent-drill-reports", None).unwrap();
        let err = start(
            &sfn,
            &reports,
            &stack(),
            args(&["nope"], false),
            &Globals::new(true, 0),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind.exit_code(), ExitCode::Usage);
        assert!(err.message.contains("unknown source id"), "{}", err.message);
    }

    #[tokio::test]
    async fn denied_permission_and_bad_ids_are_clear_errors() {
        let sfn = scripted(vec![vec![]], true);
        let reports = Store::open("file:///nonexistent-drill-reports", None).unwrap();
        let err = start(
            &sfn,
            &reports,
            &stack(),
            args(&[], false),
            &Globals::new(true, 0),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind.exit_code(), ExitCode::CouldNotRun);
        assert!(err.message.contains("permission denied"), "{}", err.message);
        let err = start(
            &sfn,
            &reports,
            &stack(),
            args(&["a/../b"], false),
            &Globals::new(true, 0),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind.exit_code(), ExitCode::Usage);
        assert!(sfn.started.lock().unwrap().is_empty(), "nothing started");
    }
}

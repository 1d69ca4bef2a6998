//! Step Functions calls of `drill aws`: start, describe, list and read the history of
//! executions of the drill's state machine. Behind [`Executions`] so the CLI logic is testable
//! without a service.

use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::types::HistoryEventType;
use chrono::{DateTime, Utc};
use drill_core::operate::{EventKind, HistoryEvent};
use drill_core::{Classified, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum SfnError {
    #[error("{0}")]
    NotFound(String),
    #[error("permission denied: {0}")]
    AccessDenied(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Other(String),
}

impl Classified for SfnError {
    fn kind(&self) -> ErrorKind {
        match self {
            SfnError::NotFound(_) | SfnError::InvalidInput(_) => ErrorKind::InvalidInput,
            SfnError::AccessDenied(_) | SfnError::Other(_) => ErrorKind::CouldNotRun,
        }
    }
}

/// What `drill aws` needs of one execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionInfo {
    pub arn: String,
    pub name: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, ...
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// Executions of one state machine.
#[allow(async_fn_in_trait)]
pub trait Executions {
    async fn start(&self, state_machine: &str, name: &str, input: &str)
        -> Result<String, SfnError>;
    async fn describe(&self, execution: &str) -> Result<ExecutionInfo, SfnError>;
    /// The most recently started execution, if any.
    async fn latest(&self, state_machine: &str) -> Result<Option<ExecutionInfo>, SfnError>;
    /// The whole history, oldest event first.
    async fn history(&self, execution: &str) -> Result<Vec<HistoryEvent>, SfnError>;
    /// The Map Runs a (Distributed) Map state of `execution` started: ListMapRuns, every page.
    async fn map_runs(&self, execution: &str) -> Result<Vec<String>, SfnError>;
    /// The child executions of one Map Run: ListExecutions by `mapRunArn` (never together with
    /// `stateMachineArn`: AWS takes one or the other), every page. No error or cause in them.
    async fn map_run_executions(&self, map_run: &str) -> Result<Vec<ExecutionInfo>, SfnError>;
}

/// The ARN of execution `name` of `state_machine`
/// (`arn:aws:states:R:A:stateMachine:M` → `arn:aws:states:R:A:execution:M:name`).
pub fn execution_arn(state_machine: &str, name: &str) -> Option<String> {
    let (head, machine) = state_machine.split_once(":stateMachine:")?;
    Some(format!("{head}:execution:{machine}:{name}"))
}

fn map_err<E, R>(what: &str, e: aws_sdk_sfn::error::SdkError<E, R>) -> SfnError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or("").to_owned();
    let message = e.message().unwrap_or("").to_owned();
    let detail = if message.is_empty() {
        format!("{code} {}", aws_sdk_sfn::error::DisplayErrorContext(&e))
    } else {
        format!("{code}: {message}")
    };
    match code.as_str() {
        "StateMachineDoesNotExist" | "ExecutionDoesNotExist" | "ResourceNotFound" => {
            SfnError::NotFound(format!("{what}: {detail}"))
        }
        "AccessDeniedException" | "AccessDenied" | "UnrecognizedClientException" => {
            SfnError::AccessDenied(format!("{what}: {detail}"))
        }
        "InvalidArn"
        | "InvalidExecutionInput"
        | "InvalidName"
        | "ExecutionAlreadyExists"
        | "ValidationException" => SfnError::InvalidInput(format!("{what}: {detail}")),
        _ => SfnError::Other(format!("{what}: {detail}")),
    }
}

fn time(t: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

/// The real service.
pub struct SfnExecutions {
    pub client: aws_sdk_sfn::Client,
}

impl Executions for SfnExecutions {
    async fn start(
        &self,
        state_machine: &str,
        name: &str,
        input: &str,
    ) -> Result<String, SfnError> {
        let out = self
            .client
            .start_execution()
            .state_machine_arn(state_machine)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|e| map_err(&format!("StartExecution of {state_machine}"), e))?;
        Ok(out.execution_arn().to_owned())
    }

    async fn describe(&self, execution: &str) -> Result<ExecutionInfo, SfnError> {
        let d = self
            .client
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .map_err(|e| map_err(&format!("DescribeExecution of {execution}"), e))?;
        Ok(ExecutionInfo {
            arn: d.execution_arn().to_owned(),
            name: d.name().unwrap_or_default().to_owned(),
            status: d.status().as_str().to_owned(),
            started_at: time(d.start_date()),
            error: d.error().map(str::to_owned),
            cause: d.cause().map(str::to_owned),
        })
    }

    async fn latest(&self, state_machine: &str) -> Result<Option<ExecutionInfo>, SfnError> {
        // ListExecutions returns the most recent first; its items carry no error, so the
        // newest one is described.
        let out = self
            .client
            .list_executions()
            .state_machine_arn(state_machine)
            .max_results(20)
            .send()
            .await
            .map_err(|e| map_err(&format!("ListExecutions of {state_machine}"), e))?;
        let newest = out
            .executions()
            .iter()
            .max_by_key(|e| time(e.start_date()))
            .map(|e| e.execution_arn().to_owned());
        match newest {
            Some(arn) => Ok(Some(self.describe(&arn).await?)),
            None => Ok(None),
        }
    }

    async fn history(&self, execution: &str) -> Result<Vec<HistoryEvent>, SfnError> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .get_execution_history()
                .execution_arn(execution)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| map_err(&format!("GetExecutionHistory of {execution}"), e))?;
            for e in out.events() {
                events.push(HistoryEvent {
                    timestamp: time(e.timestamp()),
                    kind: event_kind(e),
                });
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(events)
    }

    async fn map_runs(&self, execution: &str) -> Result<Vec<String>, SfnError> {
        self.map_runs_paged(execution).await
    }

    async fn map_run_executions(&self, map_run: &str) -> Result<Vec<ExecutionInfo>, SfnError> {
        self.map_run_executions_paged(map_run, PAGE).await
    }
}

/// ListMapRuns and ListExecutions take at most 1,000 results a page (the default is 100).
const PAGE: i32 = 1000;

impl SfnExecutions {
    /// Every Map Run `execution` started (ListMapRuns, all pages of up to 1,000; the SDK's
    /// paginator follows `nextToken`).
    pub async fn map_runs_paged(&self, execution: &str) -> Result<Vec<String>, SfnError> {
        let runs = self
            .client
            .list_map_runs()
            .execution_arn(execution)
            .into_paginator()
            .page_size(PAGE)
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_err(&format!("ListMapRuns of {execution}"), e))?;
        Ok(runs.iter().map(|r| r.map_run_arn().to_owned()).collect())
    }

    /// Every child execution of `map_run` (ListExecutions by `mapRunArn` alone: AWS refuses it
    /// together with `stateMachineArn`), `page` per call; tests pass a small page to exercise
    /// the paging.
    pub async fn map_run_executions_paged(
        &self,
        map_run: &str,
        page: i32,
    ) -> Result<Vec<ExecutionInfo>, SfnError> {
        let children = self
            .client
            .list_executions()
            .map_run_arn(map_run)
            .into_paginator()
            .page_size(page)
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_err(&format!("ListExecutions of map run {map_run}"), e))?;
        Ok(children
            .iter()
            .map(|e| ExecutionInfo {
                arn: e.execution_arn().to_owned(),
                name: e.name().to_owned(),
                status: e.status().as_str().to_owned(),
                started_at: time(e.start_date()),
                error: None,
                cause: None,
            })
            .collect())
    }
}

fn event_kind(e: &aws_sdk_sfn::types::HistoryEvent) -> EventKind {
    use HistoryEventType as T;
    let t = e.r#type();
    if let Some(d) = e.state_entered_event_details() {
        return EventKind::Entered {
            state: d.name().to_owned(),
            input: d.input().unwrap_or("{}").to_owned(),
        };
    }
    if let Some(d) = e.state_exited_event_details() {
        return EventKind::Exited {
            state: d.name().to_owned(),
            output: d.output().unwrap_or("{}").to_owned(),
        };
    }
    match t {
        T::ExecutionSucceeded => EventKind::ExecutionSucceeded,
        T::ExecutionFailed => {
            let d = e.execution_failed_event_details();
            EventKind::ExecutionFailed {
                error: d.and_then(|d| d.error()).unwrap_or("").to_owned(),
                cause: d.and_then(|d| d.cause()).unwrap_or("").to_owned(),
            }
        }
        T::ExecutionAborted => EventKind::ExecutionEnded {
            how: "aborted".into(),
        },
        T::ExecutionTimedOut => EventKind::ExecutionEnded {
            how: "timed out".into(),
        },
        _ => EventKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_are_derived_from_the_state_machine() {
        assert_eq!(
            execution_arn("arn:aws:states:eu-west-1:123:stateMachine:drill", "n1").as_deref(),
            Some("arn:aws:states:eu-west-1:123:execution:drill:n1")
        );
        assert_eq!(execution_arn("drill", "n1"), None);
    }
}

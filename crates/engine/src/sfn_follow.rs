//! The history `drill aws run|status` derive progress from: the execution's own events and those
//! of the child executions its Distributed Map (`Sources`) started. Each source's flow runs as a
//! child execution with a history of its own, so the parent's history holds only the plan and
//! the Map state; the steps of each source are in its child's (ListMapRuns → ListExecutions by
//! map run → GetExecutionHistory).

use std::collections::HashMap;

use drill_core::operate::{EventKind, HistoryEvent};

use crate::sfn::{Executions, SfnError};

/// Follows one execution across polls. A child that had ended when it was listed has its whole
/// history read once and kept: a fleet of 100 sources is not re-read every poll.
#[derive(Default)]
pub struct Follow {
    ended: HashMap<String, Vec<HistoryEvent>>,
}

impl Follow {
    /// The parent's events and each child's state events, merged by time (stable: one child's
    /// events keep their order). A child's own start and end are left out: only the parent's
    /// end is the execution's end.
    pub async fn history<E: Executions>(
        &mut self,
        sfn: &E,
        execution: &str,
    ) -> Result<Vec<HistoryEvent>, SfnError> {
        let mut events = sfn.history(execution).await?;
        for run in sfn.map_runs(execution).await? {
            for child in sfn.map_run_executions(&run).await? {
                if let Some(kept) = self.ended.get(&child.arn) {
                    events.extend(kept.iter().cloned());
                    continue;
                }
                let states: Vec<HistoryEvent> = sfn
                    .history(&child.arn)
                    .await?
                    .into_iter()
                    .filter(|e| {
                        matches!(e.kind, EventKind::Entered { .. } | EventKind::Exited { .. })
                    })
                    .collect();
                events.extend(states.iter().cloned());
                // Listed as ended before its history was read: that history is complete.
                if child.status != "RUNNING" {
                    self.ended.insert(child.arn, states);
                }
            }
        }
        events.sort_by_key(|e| e.timestamp);
        Ok(events)
    }
}

#[cfg(test)]
#[path = "sfn_follow_tests.rs"]
mod tests;

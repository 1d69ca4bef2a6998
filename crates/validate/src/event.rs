//! The validate function's contract: one event, tagged by `action`. The state machine's validate
//! step sends no `action` (the function's original contract), so none means `validate`.

use drill_core::events::{ValidateRequest, ValidateUnitRequest};
use drill_core::run_report::{ReportRequest, SummaryRequest};
use drill_engine::lambda::{parse_event, HandlerError};
use serde::Deserialize;
use serde_json::Value;

/// One invocation of the validate function.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ValidateEvent {
    /// Validate a restored temp and write its drill report (the default action).
    Validate(ValidateRequest),
    /// Write the final report of one source's drill.
    Report(ReportRequest),
    /// Sum up the fleet and alert when any source failed.
    Summary(SummaryRequest),
    /// Size the heavy checks in work units and write the list the Distributed Map reads.
    PlanValidation(ValidateUnitRequest),
    /// Run the heavy checks of one unit and write its facts.
    ValidateUnit(ValidateUnitRequest),
}

impl ValidateEvent {
    /// Parses `payload`; anything but the contract is `Drill.InvalidInput`.
    pub fn parse(mut payload: Value) -> Result<Self, HandlerError> {
        if let Some(event) = payload.as_object_mut() {
            event
                .entry("action")
                .or_insert_with(|| Value::from("validate"));
        }
        parse_event(payload)
    }
}

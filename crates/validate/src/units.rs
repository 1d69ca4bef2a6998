//! The work-unit actions of the validate function (`plan_validation`, `validate_unit`), run by
//! the state machine's Distributed Map "ValidateUnits" for the heavy checks. The target is
//! checked against the deployment like `validate`'s; every location is derived from the
//! deployment (the source's history store) and the drill id, never from the event.

use drill_core::checks::deadline::Deadline;
use drill_core::checks::CheckConfig;
use drill_core::events::{ConnectionSpec, DrillContext, ValidateUnitRequest};
use drill_core::units::PlannerSettings;
use drill_engine::lambda::HandlerError;
use serde_json::Value;

use crate::{history_url, Config, ValidateAws};

/// Which unit action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Plan,
    Unit,
}

/// A unit action after the checks against the deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitWork {
    pub step: Step,
    pub drill: DrillContext,
    /// The temp, as the deployment gives it to this drill.
    pub target: ConnectionSpec,
    /// This source's history store.
    pub history: String,
    /// `Some` for `validate_unit`.
    pub unit: Option<u32>,
    pub deadline: Option<Deadline>,
    pub planner: PlannerSettings,
    pub chunk_bytes: u64,
}

pub(crate) async fn unit_action(
    aws: &impl ValidateAws,
    config: &Config,
    request: ValidateUnitRequest,
    step: Step,
    deadline: Option<Deadline>,
) -> Result<Value, HandlerError> {
    let deployment = aws.deployment().await?;
    let source = deployment.source(&request.drill.source_id)?;
    let target = deployment.check_connection(&request.drill, &request.target)?;
    let checks = match &source.checks {
        Some(text) => CheckConfig::from_toml(text)?,
        None => CheckConfig::default(),
    };
    let unit = match (step, request.unit) {
        (Step::Unit, None) => {
            return Err(HandlerError::invalid_input("validate_unit needs a unit"));
        }
        (Step::Plan, Some(_)) => {
            return Err(HandlerError::invalid_input("plan_validation takes no unit"));
        }
        (_, unit) => unit,
    };
    let work = UnitWork {
        step,
        history: history_url(config, &request.drill.source_id)?,
        drill: request.drill,
        target,
        unit,
        deadline,
        planner: config.planner,
        chunk_bytes: config.chunk_mb * 1024 * 1024,
    };
    aws.units(&work, checks).await
}

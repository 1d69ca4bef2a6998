//! The AWS (and PostgreSQL) calls the validate handler makes, behind one small trait so the
//! dispatch is unit-tested with a fake; [`ValidateAws`] for [`Deps`] is the SDK-backed one.

use bytes::Bytes;
use drill_core::checks::CheckConfig;
use drill_core::deployment::DeploymentConfig;
use drill_core::events::PlannedValidation;
use drill_engine::lambda::{database, to_output, HandlerError};
use drill_engine::store::Store;
use drill_engine::validate::{
    load_fingerprint, load_units, plan_validation, validate_unit, validate_with, ValidateInput,
};
use serde_json::Value;

use crate::units::{Step, UnitWork};
use crate::{Deps, HistoryRequest};

/// The calls the validate handler needs.
// Only used with concrete types (the SDK deps, the test fake): no `Send` bound needed.
#[allow(async_fn_in_trait)]
pub trait ValidateAws {
    /// The deployment configuration, as deployed now.
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError>;
    /// Runs `checks` against the temp of `request` and stores its report; a failed check is
    /// `Drill.BackupInvalid`, a check that could not finish `Drill.CouldNotRun`.
    async fn validate(
        &self,
        request: &HistoryRequest,
        checks: CheckConfig,
    ) -> Result<Value, HandlerError>;
    /// Runs a work-unit action (plan or one unit) of the heavy checks.
    async fn units(&self, work: &UnitWork, checks: CheckConfig) -> Result<Value, HandlerError>;
    /// Writes `body` at `key` under the store `root`; answers with the object's URL.
    async fn put_report(
        &self,
        root: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<String, HandlerError>;
    /// Sends the failure alert to the SNS `topic`.
    async fn publish_alert(
        &self,
        topic: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), HandlerError>;
}

impl ValidateAws for Deps {
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError> {
        Deps::deployment(self, self.config.config_url.as_deref()).await
    }

    async fn validate(
        &self,
        request: &HistoryRequest,
        checks: CheckConfig,
    ) -> Result<Value, HandlerError> {
        let history = Store::open(&request.history, Some(&self.s3))?;
        let manifest = match &request.manifest {
            Some(url) => Some(load_fingerprint(url, Some(&self.s3)).await?),
            None => None,
        };
        let target = database(
            &request.target,
            self.config.allow_plaintext,
            self.config.pg_override.as_ref(),
            &self.aws,
        )
        .await?;
        let input = ValidateInput {
            source_id: request.drill.source_id.clone(),
            drill_id: request.drill.drill_id.clone(),
            drill_started_at: request.drill.started_at,
            backup: Some(request.backup.clone()),
            config: checks,
            manifest,
            history: Some(history),
        };
        let units = match request.units {
            true => {
                Some(load_units(input.history.as_ref().expect("set above"), &input.drill_id).await?)
            }
            false => None,
        };
        let validated = validate_with(&target, input, request.deadline, units).await?;
        let url = validated.report_url.unwrap_or_default();
        let report = &validated.report;
        tracing::info!(
            source = %report.source_id,
            drill = %report.drill_id,
            outcome = ?report.outcome,
            report = %url,
            "validation finished"
        );
        if let Some(kind) = report.outcome.error_kind() {
            return Err(HandlerError::new(
                kind,
                format!(
                    "validation of {} did not pass: {} (report: {url})",
                    report.target,
                    report.problem_line()
                ),
            ));
        }
        to_output(&report.summary(url))
    }

    async fn units(&self, work: &UnitWork, checks: CheckConfig) -> Result<Value, HandlerError> {
        let history = Store::open(&work.history, Some(&self.s3))?;
        let target = database(
            &work.target,
            self.config.allow_plaintext,
            self.config.pg_override.as_ref(),
            &self.aws,
        )
        .await?;
        let drill_id = &work.drill.drill_id;
        match (work.step, work.unit) {
            (Step::Plan, _) => {
                let (plan, items) = plan_validation(
                    &target,
                    &checks,
                    &history,
                    drill_id,
                    &work.planner,
                    work.chunk_bytes,
                    work.deadline,
                )
                .await?;
                let (bucket, key) = items
                    .strip_prefix("s3://")
                    .and_then(|r| r.split_once('/'))
                    .ok_or_else(|| {
                        HandlerError::invalid_input(format!(
                            "the history store must be in S3 for validation units, not {items}"
                        ))
                    })?;
                to_output(&PlannedValidation {
                    items: drill_core::events::S3Location {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    },
                    units: plan.units.len() as u32,
                    budget_bytes: plan.budget_bytes,
                })
            }
            (Step::Unit, unit) => {
                let unit = unit.unwrap_or_default();
                let r = validate_unit(&target, &checks, &history, drill_id, unit, work.deadline)
                    .await?;
                // Small on purpose: the Map's ResultWriter keeps it; the facts are in S3.
                to_output(&serde_json::json!({
                    "unit": r.unit,
                    "tables_read": r.read.reads.len(),
                    "out_of_time": r.read.out_of_time.len()
                        + r.integrity.as_ref().map_or(0, |i| i.out_of_time.len()),
                }))
            }
        }
    }

    async fn put_report(
        &self,
        root: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<String, HandlerError> {
        let store = Store::open(root, Some(&self.s3))?;
        store.put(key, Bytes::from(body), None).await?;
        Ok(store.url_of(key))
    }

    async fn publish_alert(
        &self,
        topic: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), HandlerError> {
        let sns = aws_sdk_sns::Client::new(&self.aws);
        sns.publish()
            .topic_arn(topic)
            .subject(subject)
            .message(body)
            .send()
            .await
            .map_err(|e| {
                HandlerError::new(
                    drill_core::ErrorKind::Transient,
                    format!(
                        "publishing the alert to {topic}: {}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    ),
                )
            })?;
        Ok(())
    }
}

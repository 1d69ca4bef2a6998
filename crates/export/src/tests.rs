//! Unit tests of the export dispatch and its error mapping, against a fake [`ExportAws`] and the
//! sample deployment configuration.

use drill_core::deployment::DeploymentConfig;
use drill_core::events::{ExportRequest, ExportUnitsRequest};
use drill_core::ErrorKind;
use drill_engine::lambda::testing::{sample_config, sample_event, Recorder};
use drill_engine::lambda::{FromVars, HandlerError};
use serde_json::{json, Value};

use crate::{dispatch, Config, ExportAws};

#[derive(Default)]
struct Fake {
    calls: Recorder,
}

impl ExportAws for Fake {
    async fn units(
        &self,
        request: ExportUnitsRequest,
        destination: &str,
        lock_days: u32,
    ) -> Result<Value, HandlerError> {
        let what = match &request {
            ExportUnitsRequest::PlanUnits { source, .. } => format!("plan {}", source.database),
            ExportUnitsRequest::ExportUnit { set, unit, .. } => format!("unit {unit} of {set}"),
            ExportUnitsRequest::Finish { set, .. } => format!("finish {set}"),
        };
        self.calls
            .call(format!("{what} -> {destination} locked {lock_days} days"))
    }

    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError> {
        Ok(sample_config())
    }

    async fn export(
        &self,
        request: &ExportRequest,
        destination: &str,
        lock_days: u32,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!(
            "export {} {} -> {destination} locked {lock_days} days, data of {:?}",
            request.source.host,
            request.source.database,
            request.data_taken_at.map(|t| t.to_rfc3339())
        ))
    }
}

#[tokio::test]
async fn the_sample_exports_to_the_configured_destination_one_day_beyond_the_lock() {
    let fake = Fake::default();
    let out = dispatch(&fake, sample_event("export", "export"))
        .await
        .unwrap();
    let call =
        "export rdrill-prod-app-202611220300-2ee78af9.abcdefghijkl.us-east-1.rds.amazonaws.com \
                app -> s3://restore-drill-backups-123456789012/backups/prod-app locked 36 days, \
                data of Some(\"2026-11-22T02:10:00+00:00\")";
    assert_eq!(fake.calls.calls(), [call]);
    assert_eq!(out, json!({ "called": call }));
}

#[tokio::test]
async fn a_connection_that_is_not_this_drills_temp_is_a_guard_violation_without_a_call() {
    let fake = Fake::default();
    let edits: [(&str, Value); 4] = [
        (
            "host",
            "prod-app.abcdefghijkl.us-east-1.rds.amazonaws.com".into(),
        ),
        ("database", "postgres".into()),
        ("tls", "disable".into()),
        ("secret", json!({"env": {"var": "PROD_PASSWORD"}})),
    ];
    for (field, value) in edits {
        let mut event = sample_event("export", "export");
        event["source"][field] = value;
        let err = dispatch(&fake, event).await.unwrap_err();
        assert_eq!(err.error_type(), "Drill.GuardViolation", "{field}: {err}");
    }
    assert!(fake.calls.calls().is_empty(), "{:?}", fake.calls.calls());
}

#[tokio::test]
async fn malformed_events_and_unknown_sources_are_invalid_input() {
    let fake = Fake::default();
    let mut destination = sample_event("export", "export");
    destination["destination"] = "s3://elsewhere/prod-app".into();
    let mut unknown = sample_event("export", "export");
    unknown["drill"]["source_id"] = "elsewhere".into();
    for event in [
        destination,
        unknown,
        json!({"action": "export"}),
        json!(null),
    ] {
        let err = dispatch(&fake, event.clone()).await.unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput", "{event}: {err}");
    }
    assert!(fake.calls.calls().is_empty());
}

#[tokio::test]
async fn aws_failures_keep_their_kind() {
    for kind in [ErrorKind::Transient, ErrorKind::CouldNotRun] {
        let fake = Fake {
            calls: Recorder::failing(kind),
        };
        let err = dispatch(&fake, sample_event("export", "export"))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), kind.error_type());
        assert_eq!(fake.calls.calls().len(), 1);
    }
}

#[test]
fn the_configuration_is_read_and_checked() {
    let config = Config::from_vars(&|k| match k {
        "DRILL_EXPORT_JOBS" => Some("4".into()),
        "DRILL_PG_DUMP" => Some("/opt/pg_dump/bin/pg_dump".into()),
        "DRILL_CONFIG_URL" => Some("s3://b/config/drill.json".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!((config.jobs, config.chunk_mb), (4, 64));
    assert_eq!(
        config.pg_dump.as_deref(),
        Some(std::path::Path::new("/opt/pg_dump/bin/pg_dump"))
    );
    assert!(!config.allow_plaintext);
    assert_eq!(
        config.config_url.as_deref(),
        Some("s3://b/config/drill.json")
    );
    let err = Config::from_vars(&|k| (k == "DRILL_EXPORT_JOBS").then(|| "0".into())).unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput");
    assert!(err.message.contains("DRILL_EXPORT_JOBS"), "{err}");
}

#[tokio::test]
async fn unit_actions_run_checked_against_the_deployment() {
    let fake = Fake::default();
    let dest = "s3://restore-drill-backups-123456789012/backups/prod-app";
    let set = format!("{dest}/prod-app/20261122T031500Z-1a2b3c4d/");
    for (event, call) in [
        ("plan_units", "plan app".to_owned()),
        ("export_unit", format!("unit 3 of {set}")),
        ("finish", format!("finish {set}")),
    ] {
        dispatch(&fake, sample_event("export", event))
            .await
            .unwrap();
        assert_eq!(
            fake.calls.calls().last().unwrap(),
            &format!("{call} -> {dest} locked 36 days"),
            "{event}"
        );
    }
    assert_eq!(fake.calls.calls().len(), 3);
}

#[tokio::test]
async fn a_unit_action_on_a_set_elsewhere_or_another_temp_is_refused_without_a_call() {
    let fake = Fake::default();
    let mut elsewhere = sample_event("export", "export_unit");
    elsewhere["set"] = "s3://restore-drill-backups-123456789012/backups/other/x/y/".into();
    let mut finish = sample_event("export", "finish");
    finish["set"] = "s3://attacker/prod-app/x/y/".into();
    let mut prod = sample_event("export", "plan_units");
    prod["source"]["host"] = "prod-app.abcdefghijkl.us-east-1.rds.amazonaws.com".into();
    for event in [elsewhere, finish, prod] {
        let err = dispatch(&fake, event.clone()).await.unwrap_err();
        assert_eq!(err.error_type(), "Drill.GuardViolation", "{event}: {err}");
    }
    let mut unknown = sample_event("export", "finish");
    unknown["action"] = "export_everything".into();
    let err = dispatch(&fake, unknown).await.unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(fake.calls.calls().is_empty(), "{:?}", fake.calls.calls());
}

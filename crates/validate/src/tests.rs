//! Unit tests of the validate dispatch and its error mapping, against a fake [`ValidateAws`] and
//! the sample deployment configuration.

use std::cell::RefCell;

use drill_core::checks::CheckConfig;
use drill_core::deployment::DeploymentConfig;
use drill_core::ErrorKind;
use drill_engine::lambda::testing::{sample_config, sample_event, sample_events, Recorder};
use drill_engine::lambda::HandlerError;
use serde_json::{json, Value};

use crate::{dispatch, Config, HistoryRequest, ValidateAws, ValidateEvent};

#[derive(Default)]
struct Fake {
    calls: Recorder,
    validated: RefCell<Option<(HistoryRequest, CheckConfig)>>,
    reports: RefCell<Vec<(String, Value)>>,
    unit_work: RefCell<Option<crate::units::UnitWork>>,
}

impl ValidateAws for Fake {
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError> {
        Ok(sample_config())
    }

    async fn validate(
        &self,
        request: &HistoryRequest,
        checks: CheckConfig,
    ) -> Result<Value, HandlerError> {
        *self.validated.borrow_mut() = Some((request.clone(), checks));
        self.calls.call(format!("validate {}", request.target.host))
    }

    async fn units(
        &self,
        work: &crate::units::UnitWork,
        _checks: CheckConfig,
    ) -> Result<Value, HandlerError> {
        *self.unit_work.borrow_mut() = Some(work.clone());
        self.calls
            .call(format!("units {:?} {:?}", work.step, work.unit))
    }

    async fn put_report(
        &self,
        root: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<String, HandlerError> {
        self.calls.call(format!("put_report {root}"))?;
        let url = format!("{root}/{key}");
        let body = serde_json::from_slice(&body).expect("the report is JSON");
        self.reports.borrow_mut().push((url.clone(), body));
        Ok(url)
    }

    async fn publish_alert(
        &self,
        topic: &str,
        subject: &str,
        _body: &str,
    ) -> Result<(), HandlerError> {
        self.calls
            .call(format!("publish_alert {topic} {subject}"))?;
        Ok(())
    }
}

fn config() -> Config {
    Config {
        reports_url: Some("s3://reports/reports".into()),
        alert_topic_arn: Some("arn:aws:sns:us-east-1:123456789012:drill-alerts".into()),
        stack: "restore-drill".into(),
        ..Config::default()
    }
}

#[test]
fn every_sample_event_parses_as_its_action() {
    let mut actions: Vec<(String, &str)> = sample_events("validate")
        .into_iter()
        .map(|(name, event)| {
            let action = match ValidateEvent::parse(event) {
                Ok(ValidateEvent::Validate(_)) => "validate",
                Ok(ValidateEvent::Report(_)) => "report",
                Ok(ValidateEvent::Summary(_)) => "summary",
                Ok(ValidateEvent::PlanValidation(_)) => "plan_validation",
                Ok(ValidateEvent::ValidateUnit(_)) => "validate_unit",
                Err(e) => panic!("{name}.json: {e}"),
            };
            (name, action)
        })
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            ("report".to_owned(), "report"),
            ("summary".to_owned(), "summary"),
            ("validate".to_owned(), "validate"),
        ]
    );
}

#[test]
fn an_event_without_action_is_validate_and_an_explicit_one_is_the_same() {
    let implicit = ValidateEvent::parse(sample_event("validate", "validate")).unwrap();
    let mut explicit = sample_event("validate", "validate");
    explicit["action"] = "validate".into();
    assert_eq!(ValidateEvent::parse(explicit).unwrap(), implicit);
}

#[tokio::test]
async fn validate_runs_the_configured_checks_against_this_drills_temp() {
    let fake = Fake::default();
    let out = dispatch(&fake, &config(), sample_event("validate", "validate"))
        .await
        .unwrap();
    let host = "rdrill-prod-app-202611220300-2ee78af9.abcdefghijkl.us-east-1.rds.amazonaws.com";
    assert_eq!(out, json!({ "called": format!("validate {host}") }));
    let (request, checks) = fake.validated.borrow().clone().unwrap();
    assert_eq!(request.history, "s3://reports/reports/prod-app");
    assert_eq!(request.manifest, None, "an RDS snapshot has no manifest");
    let configured = sample_config().source("prod-app").unwrap().checks.clone();
    assert_eq!(
        checks,
        CheckConfig::from_toml(&configured.unwrap()).unwrap()
    );
}

#[tokio::test]
async fn a_backup_set_is_validated_against_its_own_manifest_only_inside_its_store() {
    let fake = Fake::default();
    let config_ = sample_config();
    let drill = json!({"drill_id": "nightly-2026-11-22-prod-app-logical",
                       "source_id": "prod-app-logical", "started_at": "2026-11-22T03:00:00Z"});
    let ctx = serde_json::from_value(drill.clone()).unwrap();
    let source = config_.source("prod-app-logical").unwrap();
    let drill_core::events::TempResource::Database { name, server } =
        config_.expected_temp(source, &ctx).unwrap()
    else {
        panic!("a backup-set source restores into a database");
    };
    let target = json!({"host": server.host, "port": server.port, "database": name,
                        "secret": server.secret, "tls": "verify-full"});
    let store = "s3://restore-drill-backups-123456789012/backups/prod-app";
    let event = |id: &str, kind: &str| {
        json!({"drill": drill, "target": target,
               "backup": {"kind": kind, "id": id, "taken_at": "2026-11-22T02:10:00Z"}})
    };
    let set = format!("{store}/2026-11-22T021000Z");
    dispatch(&fake, &config(), event(&set, "backup-set"))
        .await
        .unwrap();
    let (request, _) = fake.validated.borrow().clone().unwrap();
    assert_eq!(request.manifest, Some(format!("{set}/manifest.json")));
    for (id, kind) in [
        (format!("{store}-evil/2026-11-22T021000Z"), "backup-set"),
        (
            "s3://elsewhere/prod-app/2026-11-22T021000Z".to_owned(),
            "backup-set",
        ),
        (set.clone(), "rds-snapshot"),
    ] {
        let err = dispatch(&fake, &config(), event(&id, kind))
            .await
            .unwrap_err();
        assert_eq!(
            err.error_type(),
            "Drill.GuardViolation",
            "{id} {kind}: {err}"
        );
    }
    assert_eq!(fake.calls.calls().len(), 1);
}

#[tokio::test]
async fn refusals_and_bad_events_name_their_error_type_before_any_call() {
    let fake = Fake::default();
    let mut other_host = sample_event("validate", "validate");
    other_host["target"]["host"] = "prod-app.abcdefghijkl.us-east-1.rds.amazonaws.com".into();
    let mut typo = sample_event("validate", "validate");
    typo["targets"] = typo["target"].take();
    let cases = [
        (other_host, "Drill.GuardViolation"),
        (json!({"action": "explode"}), "Drill.InvalidInput"),
        (json!({"action": 7}), "Drill.InvalidInput"),
        (typo, "Drill.InvalidInput"),
        (
            json!({"action": "summary", "results": []}),
            "Drill.InvalidInput",
        ),
        (json!("validate"), "Drill.InvalidInput"),
    ];
    for (event, error_type) in cases {
        let err = dispatch(&fake, &config(), event.clone()).await.unwrap_err();
        assert_eq!(err.error_type(), error_type, "{event}: {err}");
    }
    let no_reports = Config {
        reports_url: None,
        ..config()
    };
    for action in ["validate", "report"] {
        let err = dispatch(&fake, &no_reports, sample_event("validate", action))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput", "{action}: {err}");
        assert!(err.message.contains("DRILL_REPORTS_URL"), "{err}");
    }
    assert!(fake.calls.calls().is_empty(), "{:?}", fake.calls.calls());
}

#[tokio::test]
async fn the_report_is_written_under_the_source_and_its_outcome_returned() {
    let fake = Fake::default();
    let out = dispatch(&fake, &config(), sample_event("validate", "report"))
        .await
        .unwrap();
    let reports = fake.reports.borrow();
    let (url, body) = &reports[0];
    assert!(url.starts_with("s3://reports/reports/prod-app/"), "{url}");
    assert_eq!(body["passed"], true, "{body}");
    assert_eq!(out["passed"], true, "{out}");
    assert_eq!(out["report"], url.as_str(), "{out}");
    assert_eq!(fake.calls.calls(), ["put_report s3://reports/reports"]);
}

#[tokio::test]
async fn the_summary_alerts_once_for_a_failed_source_and_not_without_a_topic() {
    let fake = Fake::default();
    let out = dispatch(&fake, &config(), sample_event("validate", "summary"))
        .await
        .unwrap();
    assert_eq!(
        (out["passed"].clone(), out["failed"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(out["alerted"], true, "{out}");
    let calls = fake.calls.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("publish_alert arn:aws:sns:us-east-1:123456789012:drill-alerts"),
        "{calls:?}"
    );
    let silent = Fake::default();
    let no_topic = Config {
        alert_topic_arn: None,
        ..config()
    };
    let out = dispatch(&silent, &no_topic, sample_event("validate", "summary"))
        .await
        .unwrap();
    assert_eq!(out["alerted"], false, "{out}");
    assert!(silent.calls.calls().is_empty());
}

#[tokio::test]
async fn aws_failures_keep_their_kind() {
    for (action, kind) in [
        ("validate", ErrorKind::BackupInvalid),
        ("validate", ErrorKind::CouldNotRun),
        ("report", ErrorKind::Transient),
        ("summary", ErrorKind::Transient),
    ] {
        let fake = Fake {
            calls: Recorder::failing(kind),
            ..Fake::default()
        };
        let err = dispatch(&fake, &config(), sample_event("validate", action))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), kind.error_type(), "{action}");
        assert_eq!(fake.calls.calls().len(), 1, "{action}");
    }
}

#[tokio::test]
async fn the_invocations_deadline_reaches_the_checks_and_without_one_none_is_assumed() {
    let fake = Fake::default();
    let deadline = drill_core::checks::deadline::Deadline::at(1_790_000_000_000);
    crate::dispatch_until(
        &fake,
        &config(),
        sample_event("validate", "validate"),
        Some(deadline),
    )
    .await
    .unwrap();
    let (request, _) = fake.validated.borrow().clone().unwrap();
    assert_eq!(request.deadline, Some(deadline));
    // 20 s stay free for the report.
    assert_eq!(deadline.margin_ms, 20_000);

    let fake = Fake::default();
    dispatch(&fake, &config(), sample_event("validate", "validate"))
        .await
        .unwrap();
    assert_eq!(fake.validated.borrow().clone().unwrap().0.deadline, None);
}

#[tokio::test]
async fn unit_actions_check_the_target_and_take_every_location_from_the_deployment() {
    let event = |action: &str, unit: Option<u32>| {
        let mut e = sample_event("validate", "validate");
        let o = e.as_object_mut().unwrap();
        o.remove("backup");
        o.insert("action".into(), action.into());
        if let Some(u) = unit {
            o.insert("unit".into(), u.into());
        }
        e
    };
    let fake = Fake::default();
    let out = dispatch(&fake, &config(), event("validate_unit", Some(3)))
        .await
        .unwrap();
    assert_eq!(out, json!({"called": "units Unit Some(3)"}));
    let work = fake.unit_work.borrow().clone().unwrap();
    assert_eq!(work.history, "s3://reports/reports/prod-app");
    assert_eq!(work.planner, drill_core::units::PlannerSettings::default());
    // A unit number on a plan, or none on a unit, is refused before any work.
    for (action, unit) in [("plan_validation", Some(1)), ("validate_unit", None)] {
        let fake = Fake::default();
        let err = dispatch(&fake, &config(), event(action, unit))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{action}: {err}");
        assert!(fake.unit_work.borrow().is_none());
    }
    // Another host than this drill's temp: refused, nothing run.
    let mut other = event("plan_validation", None);
    other["target"]["host"] = "prod-app.abcdefghijkl.us-east-1.rds.amazonaws.com".into();
    let fake = Fake::default();
    assert!(dispatch(&fake, &config(), other).await.is_err());
    assert!(fake.unit_work.borrow().is_none());
    // A location in the event is not part of the contract.
    let mut located = event("plan_validation", None);
    located["history"] = "s3://elsewhere/x".into();
    assert_eq!(
        dispatch(&Fake::default(), &config(), located)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::InvalidInput
    );
}

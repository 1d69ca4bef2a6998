//! Unit tests of the delete-temp dispatch and its error mapping, against a fake [`DeleteAws`]
//! and the sample deployment configuration.

use chrono::{DateTime, Duration, Utc};
use drill_core::deployment::DeploymentConfig;
use drill_core::events::{ConnectionSpec, DrillContext, SnapshotCopySpec};
use drill_core::snapshots::SnapshotOf;
use drill_core::ErrorKind;
use drill_engine::lambda::testing::{sample_config, sample_event, sample_events, Recorder};
use drill_engine::lambda::HandlerError;
use serde_json::{json, Value};

use crate::{dispatch, janitor_now, DeleteAws};

#[derive(Default)]
struct Fake {
    calls: Recorder,
    /// The deployment, when not the sample one.
    config: Option<DeploymentConfig>,
}

impl DeleteAws for Fake {
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError> {
        Ok(self.config.clone().unwrap_or_else(sample_config))
    }

    async fn delete_instance(
        &self,
        drill: &DrillContext,
        identifier: &str,
    ) -> Result<Value, HandlerError> {
        self.calls
            .call(format!("delete_instance {} {identifier}", drill.drill_id))
    }

    async fn delete_cluster(
        &self,
        drill: &DrillContext,
        identifier: &str,
        instance: &str,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!(
            "delete_cluster {} {identifier} {instance}",
            drill.drill_id
        ))
    }

    async fn delete_database(
        &self,
        _drill: &DrillContext,
        server: &ConnectionSpec,
        name: &str,
    ) -> Result<Value, HandlerError> {
        self.calls
            .call(format!("delete_database {} {name}", server.host))
    }

    async fn expire_copies(
        &self,
        of: SnapshotOf,
        source: &str,
        copy: &SnapshotCopySpec,
        _now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!(
            "expire_copies {of:?} {source} {:?} {}",
            copy.region, copy.keep_newest
        ))
    }

    async fn janitor(&self, now: DateTime<Utc>) -> Result<Value, HandlerError> {
        self.calls.call(format!("janitor {}", now.to_rfc3339()))
    }
}

fn now() -> DateTime<Utc> {
    "2026-11-22T05:00:00Z".parse().unwrap()
}

async fn run(fake: &Fake, event: Value) -> Result<Value, HandlerError> {
    dispatch(fake, event, now()).await
}

#[tokio::test]
async fn each_sample_event_makes_its_one_call_with_the_configured_values() {
    let expected = [
        (
            "cleanup_restore",
            "delete_instance nightly-2026-11-22-prod-app rdrill-prod-app-202611220300-2ee78af9",
        ),
        (
            "delete",
            "delete_instance nightly-2026-11-22-prod-app rdrill-prod-app-202611220300-2ee78af9",
        ),
        (
            "expire_copies",
            r#"expire_copies Instance prod-app Some("eu-west-1") 2"#,
        ),
        ("janitor", "janitor 2026-11-22T05:00:00+00:00"),
    ];
    let samples = sample_events("delete-temp");
    let names: Vec<&str> = samples.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        expected.map(|(n, _)| n),
        "one expectation per sample"
    );
    for ((name, event), (_, call)) in samples.into_iter().zip(expected) {
        let fake = Fake::default();
        let out = run(&fake, event)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(fake.calls.calls(), [call], "{name}");
        assert_eq!(out, json!({ "called": call }), "{name}");
    }
}

#[tokio::test]
async fn deleting_anything_but_this_drills_temp_is_a_guard_violation_without_a_call() {
    let fake = Fake::default();
    for identifier in ["prod-app", "rdrill-prod-app-202611220300-00000000"] {
        let mut event = sample_event("delete-temp", "delete");
        event["temp"]["identifier"] = identifier.into();
        let err = run(&fake, event).await.unwrap_err();
        assert_eq!(
            err.error_type(),
            "Drill.GuardViolation",
            "{identifier}: {err}"
        );
        assert!(err.message.contains(identifier), "{err}");
    }
    assert!(fake.calls.calls().is_empty(), "{:?}", fake.calls.calls());
}

#[tokio::test]
async fn a_backup_set_drill_drops_its_temp_database() {
    let fake = Fake::default();
    let drill = json!({"drill_id": "nightly-2026-11-22-prod-app-logical",
                       "source_id": "prod-app-logical", "started_at": "2026-11-22T03:00:00Z"});
    run(&fake, json!({"action": "cleanup_restore", "drill": drill}))
        .await
        .unwrap();
    let calls = fake.calls.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with(
            "delete_database drill-scratch.abcdefghijkl.us-east-1.rds.amazonaws.com rdrill-prod-app-logical-202611220300-"
        ),
        "{calls:?}"
    );
    let err = run(&fake, json!({"action": "expire_copies", "drill": drill}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(err.message.contains("no snapshot_copy"), "{err}");
    assert_eq!(fake.calls.calls().len(), 1);
}

#[tokio::test]
async fn unknown_actions_and_malformed_events_are_invalid_input_before_any_call() {
    let fake = Fake::default();
    for event in [
        json!({"action": "delete_everything"}),
        json!({"action": "janitor", "now": "yesterday"}),
        json!({"action": "delete", "drill": sample_event("delete-temp", "delete")["drill"]}),
        json!({"action": "janitor", "prefix": "prod-"}),
        json!([]),
    ] {
        let err = run(&fake, event.clone()).await.unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput", "{event}: {err}");
    }
    assert!(fake.calls.calls().is_empty(), "{:?}", fake.calls.calls());
}

#[tokio::test]
async fn a_janitor_clock_in_the_future_is_refused() {
    let fake = Fake::default();
    let late = (now() + Duration::seconds(301)).to_rfc3339();
    let err = run(&fake, json!({"action": "janitor", "now": late}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(err.message.contains("future"), "{err}");
    assert!(fake.calls.calls().is_empty());
    let past = now() - Duration::days(3);
    assert_eq!(janitor_now(Some(past), now()).unwrap(), past);
    let skew = now() + Duration::seconds(300);
    assert_eq!(janitor_now(Some(skew), now()).unwrap(), skew);
    assert_eq!(janitor_now(None, now()).unwrap(), now());
}

#[tokio::test]
async fn aws_failures_keep_their_kind() {
    for kind in [ErrorKind::Transient, ErrorKind::GuardViolation] {
        let fake = Fake {
            calls: Recorder::failing(kind),
            config: None,
        };
        let err = run(&fake, sample_event("delete-temp", "delete"))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), kind.error_type());
        assert_eq!(fake.calls.calls().len(), 1);
    }
}

#[tokio::test]
async fn an_aurora_source_expires_its_cluster_snapshot_copies() {
    let mut config = sample_config();
    config.sources[0].source = serde_json::from_value(json!({
        "kind": "aurora-cluster", "cluster_identifier": "prod-aurora", "database": "app"
    }))
    .unwrap();
    let fake = Fake {
        config: Some(config),
        ..Fake::default()
    };
    run(&fake, sample_event("delete-temp", "expire_copies"))
        .await
        .unwrap();
    assert_eq!(
        fake.calls.calls(),
        [r#"expire_copies Cluster prod-aurora Some("eu-west-1") 2"#]
    );
}

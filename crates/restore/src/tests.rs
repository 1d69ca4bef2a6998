//! Unit tests of the restore dispatch and its error mapping, against a fake [`RestoreAws`] and
//! the sample deployment configuration.

use chrono::{DateTime, Utc};
use drill_core::deployment::DeploymentConfig;
use drill_core::events::{ConnectionSpec, DrillContext, SnapshotCopySpec};
use drill_core::snapshots::SnapshotOf;
use drill_core::ErrorKind;
use drill_engine::lambda::testing::{sample_config, sample_event, sample_events, Recorder};
use drill_engine::lambda::HandlerError;
use drill_engine::rds::{ClusterInput, PointInTimeInput, RestoreInput};
use serde_json::{json, Value};

use crate::{dispatch, ClusterTemp, RestoreAws};

struct Fake {
    config: DeploymentConfig,
    calls: Recorder,
}

impl Fake {
    fn new() -> Self {
        Self::with(Recorder::default())
    }

    fn with(calls: Recorder) -> Self {
        Fake {
            config: sample_config(),
            calls,
        }
    }
}

impl RestoreAws for Fake {
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError> {
        Ok(self.config.clone())
    }

    async fn restore_snapshot(
        &self,
        drill: &DrillContext,
        input: &RestoreInput,
        _now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!(
            "restore_snapshot {} {} {}",
            drill.drill_id, input.source_instance, input.database
        ))
    }

    async fn restore_point_in_time(
        &self,
        drill: &DrillContext,
        input: &RestoreInput,
        pitr: &PointInTimeInput,
        _now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!(
            "restore_point_in_time {} {} {:?} {:?} {:?}",
            drill.drill_id, input.source_instance, pitr.moment, pitr.seed, pitr.replicated_from
        ))
    }

    async fn restore_backup_set(
        &self,
        _drill: &DrillContext,
        store: &str,
        server: &ConnectionSpec,
        max_age_hours: Option<u32>,
        no_owner: bool,
        _now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!(
            "restore_backup_set {store} {} {max_age_hours:?} {no_owner}",
            server.host
        ))
    }

    async fn instance_status(
        &self,
        _drill: &DrillContext,
        identifier: &str,
        database: &str,
        since: Option<DateTime<Utc>>,
        _now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        let since = since.map(|t| t.to_rfc3339());
        self.calls
            .call(format!("instance_status {identifier} {database} {since:?}"))
    }

    async fn database_status(
        &self,
        _drill: &DrillContext,
        server: &ConnectionSpec,
        name: &str,
        _since: Option<DateTime<Utc>>,
        _now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        self.calls
            .call(format!("database_status {} {name}", server.host))
    }

    async fn manage_secret(
        &self,
        _drill: &DrillContext,
        identifier: &str,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!("manage_secret {identifier}"))
    }

    async fn restore_cluster(
        &self,
        drill: &DrillContext,
        input: &ClusterInput,
        pitr: Option<&PointInTimeInput>,
        _now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!(
            "restore_cluster {} {} {}",
            drill.drill_id,
            input.source_cluster,
            if pitr.is_some() {
                "point-in-time"
            } else {
                "snapshot"
            }
        ))
    }

    async fn cluster_status(
        &self,
        _drill: &DrillContext,
        temp: ClusterTemp<'_>,
        _since: Option<DateTime<Utc>>,
        _now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!(
            "cluster_status {} {} {}",
            temp.identifier,
            temp.instance,
            temp.spec.class()
        ))
    }

    async fn manage_cluster_secret(
        &self,
        _drill: &DrillContext,
        identifier: &str,
    ) -> Result<Value, HandlerError> {
        self.calls
            .call(format!("manage_cluster_secret {identifier}"))
    }

    async fn copy_snapshot(
        &self,
        _drill: &DrillContext,
        of: SnapshotOf,
        source: &str,
        copy: &SnapshotCopySpec,
        _now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        self.calls.call(format!(
            "copy_snapshot {of:?} {source} {:?} {:?}",
            copy.region, copy.share_with
        ))
    }
}

async fn run(fake: &Fake, event: Value) -> Result<Value, HandlerError> {
    dispatch(fake, event, Utc::now()).await
}

fn err_of(result: Result<Value, HandlerError>) -> HandlerError {
    result.expect_err("the event must be refused")
}

#[tokio::test]
async fn each_sample_event_makes_its_one_call_with_the_configured_values() {
    let expected = [
        (
            "copy_snapshot",
            Some(r#"copy_snapshot Instance prod-app Some("eu-west-1") ["210987654321"]"#),
        ),
        (
            "manage_secret",
            Some("manage_secret rdrill-prod-app-202611220300-2ee78af9"),
        ),
        ("plan", None),
        (
            "restore",
            Some("restore_snapshot nightly-2026-11-22-prod-app prod-app app"),
        ),
        (
            "restore_backup_set",
            Some(
                "restore_backup_set s3://restore-drill-backups-123456789012/backups/prod-app \
                 drill-scratch.abcdefghijkl.us-east-1.rds.amazonaws.com Some(26) true",
            ),
        ),
        (
            "status",
            Some(
                r#"instance_status rdrill-prod-app-202611220300-2ee78af9 app Some("2026-11-22T03:41:07+00:00")"#,
            ),
        ),
    ];
    let samples = sample_events("restore");
    let names: Vec<&str> = samples.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        expected.map(|(n, _)| n),
        "one expectation per sample"
    );
    for ((name, event), (_, call)) in samples.into_iter().zip(expected) {
        let fake = Fake::new();
        let out = run(&fake, event)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            fake.calls.calls(),
            Vec::from_iter(call.map(String::from)),
            "{name}"
        );
        if let Some(call) = call {
            assert_eq!(out, json!({ "called": call }), "{name}");
        }
    }
}

#[tokio::test]
async fn the_plan_lists_the_configured_sources_without_an_aws_call() {
    let fake = Fake::new();
    let out = run(&fake, sample_event("restore", "plan")).await.unwrap();
    assert_eq!(out["sources"][0]["id"], "prod-app", "{out}");
    assert_eq!(out["sources"].as_array().unwrap().len(), 1, "{out}");
    let err = err_of(
        run(
            &fake,
            json!({"action": "plan", "input": {"sources": ["nope"]}}),
        )
        .await,
    );
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(fake.calls.calls().is_empty());
}

#[tokio::test]
async fn unknown_actions_and_malformed_events_are_invalid_input_before_any_call() {
    let fake = Fake::new();
    let mut missing_drill = sample_event("restore", "restore");
    missing_drill.as_object_mut().unwrap().remove("drill");
    for event in [
        json!({"action": "explode", "drill": sample_event("restore", "restore")["drill"]}),
        json!({"drill": sample_event("restore", "restore")["drill"]}),
        json!("restore"),
        missing_drill,
    ] {
        let err = err_of(run(&fake, event.clone()).await);
        assert_eq!(err.error_type(), "Drill.InvalidInput", "{event}: {err}");
        assert!(err.message.starts_with("invalid event"), "{err}");
    }
    assert!(fake.calls.calls().is_empty(), "{:?}", fake.calls.calls());
}

#[tokio::test]
async fn a_temp_that_is_not_this_drills_is_a_guard_violation() {
    for action in ["status", "manage_secret"] {
        let fake = Fake::new();
        let mut event = sample_event("restore", action);
        event["temp"]["identifier"] = "prod-app".into();
        let err = err_of(run(&fake, event).await);
        assert_eq!(err.error_type(), "Drill.GuardViolation", "{action}: {err}");
        assert!(fake.calls.calls().is_empty(), "{action}");
    }
}

#[tokio::test]
async fn an_unknown_source_is_invalid_input() {
    let fake = Fake::new();
    let mut event = sample_event("restore", "restore");
    event["drill"]["source_id"] = "elsewhere".into();
    let err = err_of(run(&fake, event).await);
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(err.message.contains("elsewhere"), "{err}");
    assert!(fake.calls.calls().is_empty());
}

#[tokio::test]
async fn database_temps_have_a_status_but_no_managed_secret() {
    let fake = Fake::new();
    let drill = sample_event("restore", "restore_backup_set")["drill"].clone();
    let ctx: DrillContext = serde_json::from_value(drill.clone()).unwrap();
    let source = fake.config.source(&ctx.source_id).unwrap();
    let temp = fake.config.expected_temp(source, &ctx).unwrap();
    let out = run(
        &fake,
        json!({"action": "status", "drill": drill, "temp": temp}),
    )
    .await
    .unwrap();
    assert!(
        out["called"].as_str().unwrap().starts_with(
            "database_status drill-scratch.abcdefghijkl.us-east-1.rds.amazonaws.com rdrill-prod-app-logical-202611220300-"
        ),
        "{out}"
    );
    let err = err_of(
        run(
            &fake,
            json!({"action": "manage_secret", "drill": drill, "temp": temp}),
        )
        .await,
    );
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert_eq!(fake.calls.calls().len(), 1);
}

#[tokio::test]
async fn a_copy_of_a_source_without_snapshot_copy_is_refused_before_any_call() {
    let fake = Fake::new();
    let mut event = sample_event("restore", "copy_snapshot");
    event["drill"] = sample_event("restore", "restore_backup_set")["drill"].clone();
    let err = err_of(run(&fake, event).await);
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(err.message.contains("no snapshot_copy"), "{err}");
    assert!(fake.calls.calls().is_empty());
}

#[tokio::test]
async fn a_copy_outside_the_allowlists_is_refused_before_any_call() {
    let mut fake = Fake::new();
    fake.config.copy_regions = vec!["us-west-2".to_owned()];
    let err = err_of(run(&fake, sample_event("restore", "copy_snapshot")).await);
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(err.message.contains("refused before any call"), "{err}");
    assert!(fake.calls.calls().is_empty());
}

#[tokio::test]
async fn aws_failures_keep_their_kind() {
    for kind in [
        ErrorKind::Transient,
        ErrorKind::BackupInvalid,
        ErrorKind::CouldNotRun,
    ] {
        let fake = Fake::with(Recorder::failing(kind));
        let err = err_of(run(&fake, sample_event("restore", "restore")).await);
        assert_eq!(err.error_type(), kind.error_type());
        assert_eq!(fake.calls.calls().len(), 1);
    }
}

#[tokio::test]
async fn a_point_in_time_source_restores_to_a_point_in_time_as_its_configuration_says() {
    let mut fake = Fake::new();
    fake.config.sources[0].restore = serde_json::from_value(json!({
        "mode": "point-in-time", "moment": "random", "seed": 7, "replicated_from": "us-west-2"
    }))
    .unwrap();
    // The event cannot ask for another mode: it only names the drill.
    let mut event = sample_event("restore", "restore");
    event["restore"] = json!({"mode": "snapshot"});
    assert!(
        run(&fake, event).await.is_err(),
        "unknown fields are refused"
    );
    run(&fake, sample_event("restore", "restore"))
        .await
        .unwrap();
    assert_eq!(
        fake.calls.calls(),
        [
            r#"restore_point_in_time nightly-2026-11-22-prod-app prod-app Random Some(7) Some("us-west-2")"#
        ]
    );
}

#[tokio::test]
async fn an_aurora_source_copies_its_cluster_snapshots_as_its_configuration_says() {
    let mut fake = Fake::new();
    fake.config.sources[0].source = serde_json::from_value(json!({
        "kind": "aurora-cluster", "cluster_identifier": "prod-aurora", "database": "app"
    }))
    .unwrap();
    run(&fake, sample_event("restore", "copy_snapshot"))
        .await
        .unwrap();
    assert_eq!(
        fake.calls.calls(),
        [r#"copy_snapshot Cluster prod-aurora Some("eu-west-1") ["210987654321"]"#]
    );
    // The allowlists hold for clusters too, before any call.
    let mut fake = Fake::new();
    fake.config.sources[0].source = serde_json::from_value(json!({
        "kind": "aurora-cluster", "cluster_identifier": "prod-aurora", "database": "app"
    }))
    .unwrap();
    fake.config.copy_accounts = vec!["111122223333".to_owned()];
    let err = err_of(run(&fake, sample_event("restore", "copy_snapshot")).await);
    assert_eq!(err.error_type(), "Drill.InvalidInput", "{err}");
    assert!(fake.calls.calls().is_empty());
}

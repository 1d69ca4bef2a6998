//! A retry of the restore step (Step Functions retries a Lambda that timed out after the call
//! reached RDS) reports what the existing temp was restored from, even when a newer snapshot has
//! appeared since the first attempt: the report must name the backup the data came from.

use chrono::Utc;
use drill_core::events::{RestoreStarted, TempResource};
use drill_core::guards::tag;
use drill_tests::rds::*;
use drill_tests::wait::clock_past;
use drill_tests::{aws_config, unique};
use serde_json::json;

#[tokio::test]
async fn a_retry_after_a_newer_snapshot_reports_the_snapshot_restored() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("retry-");
    create_instance(&client, &source, false, vec![]).await;
    let first = unique("manual-first-");
    client
        .create_db_snapshot()
        .db_instance_identifier(&source)
        .db_snapshot_identifier(&first)
        .send()
        .await
        .unwrap();
    let drill = drill(&source, Utc::now());
    drill_tests::deployment::configure_source(
        &drill.source_id,
        json!({"kind": "rds-snapshot", "instance_identifier": source, "database": "app",
               "snapshot": {"pick": "newest-manual"}}),
        None,
        None,
    );
    let deps = restore_deps(settings(Some(&net)), aws_config().await);
    let event = json!({"action": "restore", "drill": drill});
    let started: RestoreStarted =
        serde_json::from_value(restore::handle(&deps, event.clone()).await.unwrap()).unwrap();
    assert!(started.backup.id.ends_with(&first), "{}", started.backup.id);
    let TempResource::RdsInstance { identifier, .. } = &started.temp else {
        panic!("{started:?}")
    };
    let restored_from = instance_tags(&client, identifier).await[tag::RESTORED_FROM].clone();
    assert!(
        restored_from.ends_with(&format!(":snapshot:{first}")),
        "{restored_from}"
    );

    // A newer snapshot now exists: choosing again would name it.
    clock_past(newest_snapshot_time(&client, &source).await).await;
    let newer = unique("manual-newer-");
    client
        .create_db_snapshot()
        .db_instance_identifier(&source)
        .db_snapshot_identifier(&newer)
        .send()
        .await
        .unwrap();
    let again: RestoreStarted =
        serde_json::from_value(restore::handle(&deps, event).await.unwrap()).unwrap();
    assert_eq!(again.temp, started.temp);
    assert_eq!(
        again.backup, started.backup,
        "the retry names the snapshot restored"
    );
}

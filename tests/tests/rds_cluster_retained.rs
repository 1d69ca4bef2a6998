//! A deleted Aurora source restored to a point in time from its retained automated backups
//! (`RestoreDBClusterToPointInTime` with `SourceDbClusterResourceId`), against moto with
//! `fix_rds_cluster_automated_backups`: the moment inside the retained window, the temp's
//! settings and tags naming the backup, the wait loop and the guarded delete; a source deleted
//! without retention fails with a clear error; and the AWS facts the fix holds.

use std::time::Duration as StdDuration;

use aws_sdk_rds::error::ProvideErrorMetadata;
use chrono::Utc;
use drill_core::events::TempState;
use drill_core::guards::tag;
use drill_core::point_in_time::{ChosenMoment, Moment};
use drill_core::{Classified, ErrorKind};
use drill_engine::rds::{self, PointInTimeInput};
use drill_tests::aurora::*;
use drill_tests::rds::*;
use drill_tests::unique;

/// A production cluster that lived a few seconds (a restore window with whole seconds in it),
/// deleted keeping or dropping its automated backups.
async fn deleted_source(client: &rds::Client, prefix: &str, retain: bool) -> String {
    let source = unique(prefix);
    prod_cluster(client, &source, false).await;
    tokio::time::sleep(StdDuration::from_millis(2_200)).await;
    delete_cluster(client, &source, retain).await;
    source
}

const RANDOM: PointInTimeInput = PointInTimeInput {
    moment: Moment::Random,
    seed: Some(7),
    replicated_from: None,
};

#[tokio::test]
async fn a_deleted_sources_retained_backups_restore_to_a_moment_inside_their_window() {
    let client = rds().await;
    let net = network(&client).await;
    let cfg = settings(Some(&net));
    let source = deleted_source(&client, "aur-gone-", true).await;
    assert!(rds::describe_cluster(&client, &source)
        .await
        .unwrap()
        .is_none());
    let retained = rds::retained_cluster_backups(&client, &source)
        .await
        .unwrap();
    assert_eq!(retained.len(), 1, "{retained:?}");
    let backup = &retained[0];
    let window = backup.facts.window.expect("a retained backup has a window");
    assert!(backup.resource_id.starts_with("cluster-"), "{backup:?}");

    let d = started_drill(&source).await;
    let started =
        rds::restore_cluster_point_in_time(&client, &cfg, &d, &input(&source), &RANDOM, Utc::now())
            .await
            .unwrap();
    assert_eq!(started.backup.kind.as_str(), "rds-point-in-time");
    assert!(started.backup.id.contains("seed 7"), "{:?}", started.backup);
    assert!(
        window.earliest <= started.backup.taken_at && started.backup.taken_at <= window.latest,
        "{:?} outside {window:?}",
        started.backup
    );
    let (id, instance) = names(&started);
    let c = cluster(&client, &id).await;
    assert_eq!(c.deletion_protection(), Some(false));
    assert_eq!(c.backup_retention_period(), Some(1));
    assert_eq!(c.db_subnet_group(), Some(net.subnet_group.as_str()));
    let tags = rds::cluster_facts(&c).tags;
    assert_eq!(tags[tag::ROLE], tag::ROLE_TEMP);
    assert_eq!(tags[tag::EXECUTION], d.drill_id);
    assert_eq!(tags[tag::SOURCE], source);
    // Guard (f)'s tag names the retained backup restored, not a cluster that no longer exists.
    assert_eq!(tags[tag::RESTORED_FROM], backup.facts.arn);
    let moment = ChosenMoment::from_tag_value(&tags[tag::MOMENT]).unwrap();
    assert_eq!(moment.at, started.backup.taken_at);
    assert!(
        !tags.contains_key("env"),
        "production's tags are not the temp's"
    );

    // The same seed picks the same moment: a failed night can be replayed.
    let replay = drill_core::point_in_time::choose(&source, Moment::Random, 7, window).unwrap();
    assert_eq!(replay.at, started.backup.taken_at);

    // A retry of the execution reports the moment restored, not a new one.
    let again =
        rds::restore_cluster_point_in_time(&client, &cfg, &d, &input(&source), &RANDOM, Utc::now())
            .await
            .unwrap();
    assert_eq!(again.backup, started.backup);
    assert_eq!(again.temp, started.temp);

    let (seen, ready) = wait_available(&client, &cfg, &d, &started).await;
    assert!(seen.contains(&TempState::SecretNeeded), "{seen:?}");
    assert!(ready.connection.is_some());

    let out = rds::delete_cluster_temp(&client, &cfg, &d, &id, &instance)
        .await
        .unwrap();
    assert_eq!(out.deleted, [instance, id]);
    // The retained backup itself is untouched by the drill.
    let still = rds::retained_cluster_backups(&client, &source)
        .await
        .unwrap();
    assert!(
        still.iter().any(|b| b.facts.arn == backup.facts.arn),
        "{still:?}"
    );
}

#[tokio::test]
async fn a_source_deleted_with_its_backups_fails_clearly_and_restores_nothing() {
    let client = rds().await;
    let net = network(&client).await;
    let cfg = settings(Some(&net));
    let source = deleted_source(&client, "aur-lost-", false).await;
    let d = started_drill(&source).await;
    let err =
        rds::restore_cluster_point_in_time(&client, &cfg, &d, &input(&source), &RANDOM, Utc::now())
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let text = err.to_string();
    assert!(
        text.contains(&source) && text.contains("no retained automated backups"),
        "{text}"
    );
    let (id, _) = rds::cluster_temp_names(&cfg, &d, &source).unwrap();
    assert!(rds::describe_cluster(&client, &id).await.unwrap().is_none());
}

#[tokio::test]
async fn moto_holds_the_retained_cluster_backup_facts_aws_documents() {
    let client = rds().await;
    let source = deleted_source(&client, "aur-facts-", true).await;
    // DBClusterIdentifier "must match the identifier of an existing DB cluster".
    let err = client
        .describe_db_cluster_automated_backups()
        .db_cluster_identifier(&source)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DBClusterNotFoundFault"), "{err:?}");
    // Live clusters are listed too ("backups for both current and deleted DB clusters"), but
    // not under the `retained` status filter.
    let live = unique("aur-live-");
    prod_cluster(&client, &live, false).await;
    let all = client
        .describe_db_cluster_automated_backups()
        .send()
        .await
        .unwrap();
    let listed = |id: &str| {
        all.db_cluster_automated_backups()
            .iter()
            .any(|b| b.db_cluster_identifier() == Some(id))
    };
    assert!(listed(&live) && listed(&source));
    let retained = rds::retained_cluster_backups(&client, &live).await.unwrap();
    assert!(retained.is_empty(), "{retained:?}");
    let backup = &rds::retained_cluster_backups(&client, &source)
        .await
        .unwrap()[0];
    let window = backup.facts.window.unwrap();

    let restore = |target: &str| {
        client
            .restore_db_cluster_to_point_in_time()
            .db_cluster_identifier(target)
            .restore_type("full-copy")
    };
    // A time after the deletion is outside the retained window.
    let after = window.latest + chrono::Duration::minutes(5);
    let err = restore(&unique("aur-late-"))
        .source_db_cluster_resource_id(&backup.resource_id)
        .restore_to_time(aws_smithy_types::DateTime::from_secs(after.timestamp()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRestoreFault"), "{err:?}");
    let err = restore(&unique("aur-none-"))
        .source_db_cluster_resource_id("cluster-NOSUCHRESOURCE0000000000")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("DBClusterAutomatedBackupNotFoundFault"),
        "{err:?}"
    );
    let err = restore(&unique("aur-both-"))
        .source_db_cluster_resource_id(&backup.resource_id)
        .use_latest_restorable_time(true)
        .restore_to_time(aws_smithy_types::DateTime::from_secs(
            window.latest.timestamp(),
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterCombination"), "{err:?}");
    // moto's own restore took the first cluster it listed when the source was unknown.
    let err = restore(&unique("aur-nosrc-"))
        .source_db_cluster_identifier(&source)
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DBClusterNotFoundFault"), "{err:?}");
}

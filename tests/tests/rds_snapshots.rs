//! Snapshot copy and expiry against moto: expiry deletes only expired copies the drill made and
//! never touches automated, untagged, hand-made or other sources' snapshots. Plus the read-only
//! posture audit.

mod rds_common;

use chrono::{Duration, Utc};
use drill_core::guards::tag;
use drill_core::posture::PosturePolicy;
use drill_engine::rds;
use drill_tests::unique;
use rds_common::*;

/// A drill-style copy made by hand, with the given expiry.
async fn hand_copy(
    client: &rds::Client,
    from: &str,
    id: &str,
    source: &str,
    expires_at: chrono::DateTime<Utc>,
) {
    client
        .copy_db_snapshot()
        .source_db_snapshot_identifier(from)
        .target_db_snapshot_identifier(id)
        .tags(t(tag::ROLE, tag::ROLE_SNAPSHOT_COPY))
        .tags(t(tag::EXECUTION, "exec-earlier"))
        .tags(t(tag::SOURCE, source))
        .tags(t(tag::EXPIRES_AT, &expires_at.to_rfc3339()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn copy_then_expire_touches_only_expired_drill_copies() {
    let client = rds().await;
    let source = unique("src-");
    create_instance(&client, &source, true, vec![]).await;
    let other_source = unique("src-other-");
    create_instance(&client, &other_source, true, vec![]).await;
    let automated = snapshot_ids(&client, &source).await;
    assert_eq!(automated.len(), 1, "moto makes one automated snapshot");
    let automated = automated[0].clone();
    let other_automated = snapshot_ids(&client, &other_source).await[0].clone();

    let past = Utc::now() - Duration::days(1);
    let old_copy_1 = unique("rdrill-old1-");
    let old_copy_2 = unique("rdrill-old2-");
    hand_copy(&client, &automated, &old_copy_1, &source, past).await;
    hand_copy(&client, &automated, &old_copy_2, &source, past).await;
    // A person's manual snapshot, an untagged snapshot with the drill prefix, and an expired drill
    // copy of another source.
    let person = unique("before-upgrade-");
    client
        .create_db_snapshot()
        .db_instance_identifier(&source)
        .db_snapshot_identifier(&person)
        .send()
        .await
        .unwrap();
    let untagged = unique("rdrill-untagged-");
    client
        .create_db_snapshot()
        .db_instance_identifier(&source)
        .db_snapshot_identifier(&untagged)
        .send()
        .await
        .unwrap();
    let other_copy = unique("rdrill-othersrc-");
    hand_copy(&client, &other_automated, &other_copy, &other_source, past).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // The drill copies the newest automated snapshot.
    let settings = settings(None);
    let drill = drill(&source, Utc::now());
    let copy = rds::copy_newest_automated(&client, &settings, &drill, &source, 7, None, Utc::now())
        .await
        .unwrap();
    assert!(copy.created);
    assert_eq!(copy.source_snapshot, automated);
    let copies = rds::list_snapshots(&client, &source, Some("manual"))
        .await
        .unwrap();
    let made = copies
        .iter()
        .find(|s| s.id == copy.copy)
        .expect("copy exists");
    assert_eq!(
        made.tags.get(tag::ROLE).map(String::as_str),
        Some(tag::ROLE_SNAPSHOT_COPY)
    );
    assert_eq!(made.tags.get(tag::EXECUTION), Some(&drill.drill_id));
    assert_eq!(made.tags.get(tag::SOURCE), Some(&source));
    assert!(made.tags.contains_key(tag::EXPIRES_AT));
    // A retry of the same execution does not make a second copy.
    let again =
        rds::copy_newest_automated(&client, &settings, &drill, &source, 7, None, Utc::now())
            .await
            .unwrap();
    assert!(!again.created);
    assert_eq!(again.copy, copy.copy);

    // Expiry with keep_newest = 1: the drill's fresh copy is kept, the expired ones go.
    let outcome = rds::expire_copies(&client, &settings, &source, 1, Utc::now())
        .await
        .unwrap();
    let mut expired = outcome.expired.clone();
    expired.sort();
    let mut want = vec![old_copy_1.clone(), old_copy_2.clone()];
    want.sort();
    assert_eq!(expired, want, "{outcome:?}");
    assert!(outcome.kept.contains(&copy.copy));
    assert!(
        outcome
            .refused
            .iter()
            .any(|r| r.identifier == untagged && r.guard == "role-tag"),
        "{outcome:?}"
    );

    let left = snapshot_ids(&client, &source).await;
    for id in [&automated, &person, &untagged, &copy.copy] {
        assert!(left.contains(id), "{id} was deleted: {left:?}");
    }
    for id in [&old_copy_1, &old_copy_2] {
        assert!(!left.contains(id), "{id} survived: {left:?}");
    }
    let other_left = snapshot_ids(&client, &other_source).await;
    assert!(other_left.contains(&other_copy) && other_left.contains(&other_automated));
}

#[tokio::test]
async fn expiry_keeps_the_newest_copy_even_when_expired() {
    let client = rds().await;
    let source = unique("src-");
    create_instance(&client, &source, false, vec![]).await;
    let automated = snapshot_ids(&client, &source).await[0].clone();
    let past = Utc::now() - Duration::hours(1);
    let first = unique("rdrill-first-");
    hand_copy(&client, &automated, &first, &source, past).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = unique("rdrill-second-");
    hand_copy(&client, &automated, &second, &source, past).await;
    let outcome = rds::expire_copies(&client, &settings(None), &source, 1, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome.expired, vec![first.clone()]);
    assert_eq!(outcome.kept, vec![second.clone()]);
    let left = snapshot_ids(&client, &source).await;
    assert!(left.contains(&second) && left.contains(&automated) && !left.contains(&first));
}

#[tokio::test]
async fn posture_audit_reports_each_weakness() {
    let client = rds().await;
    let good = unique("src-good-");
    create_instance(&client, &good, true, vec![]).await;
    let weak = unique("src-weak-");
    create_instance(&client, &weak, false, vec![]).await;
    client
        .modify_db_instance()
        .db_instance_identifier(&weak)
        .backup_retention_period(1)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let policy = PosturePolicy {
        min_retention_days: 7,
        rpo_hours: 26,
        require_replication: true,
    };
    let checks = rds::audit(&client, &good, &policy, Utc::now())
        .await
        .unwrap();
    let passed = |checks: &[drill_core::posture::PostureCheck], name: &str| {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name}"))
            .passed
    };
    assert!(passed(&checks, "deletion-protection"));
    assert!(passed(&checks, "backup-retention"));
    assert!(passed(&checks, "snapshot-age"));
    assert!(
        !passed(&checks, "backup-replication"),
        "moto never replicates"
    );
    let checks = rds::audit(&client, &weak, &policy, Utc::now())
        .await
        .unwrap();
    assert!(!passed(&checks, "deletion-protection"));
    assert!(!passed(&checks, "backup-retention"));
    // Read-only: nothing changed.
    let db = rds::describe_instance(&client, &weak)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.deletion_protection(), Some(false));
    assert_eq!(db.backup_retention_period(), Some(1));
    let err = rds::audit(&client, &unique("missing-"), &policy, Utc::now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"));
}

//! Snapshot copy and expiry against moto: expiry deletes only expired copies the drill made and
//! never touches automated, untagged, hand-made or other sources' snapshots. Plus the read-only
//! posture audit.

use drill_tests::cli as demo_common;

use chrono::{Duration, Utc};
use drill_core::events::SnapshotSelector;
use drill_core::guards::tag;
use drill_core::posture::PosturePolicy;
use drill_core::snapshots::SnapshotOf;
use drill_core::Classified;
use drill_engine::rds;
use drill_tests::rds::*;
use drill_tests::unique;

/// The drill's copy of `source`'s snapshot picked by `selector`, found through `from`, made
/// through `to` (its region and account), shared with `share`; kept 7 days.
async fn copy(
    from: &rds::Client,
    to: &rds::Client,
    share: &[String],
    drill: &drill_core::events::DrillContext,
    source: &str,
    selector: SnapshotSelector,
) -> Result<rds::CopyOutcome, rds::RdsError> {
    let target = rds::CopyTarget {
        client: to,
        kms_key_id: None,
        share_with: share,
    };
    let settings = settings(None);
    rds::copy_snapshot(
        from,
        SnapshotOf::Instance,
        target,
        &settings,
        drill,
        source,
        &selector,
        7,
        Utc::now(),
    )
    .await
}

/// The drill's copy of the newest automated snapshot, in the same region.
async fn copy_auto(
    client: &rds::Client,
    drill: &drill_core::events::DrillContext,
    source: &str,
) -> Result<rds::CopyOutcome, rds::RdsError> {
    copy(
        client,
        client,
        &[],
        drill,
        source,
        SnapshotSelector::NewestAutomated,
    )
    .await
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
    // The drill's copy must be the newest of this source's snapshots.
    clock_past(newest_snapshot_time(&client, &source).await).await;

    // The drill copies the newest automated snapshot.
    let settings = settings(None);
    let drill = drill(&source, Utc::now());
    let copy = copy_auto(&client, &drill, &source).await.unwrap();
    assert!(copy.created);
    assert_eq!(copy.source_snapshot, automated);
    let made = drill_copy(&client, &source, &copy.copy, &drill).await;
    // By ARN: the automated snapshot's `rds:` name is no valid tag value.
    let copied_from = &made.tags[tag::COPIED_FROM];
    assert!(
        copied_from.starts_with("arn:aws:rds:")
            && copied_from.ends_with(&format!(":snapshot:{automated}")),
        "{copied_from}"
    );
    // A retry of the same execution does not make a second copy.
    let again = copy_auto(&client, &drill, &source).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.copy, copy.copy);

    // Expiry with keep_newest = 1: the drill's fresh copy is kept, the expired ones go.
    let outcome = rds::expire_copies(
        &client,
        SnapshotOf::Instance,
        &settings,
        &source,
        1,
        Utc::now(),
    )
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
    clock_past(snapshot_created_at(&client, &source, &first).await).await;
    let second = unique("rdrill-second-");
    hand_copy(&client, &automated, &second, &source, past).await;
    assert!(
        snapshot_created_at(&client, &source, &second).await
            > snapshot_created_at(&client, &source, &first).await
    );
    let outcome = rds::expire_copies(
        &client,
        SnapshotOf::Instance,
        &settings(None),
        &source,
        1,
        Utc::now(),
    )
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

/// The restore attribute of a snapshot: the accounts it is shared with.
async fn shared_with(client: &rds::Client, id: &str) -> Vec<String> {
    rds::shared_with(client, SnapshotOf::Instance, id)
        .await
        .unwrap()
}

const OTHER_ACCOUNT: &str = "210987654321";

#[tokio::test]
async fn copy_to_another_region_shares_with_another_account_which_copies_it_in() {
    let home = rds().await; // account 123456789012, us-east-1
    let source = unique("src-");
    create_instance(&home, &source, true, vec![]).await;
    let automated = snapshot_ids(&home, &source).await[0].clone();
    assert!(automated.starts_with("rds:"), "{automated}");
    let away = rds::client_in_region(&home, "eu-west-1");
    // A look-alike in the destination that is not the drill's: it must never be shared.
    let lookalike = unique("rdrill-byhand-");
    let auto_arn = format!("arn:aws:rds:us-east-1:123456789012:snapshot:{automated}");
    away.copy_db_snapshot()
        .source_db_snapshot_identifier(&auto_arn)
        .target_db_snapshot_identifier(&lookalike)
        .tags(t(tag::SOURCE, &source))
        .send()
        .await
        .unwrap();

    let drill_a = drill(&source, Utc::now());
    let share = vec![OTHER_ACCOUNT.to_owned()];
    let outcome = copy(
        &home,
        &away,
        &share,
        &drill_a,
        &source,
        SnapshotSelector::NewestAutomated,
    )
    .await
    .unwrap();
    assert!(outcome.created);
    assert_eq!(outcome.region, "eu-west-1");
    // Named by ARN, with the colon of the automated snapshot's name intact.
    assert_eq!(outcome.source_snapshot, auto_arn);
    assert_eq!(outcome.shared, vec![outcome.copy.clone()]);
    assert!(outcome.share_pending.is_empty());

    // The copy is in eu-west-1, drill-tagged, and shared with the other account only.
    let made = drill_copy(&away, &source, &outcome.copy, &drill_a).await;
    assert_eq!(made.tags.get(tag::COPIED_FROM), Some(&auto_arn));
    assert!(made
        .arn
        .as_deref()
        .unwrap()
        .starts_with("arn:aws:rds:eu-west-1:123456789012:"));
    assert_eq!(shared_with(&away, &outcome.copy).await, share);
    assert!(
        shared_with(&away, &lookalike).await.is_empty(),
        "a snapshot the drill did not make was shared"
    );
    // Nothing new at home; the automated snapshot is untouched.
    assert_eq!(snapshot_ids(&home, &source).await, vec![automated.clone()]);

    // The other account copies the shared copy into its own account, by ARN.
    let other = client_of_account(OTHER_ACCOUNT, "eu-west-1").await;
    let copy_arn = made.arn.clone().unwrap();
    let drill_b = drill(&source, Utc::now());
    let theirs = copy(
        &other,
        &other,
        &[],
        &drill_b,
        &source,
        SnapshotSelector::Id {
            id: copy_arn.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(theirs.source_snapshot, copy_arn);
    let in_b = rds::list_snapshots(&other, &source, Some("manual"))
        .await
        .unwrap();
    let b_copy = in_b
        .iter()
        .find(|s| s.id == theirs.copy)
        .expect("copy in the other account");
    assert!(b_copy
        .arn
        .as_deref()
        .unwrap()
        .starts_with(&format!("arn:aws:rds:eu-west-1:{OTHER_ACCOUNT}:")));
    assert_eq!(b_copy.tags.get(tag::EXECUTION), Some(&drill_b.drill_id));
    // The original copy is still there, still shared.
    assert_eq!(shared_with(&away, &outcome.copy).await, share);

    // A snapshot of the same region that was not shared: the other account finds nothing.
    let err = copy(
        &other,
        &other,
        &[],
        &drill(&source, Utc::now()),
        &source,
        SnapshotSelector::Id {
            id: format!("arn:aws:rds:eu-west-1:123456789012:snapshot:{lookalike}"),
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no snapshot found"), "{err}");
}

#[tokio::test]
async fn sharing_with_all_is_refused_before_anything_is_copied() {
    let home = rds().await;
    let source = unique("src-");
    create_instance(&home, &source, true, vec![]).await;
    let before = snapshot_ids(&home, &source).await;
    let share = vec!["all".to_owned()];
    let err = copy(
        &home,
        &home,
        &share,
        &drill(&source, Utc::now()),
        &source,
        SnapshotSelector::NewestAutomated,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("public"), "{err}");
    assert_eq!(err.kind(), drill_core::ErrorKind::InvalidInput);
    assert_eq!(snapshot_ids(&home, &source).await, before);
}

/// `drill copy-snapshot` against moto, as a person runs it.
fn drill_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = demo_common::drill()
        .env("AWS_ENDPOINT_URL", drill_tests::moto_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = demo_common::text(&out);
    (out.status.code(), stdout, stderr)
}

#[tokio::test]
async fn the_cli_copies_to_another_region_and_refuses_a_public_share() {
    let home = rds().await;
    let source = unique("src-");
    create_instance(&home, &source, true, vec![]).await;
    let (code, stdout, stderr) = drill_cli(&[
        "copy-snapshot",
        "--source",
        &source,
        "--to-region",
        "eu-west-1",
        "--share-with",
        OTHER_ACCOUNT,
        "--expire-keep",
        "1",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let copy = out["copy"]["copy"].as_str().unwrap().to_owned();
    assert_eq!(out["copy"]["region"], "eu-west-1");
    assert_eq!(out["copy"]["shared"], serde_json::json!([copy]));
    assert_eq!(out["expiry"]["kept"], serde_json::json!([copy]));
    let away = rds::client_in_region(&home, "eu-west-1");
    assert!(snapshot_ids(&away, &source).await.contains(&copy));

    let before = snapshot_ids(&away, &source).await;
    let (code, _, stderr) = drill_cli(&[
        "copy-snapshot",
        "--source",
        &source,
        "--to-region",
        "eu-west-1",
        "--share-with",
        "all",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("public"), "{stderr}");
    assert_eq!(snapshot_ids(&away, &source).await, before, "nothing copied");
}

#[tokio::test]
async fn another_account_restores_a_shared_drill_copy_by_arn() {
    let home = rds().await;
    let source = unique("src-");
    create_instance(&home, &source, true, vec![]).await;
    let share = vec![OTHER_ACCOUNT.to_owned()];
    let made = copy(
        &home,
        &home,
        &share,
        &drill(&source, Utc::now()),
        &source,
        SnapshotSelector::NewestAutomated,
    )
    .await
    .unwrap();
    let arn = format!("arn:aws:rds:us-east-1:123456789012:snapshot:{}", made.copy);

    // The backup account restores it into a temp instance of its own, with its own network.
    let (other, key) = client_and_key_of_account(OTHER_ACCOUNT, "us-east-1").await;
    let net = network_as(&other, &key, "us-east-1").await;
    let drill_b = drill(&source, Utc::now());
    let started = rds::restore(
        &other,
        &settings(Some(&net)),
        &drill_b,
        &rds::RestoreInput {
            source_instance: source.clone(),
            selector: SnapshotSelector::Id { id: arn.clone() },
            max_age_hours: Some(26),
            database: "app".into(),
            parameter_group: None,
        },
        Utc::now(),
    )
    .await
    .expect("restore of a snapshot shared from another account");
    assert_eq!(started.backup.id, arn);
    let temp = match &started.temp {
        drill_core::events::TempResource::RdsInstance { identifier, .. } => identifier.clone(),
        other => panic!("{other:?}"),
    };
    let db = rds::describe_instance(&other, &temp)
        .await
        .unwrap()
        .expect("temp in the other account");
    assert!(db
        .db_instance_arn()
        .unwrap()
        .contains(&format!(":{OTHER_ACCOUNT}:db:")));
    let tags = rds::instance_facts(&db).tags;
    assert_eq!(tags.get(tag::RESTORED_FROM), Some(&arn));
    assert_eq!(tags.get(tag::EXECUTION), Some(&drill_b.drill_id));
    // Nothing appeared in the sharing account.
    assert!(rds::describe_instance(&home, &temp)
        .await
        .unwrap()
        .is_none());
}

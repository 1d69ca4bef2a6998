//! Aurora cluster snapshot copies against moto (with `fix_rds_snapshot_arns`): the drill copies a
//! source cluster's newest automated snapshot, within the region or to another, shares only its
//! own copies with the configured accounts, and expires only expired drill copies, never an
//! automated, untagged, hand-made or other source's cluster snapshot. Another account restores
//! a shared copy by ARN; an unshared one it cannot see.

use aws_sdk_rds::error::ProvideErrorMetadata;
use chrono::{DateTime, Duration, Utc};
use drill_core::events::{DrillContext, SnapshotSelector};
use drill_core::guards::tag;
use drill_core::snapshots::{SnapshotFacts, SnapshotOf};
use drill_core::{Classified, ErrorKind};
use drill_engine::rds;
use drill_tests::aurora::*;
use drill_tests::rds::*;
use drill_tests::unique;

const OTHER_ACCOUNT: &str = "210987654321";

/// The error code of a call AWS (and the fixed moto) must refuse.
fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
) -> String {
    let err = result.expect_err("the call must be refused");
    err.code().unwrap_or_default().to_owned()
}
const HOME: &str = "arn:aws:rds:us-east-1:123456789012";

/// The drill's copy of cluster `source`'s snapshot `selector` picks, found through `from`, made
/// through `to`, shared with `share`, encrypted with `kms`; kept 7 days.
async fn copy(
    from: &rds::Client,
    to: &rds::Client,
    share: &[String],
    kms: Option<&str>,
    drill: &DrillContext,
    source: &str,
    selector: SnapshotSelector,
) -> Result<rds::CopyOutcome, rds::RdsError> {
    let target = rds::CopyTarget {
        client: to,
        kms_key_id: kms,
        share_with: share,
    };
    rds::copy_snapshot(
        from,
        SnapshotOf::Cluster,
        target,
        &settings(None),
        drill,
        source,
        &selector,
        7,
        Utc::now(),
    )
    .await
}

/// Every cluster snapshot of `cluster` in `client`'s region (by filter: the cluster may not be
/// there).
async fn cluster_snapshots(client: &rds::Client, cluster: &str) -> Vec<SnapshotFacts> {
    let out = client
        .describe_db_cluster_snapshots()
        .filters(
            aws_sdk_rds::types::Filter::builder()
                .name("db-cluster-id")
                .values(cluster)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.db_cluster_snapshots()
        .iter()
        .map(rds::cluster_snapshot_facts)
        .collect()
}

async fn ids(client: &rds::Client, cluster: &str) -> Vec<String> {
    let mut ids: Vec<String> = cluster_snapshots(client, cluster)
        .await
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids
}

/// The source's automated cluster snapshot (moto makes one when the cluster is created).
async fn automated(client: &rds::Client, cluster: &str) -> String {
    let autos: Vec<String> = cluster_snapshots(client, cluster)
        .await
        .into_iter()
        .filter(|s| s.id.starts_with("rds:"))
        .map(|s| s.id)
        .collect();
    assert_eq!(autos.len(), 1, "{autos:?}");
    autos[0].clone()
}

/// A drill-style copy made by hand by an earlier execution, tagged as a drill copy of `source`.
async fn hand_copy(
    client: &rds::Client,
    from: &str,
    id: &str,
    source: &str,
    expires: DateTime<Utc>,
) {
    let tags = tag::snapshot_copy_tags(
        "exec-earlier",
        source,
        expires,
        &format!("{HOME}:cluster-snapshot:{from}"),
    );
    client
        .copy_db_cluster_snapshot()
        .source_db_cluster_snapshot_identifier(from)
        .target_db_cluster_snapshot_identifier(id)
        .set_tags(Some(aws_tags(&tags)))
        .send()
        .await
        .unwrap();
}

/// The copy `id` of `source` as `client`'s region lists it, checked to carry every drill tag.
async fn drill_copy(
    client: &rds::Client,
    source: &str,
    id: &str,
    d: &DrillContext,
) -> SnapshotFacts {
    let made = cluster_snapshots(client, source)
        .await
        .into_iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("copy {id} not listed"));
    assert_copy_tags(&made, source, d);
    assert_eq!(made.kind, drill_core::snapshots::SnapshotKind::Manual);
    made
}

async fn shared_with(client: &rds::Client, id: &str) -> Vec<String> {
    rds::shared_with(client, SnapshotOf::Cluster, id)
        .await
        .unwrap()
}

#[tokio::test]
async fn cluster_copies_are_made_once_per_execution_and_expiry_touches_only_expired_drill_copies() {
    let client = rds().await;
    let source = unique("aur-src-");
    let manual = prod_cluster(&client, &source, true).await;
    let other_source = unique("aur-other-");
    prod_cluster(&client, &other_source, true).await;
    let auto = automated(&client, &source).await;
    let other_auto = automated(&client, &other_source).await;

    let past = Utc::now() - Duration::days(1);
    let (old_1, old_2) = (unique("rdrill-old1-"), unique("rdrill-old2-"));
    hand_copy(&client, &auto, &old_1, &source, past).await;
    hand_copy(&client, &auto, &old_2, &source, past).await;
    // A person's snapshot, an untagged one with the drill prefix, another source's expired copy.
    let person = unique("before-upgrade-");
    let untagged = unique("rdrill-untagged-");
    for id in [&person, &untagged] {
        client
            .create_db_cluster_snapshot()
            .db_cluster_identifier(&source)
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
            .unwrap();
    }
    let other_copy = unique("rdrill-othersrc-");
    hand_copy(&client, &other_auto, &other_copy, &other_source, past).await;
    // This source's own snapshot, copied and tagged as another source's copy: never expired.
    let mislabelled = unique("rdrill-mislabelled-");
    hand_copy(&client, &auto, &mislabelled, &other_source, past).await;
    // Drill-tagged but made by no execution (no execution tag): never expired.
    let unowned = unique("rdrill-unowned-");
    let mut tags = tag::snapshot_copy_tags(
        "x",
        &source,
        past,
        "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:x",
    );
    tags.remove(tag::EXECUTION);
    client
        .copy_db_cluster_snapshot()
        .source_db_cluster_snapshot_identifier(&auto)
        .target_db_cluster_snapshot_identifier(&unowned)
        .set_tags(Some(aws_tags(&tags)))
        .send()
        .await
        .unwrap();
    let d = started_drill(&source).await;

    let made = copy(
        &client,
        &client,
        &[],
        None,
        &d,
        &source,
        SnapshotSelector::NewestAutomated,
    )
    .await
    .unwrap();
    assert!(made.created);
    assert_eq!(
        made.source_snapshot, auto,
        "the newest automated, not {manual}"
    );
    assert_eq!(made.region, "us-east-1");
    let facts = drill_copy(&client, &source, &made.copy, &d).await;
    // By ARN: the automated snapshot's `rds:` name is no valid tag value.
    assert_eq!(
        facts.tags[tag::COPIED_FROM],
        format!("{HOME}:cluster-snapshot:{auto}")
    );
    assert!(facts
        .arn
        .unwrap()
        .starts_with(&format!("{HOME}:cluster-snapshot:rdrill-")));
    // A retry of the same execution makes no second copy.
    let again = copy(
        &client,
        &client,
        &[],
        None,
        &d,
        &source,
        SnapshotSelector::NewestAutomated,
    )
    .await
    .unwrap();
    assert!(!again.created);
    assert_eq!(again.copy, made.copy);

    let outcome = rds::expire_copies(
        &client,
        SnapshotOf::Cluster,
        &settings(None),
        &source,
        1,
        Utc::now(),
    )
    .await
    .unwrap();
    let mut expired = outcome.expired.clone();
    expired.sort();
    let mut want = vec![old_1.clone(), old_2.clone()];
    want.sort();
    assert_eq!(expired, want, "{outcome:?}");
    assert!(outcome.kept.contains(&made.copy), "{outcome:?}");
    for (id, guard) in [
        (&untagged, "role-tag"),
        (&mislabelled, "owner"),
        (&unowned, "created-by-drill"),
    ] {
        assert!(
            outcome
                .refused
                .iter()
                .any(|r| &r.identifier == id && r.guard == guard),
            "{id} not refused by {guard}: {outcome:?}"
        );
    }
    let left = ids(&client, &source).await;
    for id in [
        &auto,
        &manual,
        &person,
        &untagged,
        &mislabelled,
        &unowned,
        &made.copy,
    ] {
        assert!(left.contains(id), "{id} was deleted: {left:?}");
    }
    for id in [&old_1, &old_2] {
        assert!(!left.contains(id), "{id} survived: {left:?}");
    }
    let other_left = ids(&client, &other_source).await;
    assert!(other_left.contains(&other_copy) && other_left.contains(&other_auto));
}

#[tokio::test]
async fn a_cluster_copy_in_another_region_is_shared_and_the_other_account_restores_it() {
    let home = rds().await; // account 123456789012, us-east-1
    let source = unique("aur-src-");
    prod_cluster(&home, &source, true).await;
    let auto = automated(&home, &source).await;
    let auto_arn = format!("{HOME}:cluster-snapshot:{auto}");
    let away = rds::client_in_region(&home, "eu-west-1");
    // A look-alike in the destination with the drill's role and source tags but made by no
    // execution: never shared.
    let lookalike = unique("rdrill-byhand-");
    away.copy_db_cluster_snapshot()
        .source_db_cluster_snapshot_identifier(&auto_arn)
        .target_db_cluster_snapshot_identifier(&lookalike)
        .tags(t(tag::SOURCE, &source))
        .tags(t(tag::ROLE, tag::ROLE_SNAPSHOT_COPY))
        .send()
        .await
        .unwrap();

    let d = started_drill(&source).await;
    let share = vec![OTHER_ACCOUNT.to_owned()];
    let out = copy(
        &home,
        &away,
        &share,
        None,
        &d,
        &source,
        SnapshotSelector::NewestAutomated,
    )
    .await
    .unwrap();
    assert!(out.created);
    assert_eq!(out.region, "eu-west-1");
    assert_eq!(out.source_snapshot, auto_arn, "across regions by ARN");
    assert_eq!(out.shared, vec![out.copy.clone()]);
    let made = drill_copy(&away, &source, &out.copy, &d).await;
    let copy_arn = made.arn.clone().unwrap();
    assert!(copy_arn.starts_with("arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:"));
    assert_eq!(shared_with(&away, &out.copy).await, share);
    assert!(
        shared_with(&away, &lookalike).await.is_empty(),
        "a look-alike was shared"
    );
    // Nothing new at home.
    assert!(ids(&home, &source)
        .await
        .iter()
        .all(|id| !id.starts_with("rdrill-")));

    // The other account sees the shared copy by ARN and restores it into a temp of its own.
    let (other, key) = client_and_key_of_account(OTHER_ACCOUNT, "eu-west-1").await;
    let net = network_as(&other, &key, "eu-west-1").await;
    let cfg = settings(Some(&net));
    let d_b = started_drill(&source).await;
    let mut wanted = input(&source);
    wanted.selector = SnapshotSelector::Id {
        id: copy_arn.clone(),
    };
    let started = rds::restore_cluster(&other, &cfg, &d_b, &wanted, Utc::now())
        .await
        .expect("restore of a cluster snapshot shared from another account");
    assert_eq!(started.backup.id, copy_arn);
    let (id, instance) = names(&started);
    wait_available(&other, &cfg, &d_b, &started).await;
    let gone = rds::delete_cluster_temp(&other, &cfg, &d_b, &id, &instance)
        .await
        .unwrap();
    assert_eq!(gone.deleted, [instance, id]);
    // It can copy it into its own account too, by ARN.
    let theirs = copy(
        &other,
        &other,
        &[],
        None,
        &drill(&source, Utc::now()),
        &source,
        SnapshotSelector::Id {
            id: copy_arn.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(theirs.source_snapshot, copy_arn);
    assert!(ids(&other, &source).await.contains(&theirs.copy));

    // The look-alike was not shared: the other account finds nothing under its ARN.
    let err = copy(
        &other,
        &other,
        &[],
        None,
        &drill(&source, Utc::now()),
        &source,
        SnapshotSelector::Id {
            id: format!("arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:{lookalike}"),
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no snapshot found"), "{err}");
}

#[tokio::test]
async fn a_key_for_an_unencrypted_cluster_and_a_public_share_are_refused_before_any_copy() {
    let home = rds().await;
    let source = unique("aur-src-");
    prod_cluster(&home, &source, true).await;
    let before = ids(&home, &source).await;
    let d = started_drill(&source).await;
    let key = create_kms_key();
    let err = copy(
        &home,
        &home,
        &[],
        Some(&key),
        &d,
        &source,
        SnapshotSelector::NewestAutomated,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("remove kms_key_id"), "{err}");
    let share = vec!["all".to_owned()];
    let err = copy(
        &home,
        &home,
        &share,
        None,
        &d,
        &source,
        SnapshotSelector::NewestAutomated,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("public"), "{err}");
    assert_eq!(ids(&home, &source).await, before, "nothing copied");
}

#[tokio::test]
async fn moto_resolves_cluster_snapshot_arns_and_keys_as_aws_does() {
    let home = rds().await;
    let source = unique("aur-src-");
    let manual = prod_cluster(&home, &source, true).await;
    let arn = format!("{HOME}:cluster-snapshot:{manual}");
    let other = client_of_account(OTHER_ACCOUNT, "us-east-1").await;
    // Unshared: another account can neither see nor copy it (moto ignored the ARN's account).
    assert_eq!(
        refused(
            other
                .describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(&arn)
                .include_shared(true)
                .send()
                .await
        ),
        "DBClusterSnapshotNotFoundFault"
    );
    assert_eq!(
        refused(
            other
                .copy_db_cluster_snapshot()
                .source_db_cluster_snapshot_identifier(&arn)
                .target_db_cluster_snapshot_identifier(unique("stolen-"))
                .send()
                .await
        ),
        "DBClusterSnapshotNotFoundFault"
    );
    // Shared: it is listed under its ARN as a shared snapshot, and the other account still
    // cannot change who it is shared with.
    home.modify_db_cluster_snapshot_attribute()
        .db_cluster_snapshot_identifier(&manual)
        .attribute_name("restore")
        .values_to_add(OTHER_ACCOUNT)
        .send()
        .await
        .unwrap();
    let seen = other
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(&arn)
        .include_shared(true)
        .send()
        .await
        .unwrap();
    let seen = rds::cluster_snapshot_facts(&seen.db_cluster_snapshots()[0]);
    assert_eq!(
        (seen.id.as_str(), seen.kind.clone()),
        (
            arn.as_str(),
            drill_core::snapshots::SnapshotKind::Other("shared".into())
        )
    );
    assert_eq!(
        refused(
            other
                .modify_db_cluster_snapshot_attribute()
                .db_cluster_snapshot_identifier(&arn)
                .attribute_name("restore")
                .values_to_add("all")
                .send()
                .await
        ),
        "DBClusterSnapshotNotFoundFault"
    );
    // Another region's cluster snapshot by ARN only as the source of a copy.
    let away = rds::client_in_region(&home, "eu-west-1");
    assert_eq!(
        refused(
            away.describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(&arn)
                .send()
                .await
        ),
        "DBClusterSnapshotNotFoundFault"
    );
    // Listing by DBClusterIdentifier needs an existing cluster; the db-cluster-id filter does not
    // (moto listed by identifier anywhere).
    assert_eq!(
        refused(
            away.describe_db_cluster_snapshots()
                .db_cluster_identifier(&source)
                .send()
                .await
        ),
        "DBClusterNotFoundFault"
    );
    // An automated snapshot by identifier needs SnapshotType=automated.
    let auto = automated(&home, &source).await;
    assert_eq!(
        refused(
            home.describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(&auto)
                .send()
                .await
        ),
        "DBClusterSnapshotNotFoundFault"
    );
    let found = home
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(&auto)
        .snapshot_type("automated")
        .send()
        .await
        .unwrap();
    assert_eq!(found.db_cluster_snapshots().len(), 1);
    // CopyDBClusterSnapshot refuses a KmsKeyId for an unencrypted snapshot (moto encrypted it).
    assert_eq!(
        refused(
            home.copy_db_cluster_snapshot()
                .source_db_cluster_snapshot_identifier(&manual)
                .target_db_cluster_snapshot_identifier(unique("keyed-"))
                .kms_key_id(create_kms_key())
                .send()
                .await
        ),
        "InvalidParameterCombination"
    );
}

/// `drill copy-snapshot --cluster` against moto, as a person runs it.
#[tokio::test]
async fn the_cli_copies_a_cluster_snapshot_to_another_region_and_shares_it() {
    let home = rds().await;
    let source = unique("aur-src-");
    prod_cluster(&home, &source, true).await;
    let out = drill_tests::cli::drill()
        .env("AWS_ENDPOINT_URL", drill_tests::moto_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .args([
            "copy-snapshot",
            "--cluster",
            "--source",
            &source,
            "--to-region",
            "eu-west-1",
            "--share-with",
            OTHER_ACCOUNT,
            "--expire-keep",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = drill_tests::cli::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let copy = v["copy"]["copy"].as_str().unwrap().to_owned();
    assert_eq!(v["copy"]["shared"], serde_json::json!([copy]));
    assert_eq!(v["expiry"]["kept"], serde_json::json!([copy]));
    let away = rds::client_in_region(&home, "eu-west-1");
    assert!(ids(&away, &source).await.contains(&copy));
    assert_eq!(shared_with(&away, &copy).await, [OTHER_ACCOUNT]);
}

//! The posture audit of Aurora cluster sources against moto (with `fix_rds_cluster_automated_backups`):
//! a live cluster's automated backups do not survive its deletion (Aurora cannot replicate them
//! to another region; retaining them is the delete call's choice), a cluster deleted with
//! `DeleteAutomatedBackups=false` leaves retained backups that pass, and one deleted without
//! leaves nothing to audit.

use chrono::Utc;
use drill_core::posture::{PostureCheck, PosturePolicy};
use drill_engine::rds::{self, RdsError};
use drill_tests::aurora::{delete_cluster, prod_cluster};
use drill_tests::rds::rds;
use drill_tests::unique;

async fn cluster_with_snapshot(client: &rds::Client, protected: bool) -> String {
    let id = unique("aur-posture-");
    prod_cluster(client, &id, protected).await;
    id
}

fn by_name<'a>(checks: &'a [PostureCheck], name: &str) -> &'a PostureCheck {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} in {checks:?}"))
}

#[tokio::test]
async fn a_live_clusters_backups_would_not_survive_and_retained_ones_do() {
    let client = rds().await;
    let policy = PosturePolicy::default();
    let id = cluster_with_snapshot(&client, true).await;
    let checks = rds::audit_cluster(&client, &id, &policy, Utc::now())
        .await
        .unwrap();
    let survive = by_name(&checks, "backups-survive-deletion");
    assert!(!survive.passed, "{survive:?}");
    assert!(
        survive.detail.contains("instance-only"),
        "{}",
        survive.detail
    );
    // The rest is read from the cluster: protection, retention 7 days, the manual snapshot.
    for name in ["deletion-protection", "backup-retention", "snapshot-age"] {
        assert!(by_name(&checks, name).passed, "{name}: {checks:?}");
    }
    assert!(by_name(&checks, "snapshot-age")
        .detail
        .contains(&format!("{id}-manual")));

    // Deleted, keeping its automated backups: the only check left passes, naming them.
    client
        .modify_db_cluster()
        .db_cluster_identifier(&id)
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    delete_cluster(&client, &id, true).await;
    let checks = rds::audit_cluster(&client, &id, &policy, Utc::now())
        .await
        .unwrap();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert!(checks[0].passed, "{checks:?}");
    assert!(
        checks[0].detail.contains(":cluster-auto-backup:"),
        "{checks:?}"
    );
}

#[tokio::test]
async fn an_unprotected_cluster_fails_protection_and_a_cluster_deleted_with_its_backups_is_refused()
{
    let client = rds().await;
    let policy = PosturePolicy::default();
    let id = cluster_with_snapshot(&client, false).await;
    let checks = rds::audit_cluster(&client, &id, &policy, Utc::now())
        .await
        .unwrap();
    let protection = by_name(&checks, "deletion-protection");
    assert!(!protection.passed);
    assert!(protection.detail.contains("cluster"), "{protection:?}");
    // Deleted with its automated backups (the default): nothing left to audit or restore.
    delete_cluster(&client, &id, false).await;
    let err = rds::audit_cluster(&client, &id, &policy, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RdsError::InvalidInput(m) if m.contains("no retained automated backups")),
        "{err}"
    );
}

//! Aurora PostgreSQL fixtures against moto: a production cluster with a manual snapshot, the
//! drill's cluster input, and the wait loop run as the state machine runs it.

use chrono::Utc;
use drill_core::deployment::aurora::AuroraInstance;
use drill_core::events::{DrillContext, RestoreStarted, TempResource, TempState};
use drill_engine::rds::{self, ClusterInput, RdsSettings};

use crate::rds::{clock_past, drill, t};

/// A production Aurora PostgreSQL cluster (deletion protection as asked) with one manual
/// snapshot; returns the snapshot's identifier.
pub async fn prod_cluster(client: &rds::Client, id: &str, protected: bool) -> String {
    client
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .engine_version("16.4")
        .master_username("drill_admin")
        .manage_master_user_password(true)
        .backup_retention_period(7)
        .deletion_protection(protected)
        .tags(t("env", "prod"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create cluster {id}: {e:?}"));
    let snap = format!("{id}-manual");
    client
        .create_db_cluster_snapshot()
        .db_cluster_identifier(id)
        .db_cluster_snapshot_identifier(&snap)
        .send()
        .await
        .unwrap();
    snap
}

pub fn input(source: &str) -> ClusterInput {
    ClusterInput {
        source_cluster: source.to_owned(),
        selector: drill_core::events::SnapshotSelector::NewestManual,
        max_age_hours: None,
        database: "app".into(),
        cluster_parameter_group: None,
        instance: AuroraInstance::default(),
    }
}

pub fn names(started: &RestoreStarted) -> (String, String) {
    match &started.temp {
        TempResource::RdsCluster {
            identifier,
            instance,
            ..
        } => (identifier.clone(), instance.clone()),
        other => panic!("{other:?}"),
    }
}

pub async fn cluster(client: &rds::Client, id: &str) -> aws_sdk_rds::types::DbCluster {
    rds::describe_cluster(client, id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("cluster {id} exists"))
}

pub async fn status(
    client: &rds::Client,
    cfg: &RdsSettings,
    drill: &DrillContext,
    started: &RestoreStarted,
) -> drill_core::events::StatusReport {
    let (id, instance) = names(started);
    rds::cluster_status(
        client,
        cfg,
        drill,
        &id,
        &instance,
        "app",
        &AuroraInstance::default(),
        None,
        Utc::now(),
    )
    .await
    .unwrap()
}

/// Runs the wait loop as the state machine does (status; manage_secret on `secret_needed`)
/// until the temp is available; returns the states seen.
pub async fn wait_available(
    client: &rds::Client,
    cfg: &RdsSettings,
    drill: &DrillContext,
    started: &RestoreStarted,
) -> (Vec<TempState>, drill_core::events::StatusReport) {
    let mut seen = Vec::new();
    for _ in 0..12 {
        let report = status(client, cfg, drill, started).await;
        seen.push(report.state);
        match report.state {
            TempState::Available => return (seen, report),
            TempState::SecretNeeded => {
                let (id, _) = names(started);
                rds::enable_cluster_secret(client, cfg, drill, &id)
                    .await
                    .unwrap();
            }
            TempState::Creating => {}
            other => panic!("{other:?}: {report:?}"),
        }
    }
    panic!("not available after 12 status calls: {seen:?}")
}

pub async fn started_drill(source: &str) -> DrillContext {
    let d = drill(source, Utc::now());
    clock_past(d.started_at).await;
    d
}

/// Deletes a cluster (no final snapshot), keeping its automated backups as retained ones or not.
pub async fn delete_cluster(client: &rds::Client, id: &str, retain: bool) {
    client
        .delete_db_cluster()
        .db_cluster_identifier(id)
        .skip_final_snapshot(true)
        .delete_automated_backups(!retain)
        .send()
        .await
        .unwrap();
}

//! The AWS (and PostgreSQL) calls the restore handler makes, behind one small trait so the
//! dispatch is unit-tested with a fake; [`RestoreAws`] for [`Deps`] is the SDK-backed one.

use chrono::{DateTime, Utc};
use drill_core::deployment::aurora::AuroraInstance;
use drill_core::deployment::DeploymentConfig;
use drill_core::events::{ConnectionSpec, DrillContext, SnapshotCopySpec, SnapshotSelector};
use drill_core::snapshots::SnapshotOf;
use drill_engine::backupset::{self, TempDbSettings};
use drill_engine::lambda::{database, to_output, HandlerError};
use drill_engine::rds::{self, ClusterInput, PointInTimeInput, RestoreInput};
use drill_engine::store::Store;
use serde_json::Value;

use crate::Deps;

/// A temp cluster as the status call checks it: names from the checked event, the instance's
/// settings from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ClusterTemp<'a> {
    pub identifier: &'a str,
    pub instance: &'a str,
    pub database: &'a str,
    pub spec: &'a AuroraInstance,
}

/// The calls the restore handler needs; each answers with the step's output.
// Only used with concrete types (the SDK deps, the test fake): no `Send` bound needed.
#[allow(async_fn_in_trait)]
pub trait RestoreAws {
    /// The deployment configuration, as deployed now.
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError>;
    /// Starts restoring the selected snapshot of an RDS source into a temp instance.
    async fn restore_snapshot(
        &self,
        drill: &DrillContext,
        input: &RestoreInput,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError>;
    /// Starts restoring an RDS source to a point in time into a temp instance.
    async fn restore_point_in_time(
        &self,
        drill: &DrillContext,
        input: &RestoreInput,
        pitr: &PointInTimeInput,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError>;
    /// Starts restoring an Aurora source into a temp cluster: its snapshot, or with `pitr` a
    /// point in time.
    async fn restore_cluster(
        &self,
        drill: &DrillContext,
        input: &ClusterInput,
        pitr: Option<&PointInTimeInput>,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError>;
    /// One status call of a temp cluster (creates its instance once the cluster is available).
    async fn cluster_status(
        &self,
        drill: &DrillContext,
        temp: ClusterTemp<'_>,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError>;
    /// Turns on the RDS-managed master secret of a temp cluster.
    async fn manage_cluster_secret(
        &self,
        drill: &DrillContext,
        identifier: &str,
    ) -> Result<Value, HandlerError>;
    /// Restores the newest backup set under `store` into a temp database on `server`.
    #[allow(clippy::too_many_arguments)]
    async fn restore_backup_set(
        &self,
        drill: &DrillContext,
        store: &str,
        server: &ConnectionSpec,
        max_age_hours: Option<u32>,
        no_owner: bool,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError>;
    /// One describe of a temp instance.
    async fn instance_status(
        &self,
        drill: &DrillContext,
        identifier: &str,
        database: &str,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError>;
    /// Whether a temp database on `server` is there.
    async fn database_status(
        &self,
        drill: &DrillContext,
        server: &ConnectionSpec,
        name: &str,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError>;
    /// Turns on the RDS-managed master secret of a temp instance.
    async fn manage_secret(
        &self,
        drill: &DrillContext,
        identifier: &str,
    ) -> Result<Value, HandlerError>;
    /// Copies the newest automated snapshot of instance or cluster `source` as `copy` says.
    async fn copy_snapshot(
        &self,
        drill: &DrillContext,
        of: SnapshotOf,
        source: &str,
        copy: &SnapshotCopySpec,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError>;
}

impl RestoreAws for Deps {
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError> {
        Deps::deployment(self, self.config.config_url.as_deref()).await
    }

    async fn restore_snapshot(
        &self,
        drill: &DrillContext,
        input: &RestoreInput,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        to_output(&rds::restore(&self.rds, &self.config.rds, drill, input, now).await?)
    }

    async fn restore_point_in_time(
        &self,
        drill: &DrillContext,
        input: &RestoreInput,
        pitr: &PointInTimeInput,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        let started =
            rds::restore_point_in_time(&self.rds, &self.config.rds, drill, input, pitr, now)
                .await?;
        to_output(&started)
    }

    async fn restore_cluster(
        &self,
        drill: &DrillContext,
        input: &ClusterInput,
        pitr: Option<&PointInTimeInput>,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        let (client, settings) = (&self.rds, &self.config.rds);
        let started = match pitr {
            None => rds::restore_cluster(client, settings, drill, input, now).await?,
            Some(p) => {
                rds::restore_cluster_point_in_time(client, settings, drill, input, p, now).await?
            }
        };
        to_output(&started)
    }

    async fn cluster_status(
        &self,
        drill: &DrillContext,
        temp: ClusterTemp<'_>,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        let report = rds::cluster_status(
            &self.rds,
            &self.config.rds,
            drill,
            temp.identifier,
            temp.instance,
            temp.database,
            temp.spec,
            since,
            now,
        )
        .await?;
        to_output(&report)
    }

    async fn manage_cluster_secret(
        &self,
        drill: &DrillContext,
        identifier: &str,
    ) -> Result<Value, HandlerError> {
        let done =
            rds::enable_cluster_secret(&self.rds, &self.config.rds, drill, identifier).await?;
        to_output(&done)
    }

    async fn restore_backup_set(
        &self,
        drill: &DrillContext,
        store: &str,
        server: &ConnectionSpec,
        max_age_hours: Option<u32>,
        no_owner: bool,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        let store = Store::open(store, Some(&self.s3))?;
        let server = database(server, self.config.allow_plaintext, None, &self.aws).await?;
        let settings = TempDbSettings::from_rds(&self.config.rds);
        let started = backupset::restore(
            &store,
            &server,
            drill,
            &settings,
            max_age_hours,
            no_owner,
            now,
        )
        .await?;
        to_output(&started)
    }

    async fn instance_status(
        &self,
        drill: &DrillContext,
        identifier: &str,
        database: &str,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        let report = rds::status(
            &self.rds,
            &self.config.rds,
            drill,
            identifier,
            database,
            since,
            now,
        )
        .await?;
        to_output(&report)
    }

    async fn database_status(
        &self,
        drill: &DrillContext,
        server: &ConnectionSpec,
        name: &str,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        let server = database(server, self.config.allow_plaintext, None, &self.aws).await?;
        to_output(&backupset::status(&server, drill, name, since, now).await?)
    }

    async fn manage_secret(
        &self,
        drill: &DrillContext,
        identifier: &str,
    ) -> Result<Value, HandlerError> {
        let done = drill_engine::rds_secret::enable_managed_secret(
            &self.rds,
            &self.config.rds,
            drill,
            identifier,
        )
        .await?;
        to_output(&done)
    }

    async fn copy_snapshot(
        &self,
        drill: &DrillContext,
        of: SnapshotOf,
        source: &str,
        copy: &SnapshotCopySpec,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        let client = rds::client_for_region(&self.rds, copy.region.as_deref());
        let target = rds::CopyTarget {
            client: &client,
            kms_key_id: copy.kms_key_id.as_deref(),
            share_with: &copy.share_with,
        };
        let outcome = rds::copy_snapshot(
            &self.rds,
            of,
            target,
            &self.config.rds,
            drill,
            source,
            &SnapshotSelector::NewestAutomated,
            copy.retention_days,
            now,
        )
        .await?;
        to_output(&outcome)
    }
}

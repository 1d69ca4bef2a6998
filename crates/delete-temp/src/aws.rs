//! The AWS (and PostgreSQL) calls the delete-temp handler makes, behind one small trait so the
//! dispatch is unit-tested with a fake; [`DeleteAws`] for [`Deps`] is the SDK-backed one. Every
//! guard of `drill_core::guards` runs inside these calls, next to the facts it judges.

use chrono::{DateTime, Utc};
use drill_core::deployment::DeploymentConfig;
use drill_core::events::{ConnectionSpec, DrillContext, SnapshotCopySpec};
use drill_core::snapshots::SnapshotOf;
use drill_engine::backupset::{self, TempDbSettings};
use drill_engine::lambda::{database, to_output, HandlerError};
use drill_engine::rds;
use serde_json::Value;

use crate::Deps;

/// The calls the delete-temp handler needs; each answers with the step's output.
// Only used with concrete types (the SDK deps, the test fake): no `Send` bound needed.
#[allow(async_fn_in_trait)]
pub trait DeleteAws {
    /// The deployment configuration, as deployed now.
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError>;
    /// Deletes the temp instance `identifier` behind the guards.
    async fn delete_instance(
        &self,
        drill: &DrillContext,
        identifier: &str,
    ) -> Result<Value, HandlerError>;
    /// Deletes the temp cluster `identifier` and its instances behind the guards.
    async fn delete_cluster(
        &self,
        drill: &DrillContext,
        identifier: &str,
        instance: &str,
    ) -> Result<Value, HandlerError>;
    /// Drops the temp database `name` on `server` behind the guards.
    async fn delete_database(
        &self,
        drill: &DrillContext,
        server: &ConnectionSpec,
        name: &str,
    ) -> Result<Value, HandlerError>;
    /// Deletes the expired drill copies of instance or cluster `source`'s snapshots that
    /// `copy` made.
    async fn expire_copies(
        &self,
        of: SnapshotOf,
        source: &str,
        copy: &SnapshotCopySpec,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError>;
    /// Deletes the drill temps past their expires-at at `now`.
    async fn janitor(&self, now: DateTime<Utc>) -> Result<Value, HandlerError>;
}

impl DeleteAws for Deps {
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError> {
        Deps::deployment(self, self.config.config_url.as_deref()).await
    }

    async fn delete_instance(
        &self,
        drill: &DrillContext,
        identifier: &str,
    ) -> Result<Value, HandlerError> {
        to_output(&rds::delete_temp(&self.rds, &self.config.rds, drill, identifier).await?)
    }

    async fn delete_cluster(
        &self,
        drill: &DrillContext,
        identifier: &str,
        instance: &str,
    ) -> Result<Value, HandlerError> {
        let outcome =
            rds::delete_cluster_temp(&self.rds, &self.config.rds, drill, identifier, instance)
                .await?;
        to_output(&outcome)
    }

    async fn delete_database(
        &self,
        drill: &DrillContext,
        server: &ConnectionSpec,
        name: &str,
    ) -> Result<Value, HandlerError> {
        let server = database(server, self.config.allow_plaintext, None, &self.aws).await?;
        let settings = TempDbSettings::from_rds(&self.config.rds);
        let outcome = backupset::delete(&server, &drill.drill_id, name, &settings).await?;
        to_output(&outcome)
    }

    async fn expire_copies(
        &self,
        of: SnapshotOf,
        source: &str,
        copy: &SnapshotCopySpec,
        now: DateTime<Utc>,
    ) -> Result<Value, HandlerError> {
        let client = rds::client_for_region(&self.rds, copy.region.as_deref());
        let outcome =
            rds::expire_copies(&client, of, &self.config.rds, source, copy.keep_newest, now)
                .await?;
        tracing::info!(
            expired = outcome.expired.len(),
            kept = outcome.kept.len(),
            refused = outcome.refused.len(),
            "snapshot copies expired"
        );
        to_output(&outcome)
    }

    async fn janitor(&self, now: DateTime<Utc>) -> Result<Value, HandlerError> {
        let outcome = rds::janitor(&self.rds, &self.config.rds, now).await?;
        tracing::info!(
            deleted = outcome.deleted.len(),
            refused = outcome.refused.len(),
            not_due = outcome.not_due.len(),
            "janitor done"
        );
        to_output(&outcome)
    }
}

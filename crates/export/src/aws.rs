//! The AWS (and PostgreSQL) calls the export handler makes, behind one small trait so the
//! dispatch is unit-tested with a fake; [`ExportAws`] for [`Deps`] is the SDK-backed one.

use drill_core::deployment::DeploymentConfig;
use drill_core::events::{ExportRequest, ExportUnitsRequest};
use drill_engine::dump::{self, ExportOptions};
use drill_engine::lambda::{database, to_output, HandlerError};
use drill_engine::store::{Retention, Store};
use serde_json::Value;

use crate::Deps;

/// The calls the export handler needs.
// Only used with concrete types (the SDK deps, the test fake): no `Send` bound needed.
#[allow(async_fn_in_trait)]
pub trait ExportAws {
    /// The deployment configuration, as deployed now.
    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError>;
    /// Streams a backup set of `request.source` (already checked to be this drill's temp) to
    /// `destination`, each object locked for `lock_days`; answers with the manifest summary.
    async fn export(
        &self,
        request: &ExportRequest,
        destination: &str,
        lock_days: u32,
    ) -> Result<Value, HandlerError>;
    /// Runs a checked work-unit action (`crate::units`).
    async fn units(
        &self,
        request: ExportUnitsRequest,
        destination: &str,
        lock_days: u32,
    ) -> Result<Value, HandlerError>;
}

impl ExportAws for Deps {
    async fn units(
        &self,
        request: ExportUnitsRequest,
        destination: &str,
        lock_days: u32,
    ) -> Result<Value, HandlerError> {
        crate::units::units_action(self, request, destination, lock_days).await
    }

    async fn deployment(&self) -> Result<DeploymentConfig, HandlerError> {
        Deps::deployment(self, self.config.config_url.as_deref()).await
    }

    async fn export(
        &self,
        request: &ExportRequest,
        destination: &str,
        lock_days: u32,
    ) -> Result<Value, HandlerError> {
        let store = Store::open(destination, Some(&self.s3))?;
        let retention = Some(Retention::for_days(
            drill_core::deployment::OBJECT_LOCK_MODE,
            lock_days,
        )?);
        let source = database(
            &request.source,
            self.config.allow_plaintext,
            self.config.pg_override.as_ref(),
            &self.aws,
        )
        .await?;
        // Fail fast with a connection error before anything is written.
        drop(source.connect().await?);
        let options = ExportOptions {
            jobs: self.config.jobs,
            chunk_bytes: self.config.chunk_mb * 1024 * 1024,
            retention,
            pg_dump: self.config.pg_dump.clone(),
            source_label: Some(request.drill.source_id.clone()),
            data_taken_at: request.data_taken_at,
        };
        tracing::info!(
            drill_id = request.drill.drill_id,
            source = source.describe(),
            destination = destination,
            "export starting"
        );
        let outcome = dump::export(&source, &store, &options).await?;
        let summary = outcome.summary();
        tracing::info!(
            backup_set = summary.backup_set,
            tables = summary.tables,
            rows = summary.rows,
            "export finished"
        );
        to_output(&summary)
    }
}

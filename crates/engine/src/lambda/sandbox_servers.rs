//! The restore servers of a deployment's backup-set sources, as the sandbox functions reach them:
//! where backup-set sandboxes live ([`crate::sandbox::server`]). Which servers there are is the
//! deployment's configuration, never the event's. They are configured hosts, not RDS temps:
//! no `DRILL_RDS_PG_OVERRIDE` applies to them.

use drill_core::deployment::DeploymentConfig;
use drill_core::events::{ConnectionSpec, SourceSpec};
use drill_core::sandboxdb::SandboxMarker;

use super::HandlerError;
use crate::pg::Database;
use crate::sandbox::server;

/// Every distinct restore server of the configured backup-set sources.
pub fn restore_servers(config: &DeploymentConfig) -> Vec<ConnectionSpec> {
    let mut out: Vec<ConnectionSpec> = Vec::new();
    for s in &config.sources {
        if let SourceSpec::BackupSet { server, .. } = &s.source {
            if !out.contains(server) {
                out.push(server.clone());
            }
        }
    }
    out
}

/// A restore server, connected as its admin (the deployment's secret, TLS as configured).
pub struct Server {
    pub spec: ConnectionSpec,
    pub admin: Database,
}

/// The server holding backup-set sandbox `name`, with its marker; `None` when no configured
/// server has it (or `name` is not a backup-set sandbox's: those start `<prefix>sbx-`).
pub async fn locate(
    config: &DeploymentConfig,
    prefix: &str,
    name: &str,
    allow_plaintext: bool,
    aws: &aws_config::SdkConfig,
) -> Result<Option<(Server, SandboxMarker)>, HandlerError> {
    if !name.starts_with(&format!("{prefix}sbx-")) {
        return Ok(None);
    }
    for spec in restore_servers(config) {
        let admin = super::database(&spec, allow_plaintext, None, aws).await?;
        if let Some(m) = server::find(&admin, prefix, name).await? {
            return Ok(Some((Server { spec, admin }, m)));
        }
    }
    Ok(None)
}

/// Every configured restore server, connected.
pub async fn connect_all(
    config: &DeploymentConfig,
    allow_plaintext: bool,
    aws: &aws_config::SdkConfig,
) -> Result<Vec<Server>, HandlerError> {
    let mut out = Vec::new();
    for spec in restore_servers(config) {
        let admin = super::database(&spec, allow_plaintext, None, aws).await?;
        out.push(Server { spec, admin });
    }
    Ok(out)
}

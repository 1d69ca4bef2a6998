//! Sandboxes: on-demand copies of a source's newest validated backup, for trying a risky change
//! and reading its diff before production ([`crate::diff`]). [`local`]: a database on a
//! configured PostgreSQL server. [`server`] and [`secret`]: the same on a backup-set source's
//! restore server in AWS, with a login role and a secret per sandbox. [`aws`]: sandbox RDS instances owned by the IAM caller, served by
//! the deployed functions ([`identity`]: who the caller is, from STS; [`rds`]: the guarded RDS calls).

pub mod aws;
pub mod identity;
pub mod local;
pub mod rds;
pub mod remote;
pub mod secret;
pub mod server;

pub use aws::{newest_validated_backup, SandboxSettings};

use drill_core::events::Refusal;
use drill_core::{Classified, ErrorKind};

use crate::diff::DiffError;
use crate::drill::DrillError;
use crate::dump::DumpError;
use crate::pg::PgError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "no validated backup set: no drill in the history {history} passed (run `drill run` first)"
    )]
    NoValidatedSet { history: String },
    #[error("no sandbox {name} in the registry {dir} (`drill sandbox list` shows them)")]
    Unknown { name: String, dir: String },
    #[error("sandbox registry {path}: {reason}")]
    Registry { path: String, reason: String },
    #[error("refused to drop {name}: {}", .refusals.iter().map(|r| format!("guard {} ({})", r.guard, r.reason)).collect::<Vec<_>>().join("; "))]
    DropRefused {
        name: String,
        refusals: Vec<Refusal>,
    },
    #[error("sandbox {identifier}: {reason}")]
    Base { identifier: String, reason: String },
    /// The diff did not finish: no verdict.
    #[error("{0}")]
    Incomplete(String),
    #[error("{0}")]
    Setting(String),
    /// An AWS call of the sandbox path failed (Secrets Manager).
    #[error("{0}")]
    Aws(String),
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Drill(#[from] DrillError),
    #[error(transparent)]
    Naming(#[from] drill_core::naming::NamingError),
    #[error(transparent)]
    Request(#[from] drill_core::sandbox::SandboxError),
}

impl Classified for SandboxError {
    fn kind(&self) -> ErrorKind {
        match self {
            SandboxError::NoValidatedSet { .. } => ErrorKind::BackupInvalid,
            SandboxError::Unknown { .. } | SandboxError::Naming(_) => ErrorKind::InvalidInput,
            SandboxError::Registry { .. }
            | SandboxError::Base { .. }
            | SandboxError::Incomplete(_)
            | SandboxError::Aws(_) => ErrorKind::CouldNotRun,
            SandboxError::Setting(_) => ErrorKind::InvalidInput,
            SandboxError::DropRefused { .. } => ErrorKind::GuardViolation,
            SandboxError::Pg(e) => e.kind(),
            SandboxError::Dump(e) => e.kind(),
            SandboxError::Diff(e) => e.kind(),
            SandboxError::Store(e) => e.kind(),
            SandboxError::Drill(e) => e.kind(),
            SandboxError::Request(e) => e.kind(),
        }
    }
}

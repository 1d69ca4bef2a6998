//! RDS: restore a snapshot to a temporary instance, report its status, delete it behind every
//! guard of [`drill_core::guards`], sweep expired temps (janitor), copy and expire snapshots, and
//! audit the posture of sources.
//!
//! Every destructive or mutating call here (delete instance, delete snapshot, share a snapshot)
//! is preceded by a fresh describe and the pure guards; if any guard fails, the call is **not
//! made**. The drill never modifies an instance it did not make (in particular it never turns
//! deletion protection off); the modify calls are `ModifyDBSnapshotAttribute`, which shares the
//! drill's own snapshot copies (and nothing else) with configured accounts, and
//! `ModifyDBInstance` on the drill's own temp, behind the same guards (see [`crate::rds_secret`]).
//!
//! Credentials: RDS creates no managed master secret on a restore from a snapshot (except for
//! Oracle), so once the temp is available the drill turns one on with `ModifyDBInstance`
//! (`ManageMasterUserPassword`, encrypted with the drill's key): RDS then rotates the master
//! password into a fresh Secrets Manager secret it owns (and deletes with the instance). Events
//! carry only that secret's ARN; no password ever passes through the drill.
//!
//! Where things live: errors and the guard refusal helpers here; configuration in `settings.rs`;
//! describing instances and snapshots (the facts the guards judge) in `facts.rs`; the restore
//! in `restore.rs`, to a point in time in `pitr.rs`; the wait loop's status in `status.rs`; deleting temps and the janitor in
//! `delete.rs`; snapshot copies, sharing and expiry in `copies.rs`; the posture audit in
//! `audit.rs`. Aurora clusters: restore in `cluster.rs`, the wait loop (which creates the
//! cluster's instance) in `cluster_status.rs`, deletion and the janitor's sweep in
//! `cluster_delete.rs`, describing clusters and cluster snapshots in `cluster_facts.rs`, a
//! cluster's live or retained automated backups in `cluster_backups.rs`.

mod audit;
mod cluster;
mod cluster_backups;
mod cluster_delete;
mod cluster_facts;
mod cluster_status;
mod copies;
mod delete;
mod facts;
mod pitr;
mod restore;
mod settings;
mod snapshot_api;
pub(crate) use delete::delete_instance;
pub(crate) use settings::isolated_instance;
mod status;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};
use drill_core::events::Refusal;
use drill_core::guards::{self, GuardFailure};
use drill_core::snapshots::SelectionError;
use drill_core::{Classified, ErrorKind};

pub use audit::{audit, audit_cluster};
pub use cluster::{
    cluster_temp_names, restore_cluster, restore_cluster_point_in_time, ClusterInput,
};
pub use cluster_backups::{
    cluster_pitr_source, retained_cluster_backups, ClusterPitrSource, RetainedClusterBackup,
};
pub use cluster_delete::{cluster_janitor, delete_cluster_temp};
pub use cluster_facts::{
    choose_cluster_snapshot, cluster_facts, cluster_members, cluster_snapshot_facts,
    describe_cluster, list_clusters, version_min_capacity,
};
pub use cluster_status::{cluster_status, enable_cluster_secret, ClusterSecretRequest};
pub use copies::{
    client_for_region, client_in_region, copy_snapshot, expire_copies, share_copies, CopyOutcome,
    CopyTarget, ExpiryOutcome,
};
pub use delete::{delete_temp, janitor};
pub use drill_core::temp_readiness::normalize_status;
pub use facts::{
    choose_snapshot, describe_instance, instance_facts, list_instances, list_snapshots,
    snapshot_facts,
};
pub use pitr::{
    automated_backup_facts, list_automated_backups, restore_point_in_time, PointInTimeInput,
};
pub use restore::{restore, temp_identifier, RestoreInput};
pub use settings::RdsSettings;
pub use snapshot_api::shared_with;
pub use status::status;

/// Guards (a)–(d) (see [`drill_core::guards::check_read`]), for [`crate::rds_secret`].
pub(crate) use drill_core::guards::check_read as read_guard_failures;

pub use aws_sdk_rds::Client;

/// The current time; a function so callers without a chrono dependency can get one.
pub fn utc_now() -> DateTime<Utc> {
    Utc::now()
}

/// Why an RDS operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RdsError {
    #[error("{0}")]
    InvalidInput(String),
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// A guard refused; nothing was changed.
    #[error("{message}")]
    Guard {
        message: String,
        refusals: Vec<Refusal>,
    },
    /// The drill's snapshot copies are not what they should be (failed, or stuck copying).
    #[error("{0}")]
    CopyProblem(String),
    #[error("RDS {op} failed ({code}): {message}")]
    Api {
        op: &'static str,
        code: String,
        message: String,
        transient: bool,
    },
}

impl Classified for RdsError {
    fn kind(&self) -> ErrorKind {
        match self {
            RdsError::InvalidInput(_) | RdsError::Selection(_) => ErrorKind::InvalidInput,
            RdsError::Guard { .. } => ErrorKind::GuardViolation,
            RdsError::CopyProblem(_) => ErrorKind::BackupInvalid,
            RdsError::Api {
                transient: true, ..
            } => ErrorKind::Transient,
            RdsError::Api { .. } => ErrorKind::CouldNotRun,
        }
    }
}

/// RDS error codes worth retrying: throttling, an instance busy with something else. Not
/// `InsufficientDBInstanceCapacity`: an AZ out of a class stays out for hours, so the restore
/// tries the next configured class instead (see [`restore`]).
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "InvalidDBInstanceState",
    "InvalidDBSnapshotState",
    "InvalidDBClusterStateFault",
    "ServiceUnavailable",
    "InternalFailure",
];

pub(crate) fn code_of<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

pub(crate) fn api_error<E, R>(op: &'static str, err: SdkError<E, R>) -> RdsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let network = matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
    );
    let code = code_of(&err).unwrap_or("").to_owned();
    let message = match &err {
        SdkError::ServiceError(e) => e.err().message().unwrap_or("").to_owned(),
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    };
    RdsError::Api {
        op,
        transient: network || TRANSIENT_CODES.contains(&code.as_str()),
        code: if code.is_empty() {
            "no code".into()
        } else {
            code
        },
        message,
    }
}

/// The refusals of `failures` on `identifier`, each logged.
fn refusals(identifier: &str, failures: &[GuardFailure]) -> Vec<Refusal> {
    let refusals: Vec<Refusal> = failures.iter().map(|f| f.to_refusal(identifier)).collect();
    for r in &refusals {
        tracing::error!(identifier = %r.identifier, guard = %r.guard, reason = %r.reason, "guard refused");
    }
    refusals
}

/// A guard refusal as an error: nothing was changed.
pub(crate) fn guard_error(identifier: &str, failures: &[GuardFailure]) -> RdsError {
    RdsError::Guard {
        message: guards::describe_failures(identifier, failures),
        refusals: refusals(identifier, failures),
    }
}

/// Before a retry takes over what already exists under the name it was about to create: it must
/// be this execution's, with `role` (see [`drill_core::guards::check_reuse`]).
fn check_reuse(
    identifier: &str,
    drill_id: &str,
    role: &str,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<(), RdsError> {
    let failures = guards::check_reuse(drill_id, role, tags);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(guard_error(identifier, &failures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drill_core::guards::{tag, Guard};

    #[test]
    fn guard_errors_are_guard_violations_naming_the_guard() {
        let failures = vec![GuardFailure::new(Guard::Prefix, "no")];
        let err = guard_error("prod", &failures);
        assert_eq!(err.kind(), ErrorKind::GuardViolation);
        assert!(err.to_string().contains("guard prefix"), "{err}");
    }

    #[test]
    fn reuse_of_another_executions_resource_is_a_guard_violation() {
        let tags = tag::temp_tags("exec-1", "prod", Utc::now(), "rds:prod-1");
        assert!(check_reuse("rdrill-x", "exec-1", tag::ROLE_TEMP, &tags).is_ok());
        let err = check_reuse("rdrill-x", "exec-2", tag::ROLE_TEMP, &tags).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::GuardViolation);
        let RdsError::Guard { refusals, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(refusals.len(), 1);
        assert_eq!(
            (refusals[0].identifier.as_str(), refusals[0].guard.as_str()),
            ("rdrill-x", "owner")
        );
    }
}

//! Typed event contracts of the four Lambdas (the Step Functions state carries exactly these).
//!
//! Rules that hold for every type here:
//! - no secret ever appears: databases are reached through a [`SecretRef`] (a Secrets Manager ARN
//!   in AWS, an environment variable locally), never a password;
//! - unknown fields are rejected, so a typo in a manual execution input fails loudly instead of
//!   silently falling back to a default.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Identity of one drill run, threaded through every step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillContext {
    /// Unique per execution: the Step Functions execution name (or a CLI-generated id).
    pub drill_id: String,
    /// Which configured source database this drill is for.
    pub source_id: String,
    /// When the drill started; RTO is measured from here, and guard (f) compares creation times
    /// against it.
    pub started_at: DateTime<Utc>,
}

/// Where a credential lives. The referenced secret is a JSON object with at least `username` and
/// `password` (the shape of RDS-managed master secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRef {
    /// An AWS Secrets Manager secret (ARN or name).
    SecretsManager { secret_id: String },
    /// An environment variable of the running process holding a `postgres://` URL or the JSON
    /// secret; for local runs and tests.
    Env { var: String },
}

/// How to verify the server's certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Verify the chain against the CA bundle and the host name (the default, and the only mode
    /// used against RDS).
    #[default]
    VerifyFull,
    /// Plain TCP; only for local throwaway clusters.
    Disable,
}

/// A PostgreSQL database to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub secret: SecretRef,
    #[serde(default)]
    pub tls: TlsMode,
}

/// Which snapshot of an RDS instance to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "pick", deny_unknown_fields)]
pub enum SnapshotSelector {
    /// The newest automated or manual snapshot (including drill-made copies).
    #[default]
    Newest,
    NewestAutomated,
    NewestManual,
    /// An explicit snapshot identifier or ARN (shared or copied snapshots are named by ARN).
    Id {
        id: String,
    },
}

/// A source database and how its backups are found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum SourceSpec {
    /// Restore an RDS snapshot of `instance_identifier` to a temporary RDS instance.
    RdsSnapshot {
        instance_identifier: String,
        #[serde(default)]
        snapshot: SnapshotSelector,
        /// Refuse snapshots older than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_age_hours: Option<u32>,
        /// Database name inside the instance to validate and export.
        database: String,
        /// DB parameter group of the temp instance. RDS gives a restore the engine family's
        /// default group, not the source's: a source relying on e.g. `shared_preload_libraries`
        /// needs its own group here. Default: the family default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_group: Option<String>,
    },
    /// Restore the newest backup set under `store` into a fresh temporary database on `server`:
    /// the path that still works when the instance and all its snapshots are gone.
    BackupSet {
        /// `s3://bucket/prefix` or `file:///dir` holding backup sets of this source.
        store: String,
        /// Server (and an admin database on it) where the temporary database is created.
        server: ConnectionSpec,
        /// Refuse a newest set whose data is older than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_age_hours: Option<u32>,
        /// Restore without ownership and privileges, for a server that lacks the source's
        /// roles (roles are not part of a database's backup).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        no_owner: bool,
    },
    /// Restore a snapshot (or a point in time) of the Aurora PostgreSQL cluster
    /// `cluster_identifier` to a temporary cluster with one instance (see
    /// [`crate::deployment::aurora`]).
    AuroraCluster {
        cluster_identifier: String,
        #[serde(default)]
        snapshot: SnapshotSelector,
        /// Refuse snapshots (or moments) older than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_age_hours: Option<u32>,
        /// Database inside the cluster to validate and export.
        database: String,
        /// DB cluster parameter group of the temp cluster; default: the engine's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cluster_parameter_group: Option<String>,
        /// The one instance of the temp cluster; default: Serverless v2 at its minimum capacity.
        #[serde(default)]
        instance: crate::deployment::aurora::AuroraInstance,
    },
}

impl SourceSpec {
    /// Whose snapshots a `snapshot_copy` of this source copies, and the instance or cluster
    /// identifier they are listed by; `None` for a backup-set source (it has no snapshots).
    pub fn copied_snapshots(&self) -> Option<(crate::snapshots::SnapshotOf, &str)> {
        use crate::snapshots::SnapshotOf;
        match self {
            SourceSpec::RdsSnapshot {
                instance_identifier,
                ..
            } => Some((SnapshotOf::Instance, instance_identifier)),
            SourceSpec::AuroraCluster {
                cluster_identifier, ..
            } => Some((SnapshotOf::Cluster, cluster_identifier)),
            SourceSpec::BackupSet { .. } => None,
        }
    }
}

/// What kind of backup a drill restored (the wire strings are the JSON of events and reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    /// An RDS DB snapshot (automated, manual or a drill-made copy).
    RdsSnapshot,
    /// A logical backup set in a backup store (`manifest.json` and its objects).
    BackupSet,
    /// A point in time of an RDS instance's automated backups (`RestoreDBInstanceToPointInTime`);
    /// the id names the moment, how it was chosen (seed) and the window.
    RdsPointInTime,
    /// A backup named on the command line (`drill validate --backup-id`): not checked further.
    Cli,
}

impl BackupKind {
    /// The wire string (`rds-snapshot`, `backup-set`, `cli`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::RdsSnapshot => "rds-snapshot",
            BackupKind::BackupSet => "backup-set",
            BackupKind::RdsPointInTime => "rds-point-in-time",
            BackupKind::Cli => "cli",
        }
    }
}

impl std::fmt::Display for BackupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The backup a drill restored, as recorded in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRef {
    pub kind: BackupKind,
    /// Snapshot identifier/ARN, or the backup set URL.
    pub id: String,
    /// When the backup's data was taken (snapshot create time / export snapshot time): RPO is
    /// measured against it.
    pub taken_at: DateTime<Utc>,
}

/// What a drill created and must clean up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum TempResource {
    /// A temporary RDS instance restored from a snapshot.
    RdsInstance {
        identifier: String,
        /// Secrets Manager ARN of the instance's master secret (RDS-managed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_id: Option<String>,
        database: String,
    },
    /// A temporary Aurora cluster and its one instance (`instance`, created by the wait loop
    /// once the cluster is available); validate and export use the cluster (writer) endpoint.
    RdsCluster {
        identifier: String,
        instance: String,
        database: String,
    },
    /// A temporary database on a configured server, restored from a backup set.
    Database {
        name: String,
        server: ConnectionSpec,
    },
}

// ---------------------------------------------------------------- restore

/// The nightly copy of an RDS source's newest automated snapshot (optional, per source), so a
/// snapshot survives the instance's deletion, and optionally its region or account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotCopySpec {
    /// Region of the copy; default: the drill's own region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// KMS key of the destination (needed for encrypted snapshots copied to another region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// 12-digit accounts the drill's copies are shared with (never `all`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub share_with: Vec<String>,
    /// Days before a copy may be expired.
    #[serde(default = "default_copy_retention_days")]
    pub retention_days: u32,
    /// This many newest copies are kept even when expired (at least 1).
    #[serde(default = "default_keep_newest")]
    pub keep_newest: usize,
}

fn default_copy_retention_days() -> u32 {
    7
}

fn default_keep_newest() -> usize {
    2
}

/// Input of the `restore` Lambda. Everything about the source (instance, store, server,
/// snapshot, copy) comes from the deployment configuration by `drill.source_id`, never from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", deny_unknown_fields)]
pub enum RestoreRequest {
    /// The state machine's first step: which configured sources this execution runs. `input`
    /// is the execution input, which may only name source ids
    /// ([`crate::deployment::ExecutionInput`]).
    Plan {
        #[serde(default)]
        input: serde_json::Value,
    },
    /// Start restoring the chosen backup into a new temporary resource.
    Restore { drill: DrillContext },
    /// The cheap status call of the state machine's Wait/Choice loop; `temp` must be the one
    /// this drill's restore created.
    Status {
        drill: DrillContext,
        temp: TempResource,
        /// When the restore started ([`RestoreStarted::restore_started_at`]): the wait budget is
        /// measured from here, not from the execution's start, so sources queued behind the
        /// Map's MaxConcurrency get their whole budget. Absent: the drill's start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<DateTime<Utc>>,
    },
    /// Turn on the RDS-managed master secret of an available temp instance that has none
    /// (`ModifyDBInstance`): RDS does not create one on a restore from a snapshot (except for
    /// Oracle). The wait loop then goes on until the secret is `active`.
    ManageSecret {
        drill: DrillContext,
        temp: TempResource,
    },
    /// Copy the newest automated snapshot of the source's instance (and share the drill's
    /// copies as configured). Never deletes anything: expiry is delete-temp's `expire_copies`.
    CopySnapshot { drill: DrillContext },
}

/// Output of `restore` (action `restore`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreStarted {
    pub temp: TempResource,
    pub backup: BackupRef,
    pub expires_at: DateTime<Utc>,
    /// When this restore was started: the start of its wait budget.
    pub restore_started_at: DateTime<Utc>,
}

/// Normalized state of a temporary resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TempState {
    Creating,
    /// An RDS temp that is up but has no RDS-managed master secret yet: the state machine turns
    /// one on (restore action `manage_secret`) and waits again.
    SecretNeeded,
    Available,
    Failed,
    Gone,
}

/// Output of `restore` (action `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    pub state: TempState,
    /// Where to connect, once available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionSpec>,
    pub elapsed_seconds: u64,
    /// The raw provider status (e.g. RDS `backing-up`), for the report.
    pub detail: String,
}

// ---------------------------------------------------------------- validate

/// Input of the `validate` Lambda. The checks, the report history and (for a backup set) the
/// manifest come from the deployment; `target` must be this drill's temp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    pub drill: DrillContext,
    pub target: ConnectionSpec,
    pub backup: BackupRef,
    /// The heavy checks ran per work unit (`validate_unit`): sum their results (found below the
    /// source's history by drill id, never at a location from the event) instead of running them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub units: bool,
}

/// Input of `plan_validation` and `validate_unit` (validation in work units): the drill and its
/// temp; `unit` for `validate_unit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateUnitRequest {
    pub drill: DrillContext,
    pub target: ConnectionSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<u32>,
}

/// Output of `plan_validation`: where the ItemReader finds the units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedValidation {
    #[serde(rename = "items")]
    pub items: S3Location,
    pub units: u32,
    pub budget_bytes: u64,
}

/// Output of `validate`: the summary the state machine carries on (the full report is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateSummary {
    pub passed: bool,
    pub checks_passed: u32,
    pub checks_failed: u32,
    pub checks_errored: u32,
    pub rto_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<u64>,
    pub rows: u64,
    /// Where the full report was written.
    pub report: String,
}

// ---------------------------------------------------------------- export

/// Input of the `export` Lambda: dump the *validated temporary restore* (never production).
/// Destination and Object Lock (COMPLIANCE, the configured days) come from the deployment;
/// `source` must be this drill's temp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    pub drill: DrillContext,
    pub source: ConnectionSpec,
    /// When the data of the restore being exported was taken (the restored backup's time); it
    /// goes into the manifest so the new set is never reported fresher than its origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_taken_at: Option<DateTime<Utc>>,
}

/// Output of `export`: the manifest summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSummary {
    pub backup_set: String,
    pub tables: u32,
    pub rows: u64,
    pub raw_bytes: u64,
    pub compressed_bytes: u64,
    pub manifest_sha256: String,
}

/// Input of the `export` Lambda's work-unit actions (a Distributed Map runs `export_unit` once per
/// unit). `set` is checked to be a set directly below this source's configured destination, and
/// the plan inside it to belong to this drill; `source` must be this drill's temp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", deny_unknown_fields)]
pub enum ExportUnitsRequest {
    /// Size the units, capture the schema, make the temp read-only, write the unit list.
    PlanUnits {
        drill: DrillContext,
        source: ConnectionSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_taken_at: Option<DateTime<Utc>>,
    },
    /// Export one unit of the planned set.
    ExportUnit {
        drill: DrillContext,
        source: ConnectionSpec,
        set: String,
        unit: u32,
    },
    /// Every unit reported: write the manifest (last).
    Finish { drill: DrillContext, set: String },
}

/// Where the ItemReader finds the unit list (`s3:getObject` parameters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

/// Output of `plan_units`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedUnits {
    pub set: String,
    /// `None` for a store that is not S3 (local runs have no Distributed Map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<S3Location>,
    pub units: u32,
    pub budget_bytes: u64,
    pub total_bytes: u64,
}

/// Output of `export_unit` (kept small: a Distributed Map writes every result to S3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitSummary {
    pub unit: u32,
    pub objects: u32,
    pub rows: u64,
    pub compressed_bytes: u64,
}

// ---------------------------------------------------------------- delete-temp

/// Input of the `delete-temp` Lambda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", deny_unknown_fields)]
pub enum DeleteRequest {
    /// Delete the temp resource of this drill (also on every failure path); `temp` must be the
    /// one this drill's restore created.
    Delete {
        drill: DrillContext,
        temp: TempResource,
    },
    /// Clean up after a failed restore: the temp resource's name is derived from the drill and
    /// the configured source (as the restore derived it), so whatever a half-done restore created is found
    /// and deleted behind the same guards; nothing there is success.
    CleanupRestore { drill: DrillContext },
    /// Delete expired drill copies of the source instance's snapshots, behind the copy guards.
    ExpireCopies { drill: DrillContext },
    /// Delete drill-tagged resources whose expires-at has passed.
    Janitor {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        now: Option<DateTime<Utc>>,
    },
}

/// A refused deletion: which guard said no, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    pub identifier: String,
    pub guard: String,
    pub reason: String,
}

/// Output of `delete-temp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteOutcome {
    pub deleted: Vec<String>,
    pub already_gone: Vec<String>,
    pub refused: Vec<Refusal>,
    /// Janitor only: drill temp instances left alone because their expires-at has not passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_due: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<DrillContext>(
            r#"{"drill_id":"a","source_id":"b","started_at":"2026-01-01T00:00:00Z","pasword":"x"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `pasword`"), "{err}");
    }

    #[test]
    fn snapshot_selector_defaults_to_newest() {
        let s: SourceSpec = serde_json::from_str(
            r#"{"kind":"rds-snapshot","instance_identifier":"prod","database":"app"}"#,
        )
        .unwrap();
        match s {
            SourceSpec::RdsSnapshot { snapshot, .. } => {
                assert_eq!(snapshot, SnapshotSelector::Newest)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backup_kinds_keep_their_wire_strings() {
        for (kind, wire) in [
            (BackupKind::RdsSnapshot, "rds-snapshot"),
            (BackupKind::BackupSet, "backup-set"),
            (BackupKind::Cli, "cli"),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), wire);
            assert_eq!(kind.to_string(), wire);
            let back: BackupKind = serde_json::from_value(wire.into()).unwrap();
            assert_eq!(back, kind);
        }
        let err = serde_json::from_str::<BackupRef>(
            r#"{"kind":"tape","id":"x","taken_at":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("tape"), "{err}");
    }

    #[test]
    fn tls_defaults_to_verify_full() {
        let c: ConnectionSpec = serde_json::from_str(
            r#"{"host":"h","port":5432,"database":"d","secret":{"env":{"var":"X"}}}"#,
        )
        .unwrap();
        assert_eq!(c.tls, TlsMode::VerifyFull);
    }

    #[test]
    fn restore_request_is_tagged_by_action() {
        let r: RestoreRequest = serde_json::from_str(
            r#"{"action":"status","drill":{"drill_id":"d","source_id":"s","started_at":"2026-01-01T00:00:00Z"},
                "temp":{"kind":"rds-instance","identifier":"rdrill-x","database":"app"}}"#,
        )
        .unwrap();
        assert!(matches!(r, RestoreRequest::Status { .. }));
    }
}

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

use std::collections::BTreeMap;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::{DbInstance, DbSnapshot, Tag};
use chrono::{DateTime, Duration, Utc};
use drill_core::events::{
    BackupRef, ConnectionSpec, DeleteOutcome, DrillContext, Refusal, RestoreStarted, SecretRef,
    SnapshotSelector, StatusReport, TempResource, TempState, TlsMode,
};
use drill_core::guards::{self, tag, Caller, Guard, GuardPolicy, InstanceFacts};
use drill_core::naming;
use drill_core::posture::{self, PostureCheck, PosturePolicy};
use drill_core::snapshots::{self, CopyPolicy, SelectionError, SnapshotFacts, SnapshotKind};
use drill_core::{Classified, ErrorKind};
use serde::Serialize;

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

// ---------------------------------------------------------------- settings

/// Configuration of the RDS side of the drill, from the environment of a Lambda or the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsSettings {
    /// `DRILL_PREFIX` (default `rdrill-`): every temp identifier starts with it.
    pub prefix: String,
    /// `DRILL_INSTANCE_CLASS` (default `db.t4g.micro`): comma-separated instance classes of the
    /// temp, tried in order while RDS answers `InsufficientDBInstanceCapacity`.
    pub instance_classes: Vec<String>,
    /// `DRILL_SECRET_KMS_KEY_ID`: the KMS key (the drill's own) that encrypts the RDS-managed
    /// master secret turned on for each temp; unset: `aws/secretsmanager`.
    pub secret_kms_key_id: Option<String>,
    /// `DRILL_SUBNET_GROUP`: the drill's own DB subnet group (required to restore).
    pub subnet_group: Option<String>,
    /// `DRILL_SECURITY_GROUPS`: comma-separated VPC security group ids (required to restore).
    pub security_groups: Vec<String>,
    /// `DRILL_TEMP_TTL_HOURS` (default 12): the temp's expires-at tag, after which the janitor
    /// may remove it.
    pub temp_ttl_hours: u32,
    /// `DRILL_SOURCES`: comma-separated source instance identifiers, never deletable.
    pub sources: Vec<String>,
    /// `DRILL_PROTECTED`: comma-separated identifiers that must never be touched.
    pub protected: Vec<String>,
}

impl Default for RdsSettings {
    fn default() -> Self {
        Self {
            prefix: naming::DEFAULT_PREFIX.to_owned(),
            instance_classes: vec!["db.t4g.micro".to_owned()],
            secret_kms_key_id: None,
            subnet_group: None,
            security_groups: Vec::new(),
            temp_ttl_hours: 12,
            sources: Vec::new(),
            protected: Vec::new(),
        }
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl RdsSettings {
    /// Reads the settings through `var` (the process environment in production). Unset values
    /// take their defaults, so a function that never restores starts without them; a value that
    /// is set but invalid is an error.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, RdsError> {
        let mut s = RdsSettings::default();
        if let Some(p) = var("DRILL_PREFIX") {
            naming::validate_prefix(&p).map_err(|e| RdsError::InvalidInput(e.to_string()))?;
            s.prefix = p;
        }
        if let Some(c) = var("DRILL_INSTANCE_CLASS") {
            s.instance_classes = list(&c);
            if s.instance_classes.is_empty() {
                return Err(RdsError::InvalidInput(format!(
                    "DRILL_INSTANCE_CLASS={c:?}: expected comma-separated instance classes"
                )));
            }
        }
        s.secret_kms_key_id = var("DRILL_SECRET_KMS_KEY_ID").filter(|v| !v.is_empty());
        s.subnet_group = var("DRILL_SUBNET_GROUP").filter(|v| !v.is_empty());
        s.security_groups = var("DRILL_SECURITY_GROUPS")
            .map(|v| list(&v))
            .unwrap_or_default();
        if let Some(h) = var("DRILL_TEMP_TTL_HOURS") {
            s.temp_ttl_hours =
                h.parse()
                    .ok()
                    .filter(|h| (1..=48).contains(h))
                    .ok_or_else(|| {
                        RdsError::InvalidInput(format!(
                            "DRILL_TEMP_TTL_HOURS={h:?}: expected 1 to 48 hours"
                        ))
                    })?;
        }
        s.sources = var("DRILL_SOURCES").map(|v| list(&v)).unwrap_or_default();
        s.protected = var("DRILL_PROTECTED").map(|v| list(&v)).unwrap_or_default();
        Ok(s)
    }

    pub fn from_env() -> Result<Self, RdsError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// The guard policy for deleting the instance `facts` describes. The drill's own source
    /// (the Map entry id) and the source instance named in the instance's own `drill:source`
    /// tag are protected even when not configured: the entry id need not be the instance
    /// identifier, and a restore never deletes what it was restored from.
    pub fn guard_policy_for(
        &self,
        drill_source: Option<&str>,
        facts: &InstanceFacts,
    ) -> GuardPolicy {
        let mut policy = self.guard_policy(drill_source);
        policy.sources.extend(facts.tags.get(tag::SOURCE).cloned());
        policy
    }

    /// The guard policy; the drill's own source is protected even when not configured.
    pub fn guard_policy(&self, drill_source: Option<&str>) -> GuardPolicy {
        let mut sources = self.sources.clone();
        sources.extend(drill_source.map(str::to_owned));
        GuardPolicy {
            prefix: self.prefix.clone(),
            sources,
            protected: self.protected.clone(),
        }
    }
}

// ---------------------------------------------------------------- facts

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn tags_of(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
        .collect()
}

/// What the guards need to know about an instance.
pub fn instance_facts(db: &DbInstance) -> InstanceFacts {
    InstanceFacts {
        identifier: db.db_instance_identifier().unwrap_or("").to_owned(),
        tags: tags_of(db.tag_list()),
        // Unknown counts as protected: the guard must never pass on missing data.
        deletion_protection: db.deletion_protection().unwrap_or(true),
        created_at: db.instance_create_time().and_then(to_chrono),
    }
}

/// What selection and expiry need to know about a snapshot.
pub fn snapshot_facts(s: &DbSnapshot) -> SnapshotFacts {
    SnapshotFacts {
        id: s.db_snapshot_identifier().unwrap_or("").to_owned(),
        arn: s.db_snapshot_arn().map(str::to_owned),
        instance: s.db_instance_identifier().unwrap_or("").to_owned(),
        kind: SnapshotKind::from_rds(s.snapshot_type().unwrap_or("")),
        status: s.status().unwrap_or("").to_owned(),
        // A copy's own create time is when it was copied; the data is as old as the original.
        taken_at: s
            .original_snapshot_create_time()
            .or(s.snapshot_create_time())
            .and_then(to_chrono),
        created_at: s.snapshot_create_time().and_then(to_chrono),
        tags: tags_of(s.tag_list()),
        encrypted: s.encrypted().unwrap_or(false),
    }
}

/// Describes one instance; `None` when it does not exist.
pub async fn describe_instance(
    client: &Client,
    identifier: &str,
) -> Result<Option<DbInstance>, RdsError> {
    match client
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) if code_of(&e) == Some("DBInstanceNotFound") => Ok(None),
        Err(e) => Err(api_error("DescribeDBInstances", e)),
    }
}

/// Every instance of the account and region. Tag filters are not used: moto does not support
/// them, and the guards must see the tags themselves anyway.
pub async fn list_instances(client: &Client) -> Result<Vec<DbInstance>, RdsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .describe_db_instances()
            .set_marker(marker.take())
            .max_records(100)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBInstances", e))?;
        out.extend(page.db_instances().iter().cloned());
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Snapshots of a source instance (`snapshot_type` e.g. `manual` narrows the listing).
pub async fn list_snapshots(
    client: &Client,
    instance: &str,
    snapshot_type: Option<&str>,
) -> Result<Vec<SnapshotFacts>, RdsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .describe_db_snapshots()
            .db_instance_identifier(instance)
            .set_snapshot_type(snapshot_type.map(str::to_owned))
            .set_marker(marker.take())
            .max_records(100)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBSnapshots", e))?;
        out.extend(page.db_snapshots().iter().map(snapshot_facts));
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// One snapshot by identifier or ARN (shared ones included); empty when not found.
async fn find_snapshot(client: &Client, id: &str) -> Result<Vec<SnapshotFacts>, RdsError> {
    match client
        .describe_db_snapshots()
        .db_snapshot_identifier(id)
        .include_shared(true)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_snapshots().iter().map(snapshot_facts).collect()),
        Err(e) if code_of(&e) == Some("DBSnapshotNotFound") => Ok(Vec::new()),
        Err(e) => Err(api_error("DescribeDBSnapshots", e)),
    }
}

/// Chooses the snapshot of `source` to restore (see [`drill_core::snapshots::select`]).
pub async fn choose_snapshot(
    client: &Client,
    source: &str,
    selector: &SnapshotSelector,
    max_age_hours: Option<u32>,
    now: DateTime<Utc>,
) -> Result<SnapshotFacts, RdsError> {
    let found = match selector {
        SnapshotSelector::Id { id } => find_snapshot(client, id).await?,
        _ => list_snapshots(client, source, None).await?,
    };
    Ok(snapshots::select(
        source,
        selector,
        max_age_hours,
        now,
        &found,
    )?)
}

fn tag_of(key: &str, value: impl Into<String>) -> Tag {
    Tag::builder().key(key).value(value).build()
}

// ---------------------------------------------------------------- restore

/// What to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreInput {
    pub source_instance: String,
    pub selector: SnapshotSelector,
    pub max_age_hours: Option<u32>,
    /// Database inside the instance that later steps validate and export.
    pub database: String,
    /// DB parameter group of the temp (`None`: the engine family's default).
    pub parameter_group: Option<String>,
}

/// The identifier of the temp instance of this drill (stable across retries of the same
/// execution, so a retried restore finds its own instance instead of making a second one).
pub fn temp_identifier(
    settings: &RdsSettings,
    drill: &DrillContext,
    source: &str,
) -> Result<String, RdsError> {
    let id = naming::temp_identifier(&settings.prefix, source, &drill.drill_id, drill.started_at)
        .map_err(|e| RdsError::InvalidInput(e.to_string()))?;
    if !naming::is_valid_rds_identifier(&id) {
        return Err(RdsError::InvalidInput(format!(
            "derived identifier {id:?} is not valid for RDS"
        )));
    }
    Ok(id)
}

/// Starts restoring the selected snapshot into a new temp instance; returns at once (the state
/// machine polls [`status`]).
pub async fn restore(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    input: &RestoreInput,
    now: DateTime<Utc>,
) -> Result<RestoreStarted, RdsError> {
    let subnet_group = settings.subnet_group.clone().ok_or_else(|| {
        RdsError::InvalidInput(
            "DRILL_SUBNET_GROUP is not set: the temp instance must go into the drill's own subnet group"
                .into(),
        )
    })?;
    if settings.security_groups.is_empty() {
        return Err(RdsError::InvalidInput(
            "DRILL_SECURITY_GROUPS is not set: the temp instance must use the drill's own security group"
                .into(),
        ));
    }
    let snap = choose_snapshot(
        client,
        &input.source_instance,
        &input.selector,
        input.max_age_hours,
        now,
    )
    .await?;
    let identifier = temp_identifier(settings, drill, &input.source_instance)?;
    let expires_at = now + Duration::hours(i64::from(settings.temp_ttl_hours));
    let snapshot_ref = snap.arn.clone().unwrap_or_else(|| snap.id.clone());
    let backup = BackupRef {
        kind: drill_core::events::BackupKind::RdsSnapshot,
        id: snapshot_ref.clone(),
        taken_at: snap.taken_at.unwrap_or(now),
    };
    let temp = TempResource::RdsInstance {
        identifier: identifier.clone(),
        secret_id: None,
        database: input.database.clone(),
    };
    let tags = vec![
        tag_of(tag::ROLE, tag::ROLE_TEMP),
        tag_of(tag::EXECUTION, drill.drill_id.clone()),
        tag_of(tag::SOURCE, input.source_instance.clone()),
        tag_of(
            tag::EXPIRES_AT,
            expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        tag_of(tag::RESTORED_FROM, snap.id.clone()),
    ];
    if settings.instance_classes.is_empty() {
        return Err(RdsError::InvalidInput(
            "no instance class configured for the temp (DRILL_INSTANCE_CLASS)".into(),
        ));
    }
    let mut out_of_capacity = Vec::new();
    let mut result = None;
    for class in &settings.instance_classes {
        // No ManageMasterUserPassword: on a restore it applies to RDS for Oracle only; the
        // secret is turned on once the temp is available (crate::rds_secret).
        let attempt = client
            .restore_db_instance_from_db_snapshot()
            .db_instance_identifier(&identifier)
            .db_snapshot_identifier(&snap.id)
            .db_instance_class(class)
            .db_subnet_group_name(&subnet_group)
            .set_vpc_security_group_ids(Some(settings.security_groups.clone()))
            .set_db_parameter_group_name(input.parameter_group.clone())
            // Without 0, RDS first takes a baseline backup and sits in `backing-up` for hours.
            .backup_retention_period(0)
            .deletion_protection(false)
            .publicly_accessible(false)
            .multi_az(false)
            .copy_tags_to_snapshot(false)
            .auto_minor_version_upgrade(false)
            .set_tags(Some(tags.clone()))
            .send()
            .await;
        match attempt {
            Err(e) if code_of(&e) == Some("InsufficientDBInstanceCapacity") => {
                tracing::warn!(%identifier, %class, "no capacity for this instance class; trying the next");
                out_of_capacity.push(class.clone());
            }
            other => {
                result = Some(other);
                break;
            }
        }
    }
    let Some(result) = result else {
        return Err(RdsError::Api {
            op: "RestoreDBInstanceFromDBSnapshot",
            code: "InsufficientDBInstanceCapacity".into(),
            message: format!(
                "no capacity for any configured instance class ({}); add classes to DRILL_INSTANCE_CLASS",
                out_of_capacity.join(", ")
            ),
            transient: false,
        });
    };
    match result {
        Ok(_) => {
            tracing::info!(%identifier, snapshot = %snap.id, source = %input.source_instance, "restore started");
        }
        Err(e) if code_of(&e) == Some("DBInstanceAlreadyExists") => {
            // A retry of this execution finds its own instance; anything else is not ours.
            let existing = describe_instance(client, &identifier).await?;
            let facts = existing.as_ref().map(instance_facts);
            let ours = facts.as_ref().is_some_and(|f| {
                f.tags.get(tag::EXECUTION) == Some(&drill.drill_id)
                    && f.tags.get(tag::ROLE).map(String::as_str) == Some(tag::ROLE_TEMP)
            });
            if !ours {
                return Err(RdsError::Guard {
                    message: format!(
                        "refused to reuse {identifier:?}: it exists and was not created by execution {:?}",
                        drill.drill_id
                    ),
                    refusals: vec![Refusal {
                        identifier: identifier.clone(),
                        guard: Guard::Owner.name().into(),
                        reason: "exists and belongs to another execution".into(),
                    }],
                });
            }
            tracing::info!(%identifier, "restore already started by this execution");
        }
        Err(e) => return Err(api_error("RestoreDBInstanceFromDBSnapshot", e)),
    }
    Ok(RestoreStarted {
        temp,
        backup,
        expires_at,
        restore_started_at: now,
    })
}

// ---------------------------------------------------------------- status

/// Maps an RDS `DBInstanceStatus` to the state machine's four states. Transitional states wait;
/// states the instance will not leave on its own fail the drill; unknown states wait (the state
/// machine's overall timeout still ends the drill).
pub fn normalize_status(raw: &str) -> TempState {
    match raw {
        // Fully operational while storage is optimised.
        "available" | "storage-optimization" => TempState::Available,
        "deleting" | "deleted" => TempState::Gone,
        "failed"
        | "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable"
        | "incompatible-network"
        | "incompatible-option-group"
        | "incompatible-parameters"
        | "incompatible-restore"
        | "insufficient-capacity"
        | "restore-error"
        | "storage-full"
        | "stopped"
        | "stopping" => TempState::Failed,
        _ => TempState::Creating,
    }
}

/// The status of a temp instance for the wait loop: one describe, never a wait.
///
/// Read-only, but still checked against guards (a)–(d): a status call naming an instance the
/// drill did not make (production, say) must not hand its endpoint to validate and export.
/// `since` starts the wait budget (the restore's start; `None`: the drill's).
#[allow(clippy::too_many_arguments)]
pub async fn status(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    identifier: &str,
    database: &str,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<StatusReport, RdsError> {
    let elapsed_seconds = (now - since.unwrap_or(drill.started_at))
        .num_seconds()
        .max(0) as u64;
    let Some(db) = describe_instance(client, identifier).await? else {
        return Ok(StatusReport {
            state: TempState::Gone,
            connection: None,
            elapsed_seconds,
            detail: "not found".into(),
        });
    };
    let facts = instance_facts(&db);
    let policy = settings.guard_policy_for(Some(&drill.source_id), &facts);
    let caller = Caller::Execution {
        drill_id: drill.drill_id.clone(),
        started_at: drill.started_at,
    };
    let failures = read_guard_failures(&policy, &caller, &facts);
    if !failures.is_empty() {
        return Err(guard_error(identifier, &failures));
    }
    let raw = db.db_instance_status().unwrap_or("unknown").to_owned();
    let endpoint = db
        .endpoint()
        .and_then(|e| Some((e.address()?.to_owned(), e.port()?)));
    let secret = db.master_user_secret();
    let secret_arn = secret.and_then(|s| s.secret_arn());
    // A secret without an ARN is no secret validate could read.
    let secret_status =
        secret_arn.map(|_| secret.and_then(|s| s.secret_status()).unwrap_or("unknown"));
    let (state, detail) = drill_core::temp_readiness::readiness(
        normalize_status(&raw),
        &raw,
        endpoint.is_some(),
        secret_status,
    );
    let connection = match (state, endpoint, secret_arn) {
        (TempState::Available, Some((host, port)), Some(arn)) => Some(ConnectionSpec {
            host,
            port: u16::try_from(port).unwrap_or(5432),
            database: database.to_owned(),
            secret: SecretRef::SecretsManager {
                secret_id: arn.to_owned(),
            },
            tls: TlsMode::VerifyFull,
        }),
        _ => None,
    };
    Ok(StatusReport {
        state,
        connection,
        elapsed_seconds,
        detail,
    })
}

/// Guards (a)–(d), the ones a call on a running temp of this execution must pass: prefix, role
/// tag, owner, not protected.
pub(crate) fn read_guard_failures(
    policy: &GuardPolicy,
    caller: &Caller,
    facts: &InstanceFacts,
) -> Vec<guards::GuardFailure> {
    [
        guards::check_prefix(policy, facts),
        guards::check_role_tag(facts),
        guards::check_owner(caller, facts),
        guards::check_not_protected(policy, facts),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect()
}

// ---------------------------------------------------------------- delete

pub(crate) fn guard_error(identifier: &str, failures: &[guards::GuardFailure]) -> RdsError {
    let refusals: Vec<Refusal> = failures.iter().map(|f| f.to_refusal(identifier)).collect();
    for r in &refusals {
        tracing::error!(identifier = %r.identifier, guard = %r.guard, reason = %r.reason, "guard refused");
    }
    RdsError::Guard {
        message: guards::describe_failures(identifier, failures),
        refusals,
    }
}

/// Deletes after the guards passed; gone or already deleting counts as gone.
async fn delete_instance(client: &Client, identifier: &str) -> Result<bool, RdsError> {
    match client
        .delete_db_instance()
        .db_instance_identifier(identifier)
        .skip_final_snapshot(true)
        // RDS deletes automated backups with the instance by default. A temp has none
        // (BackupRetentionPeriod=0); should any delete ever reach an instance that has them,
        // the drill must not be what destroys them.
        .delete_automated_backups(false)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if code_of(&e) == Some("DBInstanceNotFound") => Ok(false),
        Err(e)
            if code_of(&e) == Some("InvalidDBInstanceState")
                && e.as_service_error()
                    .and_then(|s| s.message())
                    .is_some_and(|m| m.contains("already being deleted")) =>
        {
            Ok(false)
        }
        Err(e) => Err(api_error("DeleteDBInstance", e)),
    }
}

/// Deletes the temp instance of one drill, only if every guard passes. Gone (or already being
/// deleted) is success. A guard failure makes no AWS call and returns [`RdsError::Guard`].
pub async fn delete_temp(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    identifier: &str,
) -> Result<DeleteOutcome, RdsError> {
    let mut outcome = DeleteOutcome::default();
    let Some(db) = describe_instance(client, identifier).await? else {
        outcome.already_gone.push(identifier.to_owned());
        return Ok(outcome);
    };
    if db.db_instance_status() == Some("deleting") {
        outcome.already_gone.push(identifier.to_owned());
        return Ok(outcome);
    }
    let facts = instance_facts(&db);
    let policy = settings.guard_policy_for(Some(&drill.source_id), &facts);
    let caller = Caller::Execution {
        drill_id: drill.drill_id.clone(),
        started_at: drill.started_at,
    };
    let failures = guards::check_all(&policy, &caller, &facts);
    if !failures.is_empty() {
        return Err(guard_error(identifier, &failures));
    }
    if delete_instance(client, identifier).await? {
        tracing::info!(%identifier, drill_id = %drill.drill_id, "temp instance deleted");
        outcome.deleted.push(identifier.to_owned());
    } else {
        outcome.already_gone.push(identifier.to_owned());
    }
    Ok(outcome)
}

/// Sweeps drill temp instances whose expires-at has passed, each through every guard. Instances
/// that carry neither the prefix nor the role tag are not looked at; look-alikes that fail a
/// guard are reported as refusals (and logged), not deleted; temps not yet expired are `not_due`.
pub async fn janitor(
    client: &Client,
    settings: &RdsSettings,
    now: DateTime<Utc>,
) -> Result<DeleteOutcome, RdsError> {
    let mut outcome = DeleteOutcome::default();
    let caller = Caller::Janitor { now };
    for db in list_instances(client).await? {
        let facts = instance_facts(&db);
        let policy = settings.guard_policy_for(None, &facts);
        let looks_like_ours = facts.identifier.starts_with(&settings.prefix)
            || facts.tags.get(tag::ROLE).map(String::as_str) == Some(tag::ROLE_TEMP);
        if !looks_like_ours || db.db_instance_status() == Some("deleting") {
            continue;
        }
        let failures = guards::check_all(&policy, &caller, &facts);
        let not_due = !failures.is_empty()
            && failures
                .iter()
                .all(|f| f.guard == Guard::Owner && f.reason.starts_with("not expired"));
        if not_due {
            outcome.not_due.push(facts.identifier);
        } else if !failures.is_empty() {
            if let RdsError::Guard { refusals, .. } = guard_error(&facts.identifier, &failures) {
                outcome.refused.extend(refusals);
            }
        } else if delete_instance(client, &facts.identifier).await? {
            tracing::info!(identifier = %facts.identifier, "janitor deleted expired temp instance");
            outcome.deleted.push(facts.identifier);
        } else {
            outcome.already_gone.push(facts.identifier);
        }
    }
    Ok(outcome)
}

// ---------------------------------------------------------------- snapshot copies

/// A drill-made copy of a source's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOutcome {
    /// The snapshot copied (identifier, or ARN when it came from another region or account).
    pub source_snapshot: String,
    pub copy: String,
    /// Region the copy was made in.
    pub region: String,
    pub expires_at: DateTime<Utc>,
    /// False when this execution had already made the copy (a retry).
    pub created: bool,
    /// Drill copies of this source newly shared with the `share_with` accounts by this call
    /// (this copy, or an earlier one that was still being copied when it was made).
    pub shared: Vec<String>,
    /// Drill copies not shareable yet because RDS is still copying them; a later run shares them.
    pub share_pending: Vec<String>,
}

/// Where a copy goes: the region of `client` (the source's client for a copy within the region),
/// encrypted with `kms_key_id` (a key of that region), then shared with `share_with` accounts,
/// which can restore it or copy it into their own account (by ARN, with
/// [`SnapshotSelector::Id`]).
#[derive(Debug, Clone, Copy)]
pub struct CopyTarget<'a> {
    pub client: &'a Client,
    pub kms_key_id: Option<&'a str>,
    pub share_with: &'a [String],
}

/// A client like `base` (credentials, endpoint, retries) for another region: the destination of
/// a cross-region copy.
pub fn client_in_region(base: &Client, region: &str) -> Client {
    Client::from_conf(
        base.config()
            .to_builder()
            .region(aws_sdk_rds::config::Region::new(region.to_owned()))
            .build(),
    )
}

/// The client for snapshot copies: `base` itself, or one for `region` when it is given.
pub fn client_for_region(base: &Client, region: Option<&str>) -> Client {
    match region {
        Some(region) => client_in_region(base, region),
        None => base.clone(),
    }
}

fn region_of(client: &Client) -> Result<String, RdsError> {
    client
        .config()
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| RdsError::InvalidInput("no AWS region configured for the copy".into()))
}

/// Copies the snapshot `selector` picks (the newest automated one by default) of `source`, found
/// through `source_client`, to a manual drill-tagged snapshot in `target`'s region, which
/// survives the instance's deletion; then shares this source's drill copies with
/// `target.share_with`. Another region's or account's snapshot is named by ARN (see
/// [`drill_core::snapshots::copy_source`]); GovCloud cross-region copies are refused.
#[allow(clippy::too_many_arguments)]
pub async fn copy_snapshot(
    source_client: &Client,
    target: CopyTarget<'_>,
    settings: &RdsSettings,
    drill: &DrillContext,
    source: &str,
    selector: &SnapshotSelector,
    retention_days: u32,
    now: DateTime<Utc>,
) -> Result<CopyOutcome, RdsError> {
    snapshots::validate_share_accounts(target.share_with).map_err(RdsError::InvalidInput)?;
    let region = region_of(target.client)?;
    let source_region = region_of(source_client)?;
    let snap = choose_snapshot(source_client, source, selector, None, now).await?;
    let ask = snapshots::CopyAsk {
        source_region: &source_region,
        destination_region: &region,
        kms_key_id: target.kms_key_id,
        sharing: !target.share_with.is_empty(),
    };
    let from =
        snapshots::copy_source(&snap, &ask).map_err(|e| RdsError::InvalidInput(e.to_string()))?;
    let copy = temp_identifier(settings, drill, source)?;
    let expires_at = now + Duration::days(i64::from(retention_days.max(1)));
    let client = target.client;
    let result = client
        .copy_db_snapshot()
        .source_db_snapshot_identifier(&from.identifier)
        .target_db_snapshot_identifier(&copy)
        .set_kms_key_id(target.kms_key_id.map(str::to_owned))
        .copy_tags(false)
        .tags(tag_of(tag::ROLE, tag::ROLE_SNAPSHOT_COPY))
        .tags(tag_of(tag::EXECUTION, drill.drill_id.clone()))
        .tags(tag_of(tag::SOURCE, source))
        .tags(tag_of(
            tag::EXPIRES_AT,
            expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ))
        .tags(tag_of(tag::COPIED_FROM, from.identifier.clone()))
        .send()
        .await;
    let created = match result {
        Ok(_) => true,
        Err(e) if code_of(&e) == Some("DBSnapshotAlreadyExists") => {
            let existing = find_snapshot(client, &copy).await?;
            let ours = existing
                .first()
                .is_some_and(|s| s.tags.get(tag::EXECUTION) == Some(&drill.drill_id));
            if !ours {
                return Err(RdsError::Guard {
                    message: format!(
                        "refused to reuse snapshot {copy:?}: not made by this execution"
                    ),
                    refusals: vec![Refusal {
                        identifier: copy,
                        guard: Guard::Owner.name().into(),
                        reason: "exists and belongs to another execution".into(),
                    }],
                });
            }
            false
        }
        Err(e) => return Err(api_error("CopyDBSnapshot", e)),
    };
    tracing::info!(from = %from.identifier, copy = %copy, region = %region, created, "snapshot copied");
    let (shared, share_pending) = if target.share_with.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        share_copies(client, settings, source, target.share_with).await?
    };
    // A copy RDS failed to make, or one stuck for a day, means the backup the copy stands for
    // does not exist: say so loudly rather than report another copy started.
    let problems = snapshots::copy_problems(&drill_copies(client, settings, source).await?, now);
    if !problems.is_empty() {
        return Err(RdsError::CopyProblem(format!(
            "snapshot copies of {source:?} in {region}: {}",
            problems.join("; ")
        )));
    }
    Ok(CopyOutcome {
        source_snapshot: from.identifier,
        copy,
        region,
        expires_at,
        created,
        shared,
        share_pending,
    })
}

/// The accounts a snapshot is shared with (its `restore` attribute).
pub async fn shared_with(client: &Client, snapshot: &str) -> Result<Vec<String>, RdsError> {
    let attrs = client
        .describe_db_snapshot_attributes()
        .db_snapshot_identifier(snapshot)
        .send()
        .await
        .map_err(|e| api_error("DescribeDBSnapshotAttributes", e))?;
    Ok(attrs
        .db_snapshot_attributes_result()
        .map(|r| r.db_snapshot_attributes())
        .unwrap_or_default()
        .iter()
        .filter(|a| a.attribute_name() == Some("restore"))
        .flat_map(|a| a.attribute_values().iter().cloned())
        .collect())
}

/// The drill's copies of `source` in `client`'s region: manual snapshots passing
/// [`drill_core::snapshots::ownership_guards`].
async fn drill_copies(
    client: &Client,
    settings: &RdsSettings,
    source: &str,
) -> Result<Vec<SnapshotFacts>, RdsError> {
    let policy = CopyPolicy {
        prefix: settings.prefix.clone(),
        source_id: source.to_owned(),
        keep_newest: 1,
    };
    Ok(list_snapshots(client, source, Some("manual"))
        .await?
        .into_iter()
        .filter(|s| snapshots::ownership_guards(&policy, s).is_empty())
        .collect())
}

/// Shares every available drill copy of `source` in `client`'s region with `accounts` (adding
/// them to the `restore` attribute). Only snapshots passing
/// [`drill_core::snapshots::ownership_guards`] are ever shared: never an automated snapshot,
/// never one somebody else made. Returns (newly shared, still being copied).
pub async fn share_copies(
    client: &Client,
    settings: &RdsSettings,
    source: &str,
    accounts: &[String],
) -> Result<(Vec<String>, Vec<String>), RdsError> {
    snapshots::validate_share_accounts(accounts).map_err(RdsError::InvalidInput)?;
    let (mut shared, mut pending) = (Vec::new(), Vec::new());
    for snap in drill_copies(client, settings, source).await? {
        if snap.status != "available" {
            pending.push(snap.id);
            continue;
        }
        let current = shared_with(client, &snap.id).await?;
        let missing: Vec<String> = accounts
            .iter()
            .filter(|a| !current.contains(a))
            .cloned()
            .collect();
        if missing.is_empty() {
            continue;
        }
        client
            .modify_db_snapshot_attribute()
            .db_snapshot_identifier(&snap.id)
            .attribute_name("restore")
            .set_values_to_add(Some(missing.clone()))
            .send()
            .await
            .map_err(|e| api_error("ModifyDBSnapshotAttribute", e))?;
        tracing::info!(snapshot = %snap.id, accounts = ?missing, "drill copy shared");
        shared.push(snap.id);
    }
    Ok((shared, pending))
}

/// What snapshot expiry did for one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExpiryOutcome {
    pub expired: Vec<String>,
    pub kept: Vec<String>,
    pub refused: Vec<Refusal>,
}

/// Deletes expired drill-made copies of `source` (see [`drill_core::snapshots::plan_expiry`]):
/// never an automated snapshot, never one without the drill's tags, always keeping the newest
/// `keep_newest` copies.
pub async fn expire_copies(
    client: &Client,
    settings: &RdsSettings,
    source: &str,
    keep_newest: usize,
    now: DateTime<Utc>,
) -> Result<ExpiryOutcome, RdsError> {
    let policy = CopyPolicy {
        prefix: settings.prefix.clone(),
        source_id: source.to_owned(),
        keep_newest,
    };
    let found = list_snapshots(client, source, Some("manual")).await?;
    let plan = snapshots::plan_expiry(&policy, now, &found);
    for r in &plan.refused {
        tracing::warn!(identifier = %r.identifier, guard = %r.guard, reason = %r.reason, "snapshot expiry refused");
    }
    let mut outcome = ExpiryOutcome {
        kept: plan.kept,
        refused: plan.refused,
        ..Default::default()
    };
    for id in plan.expire {
        // Re-check on fresh facts right before the delete.
        let fresh = find_snapshot(client, &id).await?;
        let Some(snap) = fresh.first() else { continue };
        let failures = snapshots::copy_guards(&policy, now, snap);
        if !failures.is_empty() {
            outcome
                .refused
                .extend(failures.iter().map(|f| f.to_refusal(&id)));
            continue;
        }
        match client
            .delete_db_snapshot()
            .db_snapshot_identifier(&id)
            .send()
            .await
        {
            Ok(_) => outcome.expired.push(id),
            Err(e) if code_of(&e) == Some("DBSnapshotNotFound") => {}
            Err(e) => return Err(api_error("DeleteDBSnapshot", e)),
        }
    }
    Ok(outcome)
}

// ---------------------------------------------------------------- posture

/// Audits one source instance against `policy`. Read-only.
pub async fn audit(
    client: &Client,
    source: &str,
    policy: &PosturePolicy,
    now: DateTime<Utc>,
) -> Result<Vec<PostureCheck>, RdsError> {
    let db = describe_instance(client, source)
        .await?
        .ok_or_else(|| RdsError::InvalidInput(format!("source instance {source:?} not found")))?;
    let newest = list_snapshots(client, source, None)
        .await?
        .into_iter()
        .filter(|s| {
            s.status == "available"
                && matches!(s.kind, SnapshotKind::Automated | SnapshotKind::Manual)
        })
        .filter_map(|s| Some((s.id, s.taken_at?)))
        .max_by_key(|(_, t)| *t);
    let facts = posture::PostureFacts {
        identifier: source.to_owned(),
        // Unknown counts as off: the audit must not pass on missing data.
        deletion_protection: db.deletion_protection().unwrap_or(false),
        backup_retention_days: db.backup_retention_period().unwrap_or(0),
        newest_snapshot: newest,
        backup_replications: db
            .db_instance_automated_backups_replications()
            .iter()
            .filter_map(|r| r.db_instance_automated_backups_arn().map(str::to_owned))
            .collect(),
    };
    Ok(posture::audit(policy, &facts, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_normalization_covers_states_moto_never_shows() {
        use TempState::*;
        for (raw, want) in [
            ("creating", Creating),
            ("backing-up", Creating),
            ("modifying", Creating),
            ("configuring-enhanced-monitoring", Creating),
            ("rebooting", Creating),
            ("starting", Creating),
            ("some-new-state", Creating),
            ("available", Available),
            ("storage-optimization", Available),
            ("failed", Failed),
            ("incompatible-restore", Failed),
            ("incompatible-network", Failed),
            ("restore-error", Failed),
            ("storage-full", Failed),
            ("stopped", Failed),
            ("deleting", Gone),
            ("deleted", Gone),
        ] {
            assert_eq!(normalize_status(raw), want, "{raw}");
        }
    }

    #[test]
    fn settings_defaults_and_validation() {
        let s = RdsSettings::from_vars(|_| None).unwrap();
        assert_eq!(s.prefix, "rdrill-");
        assert_eq!(s.instance_classes, ["db.t4g.micro"]);
        assert_eq!(s.secret_kms_key_id, None);
        let s = RdsSettings::from_vars(|k| {
            (k == "DRILL_SECRET_KMS_KEY_ID").then(|| "arn:aws:kms:us-east-1:1:key/k".to_owned())
        })
        .unwrap();
        assert_eq!(
            s.secret_kms_key_id.as_deref(),
            Some("arn:aws:kms:us-east-1:1:key/k")
        );
        assert!(s.subnet_group.is_none() && s.security_groups.is_empty());
        let vars = |k: &str| match k {
            "DRILL_SECURITY_GROUPS" => Some(" sg-1, ,sg-2 ".to_owned()),
            "DRILL_SOURCES" => Some("prod-a,prod-b".to_owned()),
            _ => None,
        };
        let s = RdsSettings::from_vars(vars).unwrap();
        assert_eq!(s.security_groups, ["sg-1", "sg-2"]);
        assert_eq!(
            s.guard_policy(Some("prod-c")).sources,
            ["prod-a", "prod-b", "prod-c"]
        );
        for (k, v) in [
            ("DRILL_PREFIX", ""),
            ("DRILL_PREFIX", "Prod"),
            ("DRILL_TEMP_TTL_HOURS", "0"),
            ("DRILL_TEMP_TTL_HOURS", "x"),
        ] {
            let err = RdsSettings::from_vars(|key| (key == k).then(|| v.to_owned())).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{k}={v}");
        }
    }

    #[test]
    fn missing_deletion_protection_counts_as_protected() {
        let db = DbInstance::builder()
            .db_instance_identifier("rdrill-x")
            .build();
        assert!(instance_facts(&db).deletion_protection);
    }

    #[test]
    fn guard_errors_are_guard_violations_naming_the_guard() {
        let failures = vec![guards::GuardFailure {
            guard: Guard::Prefix,
            reason: "no".into(),
        }];
        let err = guard_error("prod", &failures);
        assert_eq!(err.kind(), ErrorKind::GuardViolation);
        assert!(err.to_string().contains("guard prefix"), "{err}");
    }
}

//! The `backup-set` source of the state machine: restore the newest backup set of a source into a
//! fresh temporary database on a configured PostgreSQL server — the path that still works when
//! the RDS instance and all its snapshots are gone — report its status, and drop it behind the
//! temp-database guards ([`drill_core::tempdb`]).

use chrono::{DateTime, Duration, Utc};
use drill_core::events::{
    BackupKind, BackupRef, DeleteOutcome, DrillContext, Refusal, RestoreStarted, StatusReport,
    TempResource, TempState,
};
use drill_core::tempdb::{self, DropPolicy};
use drill_core::{manifest, Classified, ErrorKind};

use crate::drill::{create_temp, drop_temp, DrillError};
use crate::dump::{self, Database, DumpError, RestoreOptions};
use crate::pg::PgError;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BackupSetError {
    #[error("no complete backup set (one with a manifest.json) under {store}")]
    NoBackupSet { store: String },
    #[error("the newest backup set {set} holds data from {taken_at} ({age_hours} h ago), older than the allowed {max_hours} h: backups have stopped")]
    TooOld {
        set: String,
        taken_at: DateTime<Utc>,
        age_hours: i64,
        max_hours: u32,
    },
    #[error(
        "temporary database {name} exists and is not this drill's ({reason}); refusing to touch it"
    )]
    NotOurs { name: String, reason: String },
    #[error("server {server} was given without a secret reference: the temp database it reports could not name one")]
    NoSecretRef { server: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    Drill(#[from] DrillError),
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Naming(#[from] drill_core::naming::NamingError),
}

impl Classified for BackupSetError {
    fn kind(&self) -> ErrorKind {
        match self {
            // Nothing to restore is a backup that does not exist: the drill's loudest failure.
            BackupSetError::NoBackupSet { .. } | BackupSetError::TooOld { .. } => {
                ErrorKind::BackupInvalid
            }
            BackupSetError::NotOurs { .. } => ErrorKind::GuardViolation,
            BackupSetError::NoSecretRef { .. } => ErrorKind::InvalidInput,
            BackupSetError::Store(e) => e.kind(),
            BackupSetError::Dump(e) => e.kind(),
            BackupSetError::Drill(e) => e.kind(),
            BackupSetError::Pg(e) => e.kind(),
            BackupSetError::Naming(_) => ErrorKind::InvalidInput,
        }
    }
}

/// Marks a set whose drill failed (a new object beside its manifest; the set itself is
/// write-once), so it is never restored as "the newest" by default.
pub async fn mark_drill_failed(
    set: &Store,
    drill_id: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let body = serde_json::json!({
        "drill_id": drill_id,
        "failed_at": Utc::now(),
        "reason": reason,
    });
    set.put(
        manifest::DRILL_FAILED_KEY,
        bytes::Bytes::from(serde_json::to_vec_pretty(&body).unwrap_or_default()),
        None,
    )
    .await
}

/// Settings of the backup-set path (from the restore and delete-temp functions' environment).
#[derive(Debug, Clone)]
pub struct TempDbSettings {
    pub prefix: String,
    pub ttl_hours: i64,
    pub protected: Vec<String>,
    pub jobs: usize,
}

impl TempDbSettings {
    /// The same prefix, lifetime and protected names as the RDS temps.
    pub fn from_rds(rds: &crate::rds::RdsSettings) -> Self {
        TempDbSettings {
            prefix: rds.prefix.clone(),
            ttl_hours: i64::from(rds.temp_ttl_hours),
            protected: rds.protected.iter().chain(&rds.sources).cloned().collect(),
            jobs: 2,
        }
    }
}

fn policy(settings: &TempDbSettings, drill_id: &str, server: &Database) -> DropPolicy {
    DropPolicy {
        prefix: settings.prefix.clone(),
        drill_id: drill_id.to_owned(),
        source_database: String::new(),
        session_database: server.database_name(),
        protected: settings.protected.clone(),
    }
}

async fn comment_of(
    admin: &tokio_postgres::Client,
    name: &str,
) -> Result<Option<Option<String>>, PgError> {
    let row = admin
        .query_opt(
            "SELECT pg_catalog.shobj_description(d.oid, 'pg_database') \
             FROM pg_catalog.pg_database d WHERE d.datname = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query("looking up the temporary database"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Restores the newest set under `store` into a new temp database on `server`. On any failure
/// after the database was created, it is dropped again (through the guards) before the error is
/// returned: the state machine has nothing to clean up after a failed restore. `server` must
/// come from a [`drill_core::events::ConnectionSpec`] (the temp it reports names the server's secret).
pub async fn restore(
    store: &Store,
    server: &Database,
    drill: &DrillContext,
    settings: &TempDbSettings,
    max_age_hours: Option<u32>,
    no_owner: bool,
    now: DateTime<Utc>,
) -> Result<RestoreStarted, BackupSetError> {
    let server_spec = server.spec().ok_or_else(|| BackupSetError::NoSecretRef {
        server: server.describe(),
    })?;
    let keys = store.list("").await?;
    let set_key =
        manifest::choose_newest_set(&keys)
            .set
            .ok_or_else(|| BackupSetError::NoBackupSet {
                store: store.url_of(""),
            })?;
    let set = store.child(&set_key);
    let manifest = dump::read_manifest(&set).await?;
    manifest::check_max_age(manifest.data_as_of(), now, max_age_hours).map_err(|old| {
        BackupSetError::TooOld {
            set: set.url_of(""),
            taken_at: old.taken_at,
            age_hours: old.age_hours,
            max_hours: old.max_hours,
        }
    })?;
    let name = tempdb::temp_database_name(
        &settings.prefix,
        &drill.source_id,
        &drill.drill_id,
        drill.started_at,
    )?;
    let admin = server.connect().await?;
    let policy = policy(settings, &drill.drill_id, server);
    // A retried invocation finds its own half-done database: start again from scratch.
    match comment_of(&admin, &name).await? {
        Some(comment)
            if comment.as_deref().and_then(tempdb::marker_drill_id)
                == Some(drill.drill_id.as_str()) =>
        {
            drop_temp(&admin, &name, &policy).await?;
        }
        Some(comment) => {
            return Err(BackupSetError::NotOurs {
                name,
                reason: comment.unwrap_or_else(|| "no ownership marker".into()),
            })
        }
        None => {}
    }
    create_temp(&admin, &name, &drill.drill_id).await?;
    let target = server.with_database(&name);
    let jobs = settings.jobs;
    if let Err(e) = dump::restore(&set, &target, &RestoreOptions { jobs, no_owner }).await {
        if let Err(drop_err) = drop_temp(&admin, &name, &policy).await {
            tracing::error!(database = %name, error = %drop_err, "could not drop the temp database after a failed restore");
        }
        return Err(e.into());
    }
    tracing::info!(database = %name, set = %set.url_of(""), "backup set restored");
    Ok(RestoreStarted {
        temp: TempResource::Database {
            name,
            server: server_spec,
        },
        backup: BackupRef {
            kind: BackupKind::BackupSet,
            id: set.url_of("").trim_end_matches('/').to_owned(),
            taken_at: manifest.data_as_of(),
        },
        expires_at: now + Duration::hours(settings.ttl_hours),
        restore_started_at: now,
    })
}

/// The status of a temp database: available once it exists with this drill's marker.
pub async fn status(
    server: &Database,
    drill: &DrillContext,
    name: &str,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<StatusReport, BackupSetError> {
    let admin = server.connect().await?;
    let elapsed_seconds = (now - since.unwrap_or(drill.started_at))
        .num_seconds()
        .max(0) as u64;
    let (state, detail, connection) = match comment_of(&admin, name).await? {
        None => (TempState::Gone, "no such database".to_owned(), None),
        Some(c)
            if c.as_deref().and_then(tempdb::marker_drill_id) == Some(drill.drill_id.as_str()) =>
        {
            let spec = server.with_database(name).spec();
            (TempState::Available, "restored".to_owned(), spec)
        }
        Some(_) => (
            TempState::Failed,
            "database exists but is not this drill's".to_owned(),
            None,
        ),
    };
    Ok(StatusReport {
        state,
        connection,
        elapsed_seconds,
        detail,
    })
}

/// Drops the temp database behind every guard. Already gone is success.
pub async fn delete(
    server: &Database,
    drill_id: &str,
    name: &str,
    settings: &TempDbSettings,
) -> Result<DeleteOutcome, BackupSetError> {
    let admin = server.connect().await?;
    let mut outcome = DeleteOutcome::default();
    match drop_temp(&admin, name, &policy(settings, drill_id, server)).await {
        Ok(true) => outcome.deleted.push(name.to_owned()),
        Ok(false) => outcome.already_gone.push(name.to_owned()),
        Err(DrillError::DropRefused { refusals, .. }) => {
            for r in &refusals {
                tracing::error!(database = %r.identifier, guard = %r.guard, reason = %r.reason, "delete refused");
            }
            return Err(BackupSetError::Drill(DrillError::DropRefused {
                name: name.to_owned(),
                refusals,
            }));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(outcome)
}

/// Refusals as the delete outcome reports them (for callers that collect instead of failing).
pub fn refusals_of(err: &BackupSetError) -> Vec<Refusal> {
    match err {
        BackupSetError::Drill(DrillError::DropRefused { refusals, .. }) => refusals.clone(),
        _ => Vec::new(),
    }
}

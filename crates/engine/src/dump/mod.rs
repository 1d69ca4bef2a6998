//! Logical backup sets: streaming export of a database to a backup store, and a verified restore
//! from one.
//!
//! A set is `schema/pre-data.sql`, `data/<schema>.<table>.<chunk>.copy.zst`, `sequences.json`,
//! `schema/post-data.sql` and, written last, `manifest.json` (see [`drill_core::manifest`]).
//!
//! Data is COPY **text** format, zstd level 1. Text rather than binary because binary COPY embeds
//! type OIDs in arrays and composite values (an `mood[]` column of a user enum fails to load into
//! a new database where the enum has another OID), and binary output of some types depends on the
//! server build; text is what pg_dump itself uses and loads into any server version. Text also
//! makes the row count of an object checkable while it streams (one newline per row: newlines in
//! values are escaped).

mod export;
mod pipe;
mod restore;
mod schema;

use std::path::PathBuf;

use drill_core::events::{ConnectionSpec, TlsMode};
use drill_core::manifest::{ManifestError, Mismatch};
use drill_core::{Classified, ErrorKind};
use tokio_postgres::Client;

use crate::pg::{self, ConnectOptions, Credentials, PgError};
use crate::store::StoreError;

pub use export::{export, ExportOptions, ExportOutcome};
pub use restore::{read_manifest, restore, RestoreOptions, RestoreOutcome};
pub use schema::{strip_ownership, strip_psql_meta};

/// Default heap bytes per data chunk: big tables are split so that no task is unbounded and two
/// workers can share one big table.
pub const DEFAULT_CHUNK_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error("{0}")]
    InvalidInput(String),
    #[error("pg_dump ({section}): {reason}")]
    PgDump { section: String, reason: String },
    /// The `pg_dump` is of an older major than the server (it would refuse to dump it).
    #[error("{0}")]
    PgDumpTooOld(String),
    #[error("backup set {set} has no manifest.json: it is incomplete (an export that did not finish) or not a backup set, and is never restored")]
    NoManifest { set: String },
    #[error("backup set {set}: {source}")]
    Manifest {
        set: String,
        #[source]
        source: ManifestError,
    },
    /// An object's bytes or rows are not what the manifest says.
    #[error("table {table}: {source}")]
    Mismatch {
        table: String,
        #[source]
        source: Mismatch,
    },
    /// An object is missing or cannot be decoded.
    #[error("table {table}, object {key}: {reason}")]
    Corrupt {
        table: String,
        key: String,
        reason: String,
    },
    /// The server refused data or a statement while loading.
    #[error("table {table}, object {key}: loading failed: {reason}")]
    Load {
        table: String,
        key: String,
        reason: String,
    },
    #[error("{what} ({key}): {reason}")]
    Schema {
        what: String,
        key: String,
        reason: String,
    },
    #[error(
        "target database {target} is not empty ({found}); restore only into a new, empty database"
    )]
    TargetNotEmpty { target: String, found: String },
    #[error("{0}")]
    Internal(String),
}

impl Classified for DumpError {
    fn kind(&self) -> ErrorKind {
        match self {
            DumpError::Store(e) => e.kind(),
            DumpError::Pg(e) => e.kind(),
            DumpError::InvalidInput(_) => ErrorKind::InvalidInput,
            DumpError::NoManifest { .. }
            | DumpError::Manifest { .. }
            | DumpError::Mismatch { .. }
            | DumpError::Corrupt { .. } => ErrorKind::BackupInvalid,
            // A restore that would mix a backup into existing data is refused like any other
            // destructive action.
            DumpError::TargetNotEmpty { .. } => ErrorKind::GuardViolation,
            DumpError::PgDump { .. }
            | DumpError::PgDumpTooOld(_)
            | DumpError::Load { .. }
            | DumpError::Schema { .. }
            | DumpError::Internal(_) => ErrorKind::CouldNotRun,
        }
    }
}

/// A database to export from or restore into: connection settings with the password held
/// privately (never printed), reusable for many worker connections and for `pg_dump`.
#[derive(Clone)]
pub struct Database {
    config: tokio_postgres::Config,
    tls: TlsMode,
    options: ConnectOptions,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("target", &self.describe())
            .field("tls", &self.tls)
            .finish()
    }
}

impl Database {
    /// From a `postgres://` URL (TLS as [`pg::url_tls_mode`] decides).
    pub fn from_url(url: &str) -> Result<Self, PgError> {
        let (config, tls) = pg::url_tls_mode(url)?;
        Ok(Database {
            config,
            tls,
            options: ConnectOptions::default(),
        })
    }

    /// From a connection spec and resolved credentials.
    pub fn from_spec(spec: &ConnectionSpec, credentials: &Credentials) -> Self {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&spec.host)
            .port(spec.port)
            .dbname(&spec.database)
            .user(&credentials.username)
            .password(credentials.password());
        Database {
            config,
            tls: spec.tls,
            options: ConnectOptions::default(),
        }
    }

    pub fn with_options(mut self, options: ConnectOptions) -> Self {
        self.options = options;
        self
    }

    /// `host:port/database`, no credentials.
    pub fn describe(&self) -> String {
        pg::describe(&self.config)
    }

    pub fn database_name(&self) -> String {
        self.config.get_dbname().unwrap_or("postgres").to_owned()
    }

    pub async fn connect(&self) -> Result<Client, PgError> {
        pg::connect_config(self.config.clone(), self.tls, &self.options).await
    }

    /// libpq environment for client programs (`pg_dump`): the password goes through
    /// `PGPASSWORD`, never the command line (visible in `ps`).
    fn libpq_env(&self, ca_file: Option<&std::path::Path>) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(h) = self.config.get_hosts().first() {
            let host = match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            env.push(("PGHOST".into(), host));
        }
        if let Some(p) = self.config.get_ports().first() {
            env.push(("PGPORT".into(), p.to_string()));
        }
        if let Some(u) = self.config.get_user() {
            env.push(("PGUSER".into(), u.to_owned()));
        }
        if let Some(p) = self.config.get_password() {
            env.push(("PGPASSWORD".into(), String::from_utf8_lossy(p).into_owned()));
        }
        env.push(("PGDATABASE".into(), self.database_name()));
        env.push(("PGAPPNAME".into(), "restore-drill pg_dump".into()));
        env.push((
            "PGCONNECT_TIMEOUT".into(),
            self.options.connect_timeout.as_secs().max(1).to_string(),
        ));
        match self.tls {
            TlsMode::Disable => env.push(("PGSSLMODE".into(), "disable".into())),
            TlsMode::VerifyFull => {
                env.push(("PGSSLMODE".into(), "verify-full".into()));
                if let Some(ca) = ca_file {
                    env.push(("PGSSLROOTCERT".into(), ca.display().to_string()));
                }
            }
        }
        env
    }

    fn ca_bundle(&self) -> Option<PathBuf> {
        self.options.ca_bundle.clone()
    }
}

/// Session settings for every data connection, so text COPY output is the same whatever the
/// server's or role's defaults (date order, float digits, bytea format, time zone).
pub(crate) const SESSION_SETUP: &str = "SET statement_timeout = 0; \
     SET lock_timeout = 0; \
     SET idle_in_transaction_session_timeout = 0; \
     SET client_encoding = 'UTF8'; \
     SET standard_conforming_strings = on; \
     SET DateStyle = 'ISO, YMD'; \
     SET IntervalStyle = 'postgres'; \
     SET TimeZone = 'UTC'; \
     SET extra_float_digits = 3; \
     SET bytea_output = 'hex'; \
     SELECT pg_catalog.set_config('search_path', '', false);";

/// `"schema"."table"`.
pub(crate) fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", pg::quote_ident(schema), pg::quote_ident(name))
}

/// sha256 of bytes, lowercase hex (as in manifests and export summaries).
/// Waits for every worker; the first failure aborts the others (the set or the restore will never
/// be complete anyway) and is returned. Results of the successful workers come back otherwise.
pub(crate) async fn join_workers<T: 'static>(
    mut workers: tokio::task::JoinSet<Result<T, DumpError>>,
    what: &str,
) -> Result<Vec<T>, DumpError> {
    let mut done = Vec::new();
    let mut first_err = None;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(Ok(v)) => done.push(v),
            Ok(Err(e)) => {
                if first_err.is_none() {
                    first_err = Some(e);
                    workers.abort_all();
                }
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                first_err.get_or_insert(DumpError::Internal(format!("{what} worker: {e}")));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Rows in a COPY text stream: exactly one newline per row (newlines in values are escaped).
pub(crate) fn count_rows(buf: &[u8]) -> u64 {
    buf.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_env_carries_the_password_only_in_pgpassword() {
        let db = Database::from_url("postgres://u:s3cret@db.example.com:6543/app").unwrap();
        let env = db.libpq_env(Some(std::path::Path::new("/ca.pem")));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("PGPASSWORD").as_deref(), Some("s3cret"));
        assert_eq!(get("PGSSLMODE").as_deref(), Some("verify-full"));
        assert_eq!(get("PGSSLROOTCERT").as_deref(), Some("/ca.pem"));
        assert_eq!(get("PGPORT").as_deref(), Some("6543"));
        assert!(env
            .iter()
            .filter(|(k, _)| k != "PGPASSWORD")
            .all(|(_, v)| !v.contains("s3cret")));
        assert!(!format!("{db:?}").contains("s3cret"));
    }

    #[test]
    fn rows_are_newlines() {
        assert_eq!(count_rows(b"1\ta\\nb\n2\t\\N\n"), 2);
        assert_eq!(count_rows(b""), 0);
    }

    #[test]
    fn corrupt_backups_are_backup_invalid_and_non_empty_targets_a_guard() {
        let e = DumpError::Corrupt {
            table: "public.t".into(),
            key: "data/x".into(),
            reason: "missing".into(),
        };
        assert_eq!(e.kind(), ErrorKind::BackupInvalid);
        assert!(e.to_string().contains("public.t") && e.to_string().contains("data/x"));
        let e = DumpError::TargetNotEmpty {
            target: "h/d".into(),
            found: "1 table".into(),
        };
        assert_eq!(e.kind(), ErrorKind::GuardViolation);
        assert_eq!(
            DumpError::NoManifest { set: "s".into() }.kind(),
            ErrorKind::BackupInvalid
        );
    }
}

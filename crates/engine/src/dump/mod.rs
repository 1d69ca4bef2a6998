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

use crate::pg::{self, PgError};
use crate::store::StoreError;
use drill_core::manifest::{ManifestError, Mismatch};
use drill_core::{Classified, ErrorKind};

pub use export::{
    export, export_unit, finish_units, plan_units, ExportOptions, ExportOutcome, PlannedSet,
};
pub use restore::{read_manifest, restore, RestoreOptions, RestoreOutcome};
pub use schema::{strip_ownership, strip_psql_meta};

/// The database exported from or restored into: the one connection descriptor.
pub use crate::pg::Database;

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

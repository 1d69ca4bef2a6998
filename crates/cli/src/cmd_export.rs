//! `drill export`.

use clap::Args;
use drill_engine::dump::{self, Database, ExportOptions};
use drill_engine::store::{Retention, Store};

use crate::output::{CliError, CliResult, Globals};

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  drill export --source postgres://app:pw@localhost/app --to s3://backups/app --jobs 2 \\\n      --object-lock-days 35"
)]
pub struct ExportArgs {
    /// Database to export (its password stays out of every log and file). Prefer the environment
    /// variable so the password is not visible in the process list.
    /// Example: --source postgres://drill:secret@db.internal:5432/app
    #[arg(
        long,
        env = "DRILL_EXPORT_SOURCE",
        hide_env_values = true,
        value_name = "POSTGRES_URL"
    )]
    source: String,

    /// Backup store; the set goes under a new `<database>/<timestamp>-<id>/` below it and nothing
    /// there is overwritten. Example: --to s3://my-backups/prod or --to file:///var/backups
    #[arg(long, value_name = "DEST")]
    to: String,

    /// Parallel COPY workers (one connection each). Example: --jobs 4
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,

    /// Split tables larger than this (heap MiB) into chunks loaded and verified separately.
    /// Example: --chunk-mb 256
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    chunk_mb: u32,

    /// Put an S3 Object Lock retention of this many days on every object (the bucket needs
    /// Object Lock enabled). Example: --object-lock-days 35
    #[arg(long, value_name = "DAYS")]
    object_lock_days: Option<u32>,

    /// Object Lock mode, with --object-lock-days. Example: --object-lock-mode GOVERNANCE
    #[arg(long, default_value = "COMPLIANCE", requires = "object_lock_days", value_parser = ["COMPLIANCE", "GOVERNANCE"])]
    object_lock_mode: String,

    /// First path segment of the set instead of the database name. Example: --label prod-app
    #[arg(long)]
    label: Option<String>,

    /// The pg_dump that captures the schema; of the server's major or newer (checked before any
    /// data is read). Default: DRILL_PG_DUMP, else next to the local PostgreSQL server binaries,
    /// else on PATH. Example: --pg-dump /usr/lib/postgresql/18/bin/pg_dump
    #[arg(long, value_name = "PATH")]
    pg_dump: Option<std::path::PathBuf>,
}

/// Opens a store URL, with an S3 client only when it is an `s3://` URL.
pub async fn open_store(url: &str) -> Result<Store, CliError> {
    let s3 = if url.starts_with("s3://") {
        let config = drill_engine::aws::load_config().await;
        Some(drill_engine::aws::s3_client(&config))
    } else {
        None
    };
    Ok(Store::open(url, s3.as_ref())?)
}

pub async fn run(args: ExportArgs, globals: &Globals) -> CliResult {
    let source = Database::from_url(&args.source)?;
    let store = open_store(&args.to).await?;
    let retention = match args.object_lock_days {
        Some(days) => Some(Retention::for_days(&args.object_lock_mode, days)?),
        None => None,
    };
    let options = ExportOptions {
        jobs: usize::from(args.jobs),
        chunk_bytes: u64::from(args.chunk_mb) * 1024 * 1024,
        retention,
        pg_dump: args.pg_dump,
        source_label: args.label,
        data_taken_at: None,
    };
    let outcome = dump::export(&source, &store, &options).await?;
    let summary = outcome.summary();
    if globals.json {
        globals.print_json(&serde_json::to_value(&summary).unwrap_or_default());
    } else {
        println!("backup set: {}", summary.backup_set);
        println!(
            "{} tables, {} rows, {} bytes of COPY data stored as {} bytes; manifest sha256 {}",
            summary.tables,
            summary.rows,
            summary.raw_bytes,
            summary.compressed_bytes,
            summary.manifest_sha256
        );
    }
    Ok(drill_core::ExitCode::Ok)
}

//! `drill restore`.

use clap::Args;
use drill_engine::dump::{self, Database, RestoreOptions};

use crate::cmd_export::open_store;
use crate::output::{CliError, CliResult, Globals};

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  createdb restored && drill restore --from s3://backups/app/app/20260102T030405Z-1a2b3c4d \\\n      --target postgres://postgres:pw@localhost/restored --jobs 2"
)]
pub struct RestoreArgs {
    /// The backup set (the directory or prefix holding manifest.json), or a source's store
    /// prefix: then its newest set whose drill did not fail (sets marked drill-failed.json are
    /// skipped; name one explicitly to restore it anyway).
    /// Example: --from s3://my-backups/prod/app/20260102T030405Z-1a2b3c4d or --from s3://my-backups/prod
    #[arg(long, value_name = "BACKUP_SET")]
    from: String,

    /// An existing, empty database to restore into; anything in it makes the restore refuse.
    /// Example: --target postgres://postgres:secret@localhost:5432/restored
    #[arg(
        long,
        env = "DRILL_RESTORE_TARGET",
        hide_env_values = true,
        value_name = "POSTGRES_URL"
    )]
    target: String,

    /// Parallel COPY workers (one connection each). Example: --jobs 4
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,

    /// Leave out ownership and privileges (like pg_restore --no-owner --no-acl): for a server
    /// without the source's roles. Objects then belong to the user of --target.
    #[arg(long)]
    no_owner: bool,
}

pub async fn run(args: RestoreArgs, globals: &Globals) -> CliResult {
    let target = Database::from_url(&args.target)?;
    let from = open_store(&args.from).await?;
    let keys = from.list("").await?;
    let set = if keys.iter().any(|k| k == drill_core::manifest::MANIFEST_KEY) {
        from
    } else {
        let choice = drill_core::manifest::choose_newest_set(&keys);
        let Some(path) = choice.set else {
            return Err(CliError::from(dump::DumpError::NoManifest { set: args.from.clone() })
                .with_hint(
                    "--from names neither a backup set nor a store holding a complete set whose drill did not fail.",
                ));
        };
        let set = from.child(&path);
        // Said on stderr, so --json output stays one document.
        eprintln!(
            "picked {} (the newest set under {} whose drill did not fail{})",
            set.url_of(""),
            args.from,
            if choice.skipped_failed.is_empty() {
                String::new()
            } else {
                format!(
                    "; skipped {} newer set(s) whose drill failed: {}",
                    choice.skipped_failed.len(),
                    choice.skipped_failed.join(", ")
                )
            }
        );
        set
    };
    let options = RestoreOptions {
        jobs: usize::from(args.jobs),
        no_owner: args.no_owner,
    };
    let outcome = dump::restore(&set, &target, &options)
        .await
        .map_err(|e| {
            let hint = match &e {
                dump::DumpError::TargetNotEmpty { .. } => Some(
                    "Create a new database for the restore (e.g. `createdb restored`) and pass it as --target.",
                ),
                dump::DumpError::NoManifest { .. } => Some(
                    "--from must name one backup set (the prefix holding manifest.json), e.g. s3://bucket/prefix/app/20260102T030405Z-1a2b3c4d.",
                ),
                _ => None,
            };
            let err = CliError::from(e);
            match hint {
                Some(h) => err.with_hint(h),
                None => err,
            }
        })?;
    if globals.json {
        globals.print_json(&serde_json::to_value(&outcome).unwrap_or_default());
    } else {
        println!(
            "restored {} into {}: {} tables, {} rows, {} sequences; every object verified",
            outcome.backup_set, outcome.target, outcome.tables, outcome.rows, outcome.sequences
        );
    }
    Ok(drill_core::ExitCode::Ok)
}

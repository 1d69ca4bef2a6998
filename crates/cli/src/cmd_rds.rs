//! `drill restore-snapshot` and the other RDS commands.

use clap::Args;

use crate::output::{CliError, CliResult, Globals};

#[derive(Debug, Args)]
pub struct RestoreSnapshotArgs {}

pub async fn restore_snapshot(_args: RestoreSnapshotArgs, _globals: &Globals) -> CliResult {
    Err(CliError::new(
        drill_core::ErrorKind::CouldNotRun,
        "drill restore-snapshot is not available in this build",
    ))
}

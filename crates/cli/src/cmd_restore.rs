//! `drill restore`.

use clap::Args;

use crate::output::{CliError, CliResult, Globals};

#[derive(Debug, Args)]
pub struct RestoreArgs {}

pub async fn run(_args: RestoreArgs, _globals: &Globals) -> CliResult {
    Err(CliError::new(
        drill_core::ErrorKind::CouldNotRun,
        "drill restore is not available in this build",
    ))
}

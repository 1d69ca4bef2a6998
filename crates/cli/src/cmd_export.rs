//! `drill export`.

use clap::Args;

use crate::output::{CliError, CliResult, Globals};

#[derive(Debug, Args)]
pub struct ExportArgs {}

pub async fn run(_args: ExportArgs, _globals: &Globals) -> CliResult {
    Err(CliError::new(
        drill_core::ErrorKind::CouldNotRun,
        "drill export is not available in this build",
    ))
}

//! `drill validate`.

use clap::Args;

use crate::output::{CliError, CliResult, Globals};

#[derive(Debug, Args)]
pub struct ValidateArgs {}

pub async fn run(_args: ValidateArgs, _globals: &Globals) -> CliResult {
    Err(CliError::new(
        drill_core::ErrorKind::CouldNotRun,
        "drill validate is not available in this build",
    ))
}

//! `drill`: run restore drills locally against any PostgreSQL.
//!
//! A thin binary: parse and validate the command line, hand over to one command module, turn
//! its outcome into an exit code.

mod aws_html;
mod cmd_aws;
mod cmd_demo;
mod cmd_export;
mod cmd_plan;
mod cmd_rds;
mod cmd_restore;
mod cmd_run;
mod cmd_sandbox;
mod cmd_validate;
mod html;
mod output;
mod progress;
mod summary;

use clap::{Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success: everything ran and every check passed
  1  backup invalid: a check failed, or the backup set is corrupt or incomplete
  2  usage error: bad option, configuration or URL
  3  could not run: server unreachable, permission denied, disk full, ...
  4  a safety guard refused a destructive action
  10 drill sandbox diff: changes; 11: destructive changes";

#[derive(Debug, Parser)]
#[command(
    name = "drill",
    version,
    about = "Prove that a PostgreSQL backup can really be restored: export, restore, validate.",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Print machine-readable JSON on stdout instead of tables (no progress bars, no colours).
    #[arg(long, global = true)]
    json: bool,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// See the whole product work locally in one command: throwaway PostgreSQL, a learning
    /// platform database, two nightly drills, a destructive DELETE caught as data loss.
    Demo(cmd_demo::DemoArgs),
    /// Run a local drill of a real database from a configuration file: export, restore into a
    /// temporary database, validate, drop it through the guards, report.
    Run(cmd_run::RunArgs),
    /// Write a logical backup set of a database to a backup store (file:// or s3://).
    Export(cmd_export::ExportArgs),
    /// Restore a backup set into an empty database, verifying every object while loading.
    Restore(cmd_restore::RestoreArgs),
    /// Run the validation checks against a restored database and write a report.
    Validate(cmd_validate::ValidateArgs),
    /// Restore an RDS snapshot to a temporary instance (manual run of the restore Lambda).
    RestoreSnapshot(cmd_rds::RestoreSnapshotArgs),
    /// Report the state of a temporary instance (manual run of the restore Lambda's status); an
    /// available temp without an RDS-managed master secret gets one turned on, as in the state
    /// machine (a restore from a snapshot has none).
    SnapshotStatus(cmd_rds::SnapshotStatusArgs),
    /// Delete a drill's temporary instance, only if every safety guard passes.
    DeleteTemp(cmd_rds::TempArgs),
    /// Delete expired temporary instances left by drills that died, through the same guards.
    Janitor(cmd_rds::JanitorArgs),
    /// Copy a source instance's (--cluster: Aurora cluster's) newest automated snapshot to a
    /// drill-tagged manual snapshot, here or in another region; share and expire drill copies.
    CopySnapshot(cmd_rds::CopySnapshotArgs),
    /// Audit the backup posture of source instances and Aurora clusters (read-only).
    Audit(cmd_rds::AuditArgs),
    /// Check a Terraform plan (`terraform show -json`) before apply: destructive changes to data,
    /// planned creates that already exist (missing or stale state), signed approval.
    PlanCheck(cmd_plan::PlanCheckArgs),
    /// Write the approval text of a destructive plan, to be signed with `ssh-keygen -Y sign`.
    PlanApprove(cmd_plan::PlanApproveArgs),
    /// Operate the deployed drill: start and follow an execution, read what happened, list a
    /// source's nights from the report store.
    Aws(cmd_aws::AwsArgs),
    /// A disposable copy of production for a risky change, and the diff to read before
    /// applying it: create, connect, diff (exit 0 no change / 10 changes / 11 destructive),
    /// list, delete, janitor.
    Sandbox(cmd_sandbox::SandboxArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let globals = output::Globals::new(cli.json, cli.verbose);
    globals.init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return std::process::ExitCode::from(drill_core::ExitCode::CouldNotRun.code());
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => cmd_demo::run(args, &globals).await,
            Command::Run(args) => cmd_run::run(args, &globals).await,
            Command::Export(args) => cmd_export::run(args, &globals).await,
            Command::Restore(args) => cmd_restore::run(args, &globals).await,
            Command::Validate(args) => cmd_validate::run(args, &globals).await,
            Command::RestoreSnapshot(args) => cmd_rds::restore_snapshot(args, &globals).await,
            Command::SnapshotStatus(args) => cmd_rds::snapshot_status(args, &globals).await,
            Command::DeleteTemp(args) => cmd_rds::delete_temp(args, &globals).await,
            Command::Janitor(args) => cmd_rds::janitor(args, &globals).await,
            Command::CopySnapshot(args) => cmd_rds::copy_snapshot(args, &globals).await,
            Command::Audit(args) => cmd_rds::audit(args, &globals).await,
            Command::PlanCheck(args) => cmd_plan::check(args, &globals).await,
            Command::PlanApprove(args) => cmd_plan::approve(args, &globals).await,
            Command::Aws(args) => cmd_aws::run(args, &globals).await,
            Command::Sandbox(args) => cmd_sandbox::run(args, &globals).await,
        }
    });
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            globals.print_error(&err);
            err.kind.exit_code()
        }
    };
    std::process::ExitCode::from(code.code())
}

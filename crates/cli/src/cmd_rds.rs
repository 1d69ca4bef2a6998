//! `drill restore-snapshot` and the other RDS commands: manual runs of what the restore and
//! delete-temp Lambdas do, with the same guards (`drill_core::guards`) in front of every delete.

use clap::Args;
use drill_core::events::{DrillContext, SnapshotSelector};
use drill_core::posture::PosturePolicy;
use drill_core::snapshots::SnapshotOf;
use drill_core::{Classified, ExitCode};
use drill_engine::rds::{self, RdsSettings, RestoreInput};

use crate::output::{CliError, CliResult, Globals};

/// The drill run a command acts for. Guards compare the temp's tags with these values, so
/// `delete-temp` and `snapshot-status` need the ones `restore-snapshot` printed.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Drill execution id (default: a new `cli-...` id).
    #[arg(long)]
    drill_id: Option<String>,
    /// When the drill started, RFC 3339 (default: now).
    #[arg(long)]
    started_at: Option<String>,
}

impl DrillArgs {
    fn context(&self, source: &str) -> Result<DrillContext, CliError> {
        let now = rds::utc_now();
        let drill_id = self.drill_id.clone().unwrap_or_else(|| {
            format!("cli-{}-{}", now.format("%Y%m%dT%H%M%S"), std::process::id())
        });
        let started_at = self.started_at.clone().unwrap_or_else(|| now.to_rfc3339());
        serde_json::from_value(serde_json::json!({
            "drill_id": drill_id,
            "source_id": source,
            "started_at": started_at,
        }))
        .map_err(|e| CliError::usage(format!("--started-at {started_at:?}: {e}")))
    }
}

/// `DRILL_*` settings from the environment, with command-line overrides.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// The drill's own DB subnet group (default: $DRILL_SUBNET_GROUP).
    #[arg(long)]
    subnet_group: Option<String>,
    /// VPC security group id for the temp instance; repeatable (default: $DRILL_SECURITY_GROUPS).
    #[arg(long = "security-group")]
    security_groups: Vec<String>,
    /// Instance class of the temp instance; repeatable, tried in order while RDS has no capacity
    /// for one (default: $DRILL_INSTANCE_CLASS, comma-separated, or db.t4g.micro).
    #[arg(long = "instance-class")]
    instance_classes: Vec<String>,
    /// DB parameter group of the temp instance (default: the engine family's default group).
    #[arg(long)]
    parameter_group: Option<String>,
}

fn settings(args: Option<&SettingsArgs>) -> Result<RdsSettings, CliError> {
    let mut s = RdsSettings::from_env()?;
    if let Some(a) = args {
        if a.subnet_group.is_some() {
            s.subnet_group = a.subnet_group.clone();
        }
        if !a.security_groups.is_empty() {
            s.security_groups = a.security_groups.clone();
        }
        if !a.instance_classes.is_empty() {
            s.instance_classes = a.instance_classes.clone();
        }
    }
    Ok(s)
}

async fn client() -> rds::Client {
    drill_engine::aws::rds_client(&drill_engine::aws::load_config().await)
}

fn print(globals: &Globals, value: serde_json::Value, human: String) {
    if globals.json {
        globals.print_json(&value);
    } else {
        println!("{human}");
    }
}

/// Output values are plain data; serializing them cannot fail, `Null` only guards the impossible.
macro_rules! to_json {
    ($value:expr) => {
        serde_json::to_value($value).unwrap_or(serde_json::Value::Null)
    };
}

#[derive(Debug, Args)]
pub struct RestoreSnapshotArgs {
    /// Source DB instance identifier.
    #[arg(long)]
    source: String,
    /// Database inside the instance to validate and export later.
    #[arg(long)]
    database: String,
    /// Which snapshot: newest, newest-automated or newest-manual.
    #[arg(long, default_value = "newest", value_parser = ["newest", "newest-automated", "newest-manual"])]
    pick: String,
    /// Restore this snapshot (identifier or ARN) instead of picking one.
    #[arg(long, conflicts_with = "pick")]
    snapshot_id: Option<String>,
    /// Refuse snapshots older than this many hours.
    #[arg(long)]
    max_age_hours: Option<u32>,
    #[command(flatten)]
    drill: DrillArgs,
    #[command(flatten)]
    settings: SettingsArgs,
}

pub async fn restore_snapshot(args: RestoreSnapshotArgs, globals: &Globals) -> CliResult {
    let settings = settings(Some(&args.settings))?;
    let drill = args.drill.context(&args.source)?;
    let selector = match (&args.snapshot_id, args.pick.as_str()) {
        (Some(id), _) => SnapshotSelector::Id { id: id.clone() },
        (None, "newest-automated") => SnapshotSelector::NewestAutomated,
        (None, "newest-manual") => SnapshotSelector::NewestManual,
        _ => SnapshotSelector::Newest,
    };
    let input = RestoreInput {
        source_instance: args.source.clone(),
        selector,
        max_age_hours: args.max_age_hours,
        database: args.database,
        parameter_group: args.settings.parameter_group.clone(),
    };
    let started = rds::restore(&client().await, &settings, &drill, &input, rds::utc_now()).await?;
    let human = format!(
        "restoring {} into {:?} (drill {} started {}); expires {}\n\
         follow with: drill snapshot-status --source {} --drill-id {} --started-at {} --identifier <temp>",
        started.backup.id,
        started.temp,
        drill.drill_id,
        drill.started_at.to_rfc3339(),
        started.expires_at.to_rfc3339(),
        args.source,
        drill.drill_id,
        drill.started_at.to_rfc3339(),
    );
    let mut value = to_json!(&started);
    value["drill"] = to_json!(&drill);
    print(globals, value, human);
    Ok(ExitCode::Ok)
}

#[derive(Debug, Args)]
pub struct TempArgs {
    /// Source DB instance identifier the temp was restored from.
    #[arg(long)]
    source: String,
    /// Temp instance identifier.
    #[arg(long)]
    identifier: String,
    #[command(flatten)]
    drill: DrillArgs,
}

#[derive(Debug, Args)]
pub struct SnapshotStatusArgs {
    #[command(flatten)]
    temp: TempArgs,
    /// Database inside the instance.
    #[arg(long)]
    database: String,
}

pub async fn snapshot_status(args: SnapshotStatusArgs, globals: &Globals) -> CliResult {
    let settings = settings(None)?;
    let drill = args.temp.drill.context(&args.temp.source)?;
    let client = client().await;
    let mut report = rds::status(
        &client,
        &settings,
        &drill,
        &args.temp.identifier,
        &args.database,
        None,
        rds::utc_now(),
    )
    .await?;
    // As the state machine does: a restore from a snapshot has no managed secret; turn it on.
    if report.state == drill_core::events::TempState::SecretNeeded {
        let asked = drill_engine::rds_secret::enable_managed_secret(
            &client,
            &settings,
            &drill,
            &args.temp.identifier,
        )
        .await?;
        report.detail = format!("{}; {}", report.detail, asked.detail);
    }
    let human = format!(
        "{}: {:?} ({}), {} s since the drill started",
        args.temp.identifier, report.state, report.detail, report.elapsed_seconds
    );
    print(globals, to_json!(&report), human);
    Ok(ExitCode::Ok)
}

pub async fn delete_temp(args: TempArgs, globals: &Globals) -> CliResult {
    let settings = settings(None)?;
    let drill = args.drill.context(&args.source)?;
    let outcome = rds::delete_temp(&client().await, &settings, &drill, &args.identifier)
        .await
        .map_err(|e| {
            let guard = e.kind() == drill_core::ErrorKind::GuardViolation;
            let err = CliError::from(e);
            if guard {
                err.with_hint(
                    "nothing was deleted. For a temp made by `drill restore-snapshot`, pass the \
                     --drill-id and --started-at it printed.",
                )
            } else {
                err
            }
        })?;
    let human = if outcome.deleted.is_empty() {
        format!("{}: already gone", args.identifier)
    } else {
        format!("{}: deleted", args.identifier)
    };
    print(globals, to_json!(&outcome), human);
    Ok(ExitCode::Ok)
}

#[derive(Debug, Args)]
pub struct JanitorArgs {}

pub async fn janitor(_args: JanitorArgs, globals: &Globals) -> CliResult {
    let settings = settings(None)?;
    let outcome = rds::janitor(&client().await, &settings, rds::utc_now()).await?;
    let mut human = format!(
        "deleted: {:?}\nnot due: {:?}",
        outcome.deleted, outcome.not_due
    );
    for r in &outcome.refused {
        human.push_str(&format!(
            "\nrefused {} (guard {}): {}",
            r.identifier, r.guard, r.reason
        ));
    }
    print(globals, to_json!(&outcome), human);
    Ok(if outcome.refused.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::GuardViolation
    })
}

#[derive(Debug, Args)]
pub struct CopySnapshotArgs {
    /// Source DB instance identifier (with --cluster: the Aurora DB cluster identifier).
    #[arg(long)]
    source: String,
    /// The source is an Aurora DB cluster: copy its cluster snapshots.
    #[arg(long)]
    cluster: bool,
    /// Days until the copy may be expired.
    #[arg(long, default_value_t = 7)]
    retention_days: u32,
    /// Copy this snapshot (identifier, or the ARN of one shared with this account) instead of
    /// the source's newest automated snapshot.
    #[arg(long, value_name = "ID|ARN")]
    snapshot_id: Option<String>,
    /// Make the copy in this region (default: the configured region). Expiry then runs there.
    #[arg(long, value_name = "REGION")]
    to_region: Option<String>,
    /// KMS key of the destination for the copy (required for encrypted snapshots copied to
    /// another region or from another account).
    #[arg(long)]
    kms_key_id: Option<String>,
    /// Share this source's drill copies with this AWS account (12 digits); repeatable. That
    /// account can then restore them, or copy them into its own account with --snapshot-id ARN.
    #[arg(long = "share-with", value_name = "ACCOUNT")]
    share_with: Vec<String>,
    /// Afterwards, expire this source's drill copies past their retention, keeping this many of
    /// the newest.
    #[arg(long)]
    expire_keep: Option<usize>,
    #[command(flatten)]
    drill: DrillArgs,
}

pub async fn copy_snapshot(args: CopySnapshotArgs, globals: &Globals) -> CliResult {
    let settings = settings(None)?;
    let drill = args.drill.context(&args.source)?;
    let source_client = client().await;
    let client = rds::client_for_region(&source_client, args.to_region.as_deref());
    let selector = match &args.snapshot_id {
        Some(id) => SnapshotSelector::Id { id: id.clone() },
        None => SnapshotSelector::NewestAutomated,
    };
    let now = rds::utc_now();
    let of = if args.cluster {
        SnapshotOf::Cluster
    } else {
        SnapshotOf::Instance
    };
    let target = rds::CopyTarget {
        client: &client,
        kms_key_id: args.kms_key_id.as_deref(),
        share_with: &args.share_with,
    };
    let copy = rds::copy_snapshot(
        &source_client,
        of,
        target,
        &settings,
        &drill,
        &args.source,
        &selector,
        args.retention_days,
        now,
    )
    .await?;
    let mut value = serde_json::json!({ "copy": to_json!(&copy) });
    let mut human = format!(
        "copied {} to {} in {}",
        copy.source_snapshot, copy.copy, copy.region
    );
    if !copy.shared.is_empty() || !copy.share_pending.is_empty() {
        human.push_str(&format!(
            "\nshared with {:?}: {:?}; still copying, shared by a later run: {:?}",
            args.share_with, copy.shared, copy.share_pending
        ));
    }
    if let Some(keep) = args.expire_keep {
        let expiry = rds::expire_copies(&client, of, &settings, &args.source, keep, now).await?;
        human.push_str(&format!(
            "\nexpired: {:?}\nkept: {:?}",
            expiry.expired, expiry.kept
        ));
        value["expiry"] = to_json!(&expiry);
    }
    print(globals, value, human);
    Ok(ExitCode::Ok)
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Source DB instance identifier; repeatable.
    #[arg(long = "source", required_unless_present = "clusters")]
    sources: Vec<String>,
    /// Source Aurora DB cluster identifier; repeatable.
    #[arg(long = "cluster")]
    clusters: Vec<String>,
    #[arg(long, default_value_t = 7)]
    min_retention_days: u32,
    #[arg(long, default_value_t = 26)]
    rpo_hours: u32,
    /// Require automated backups replicated to another region.
    #[arg(long)]
    require_replication: bool,
}

pub async fn audit(args: AuditArgs, globals: &Globals) -> CliResult {
    let policy = PosturePolicy {
        min_retention_days: args.min_retention_days,
        rpo_hours: args.rpo_hours,
        require_replication: args.require_replication,
    };
    let client = client().await;
    let mut checks = Vec::new();
    for source in &args.sources {
        checks.extend(rds::audit(&client, source, &policy, rds::utc_now()).await?);
    }
    for cluster in &args.clusters {
        checks.extend(rds::audit_cluster(&client, cluster, &policy, rds::utc_now()).await?);
    }
    let human = checks
        .iter()
        .map(|c| {
            format!(
                "{} {:<20} {:<20} {}",
                if c.passed { "PASS" } else { "FAIL" },
                c.source,
                c.name,
                c.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    print(globals, to_json!(&checks), human);
    Ok(if checks.iter().all(|c| c.passed) {
        ExitCode::Ok
    } else {
        ExitCode::BackupInvalid
    })
}

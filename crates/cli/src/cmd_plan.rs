//! `drill plan-check` and `drill plan-approve`: the gate between `terraform plan` and
//! `terraform apply`. The decisions are `drill_core::plan`'s; AWS look-ups are
//! `drill_engine::plan_probe`'s; signatures are checked by `ssh-keygen` (`drill_engine::ssh_sig`).

use std::path::{Path, PathBuf};

use chrono::{Duration, SecondsFormat, Utc};
use clap::Args;
use drill_core::plan::approval::{MAX_VALIDITY_HOURS, NAMESPACE};
use drill_core::plan::{
    self, Approval, ApprovalStatus, Finding, GateConfig, GateReport, Plan, Refusal,
};
use drill_core::ExitCode;

use crate::output::{CliError, CliResult, Globals};

const CHECK_AFTER: &str = "\
Examples:
  terraform plan -out=tfplan && terraform show -json tfplan > plan.json
  drill plan-check plan.json
  drill plan-check plan.json --approval plan-approval.txt --allowed-signers /secure/allowed_signers
  terraform apply tfplan        # exactly the plan that was checked

Blocks (exit 4) when a planned create already exists in the account (missing or stale state;
never approvable) or when a data-bearing resource is deleted, replaced or loses a protection and
no valid signed approval names this exact plan. Bad input exits 2; AWS not answering exits 3.
The existence check needs read-only AWS credentials: rds:DescribeDBInstances,
rds:DescribeDBClusters, rds:DescribeDBSnapshots, rds:DescribeDBClusterSnapshots, s3:ListBucket
(HeadBucket), dynamodb:DescribeTable, elasticfilesystem:DescribeFileSystems,
backup:DescribeBackupVault, kms:ListAliases (infra/examples/plan-gate/plan-check-readonly.json).";

const APPROVE_AFTER: &str = "\
Example:
  drill plan-approve plan.json --out plan-approval.txt
  ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n restore-drill-plan-approval plan-approval.txt
  # -> plan-approval.txt.sig; hand both files to the pipeline";

#[derive(Debug, Args)]
#[command(after_help = CHECK_AFTER)]
pub struct PlanCheckArgs {
    /// The plan as JSON: `terraform show -json PLANFILE > plan.json`.
    plan: PathBuf,
    /// Gate configuration (TOML), e.g. `data_bearing_types = ["aws_neptune_cluster"]`.
    #[arg(long, env = "DRILL_PLAN_GATE_CONFIG")]
    config: Option<PathBuf>,
    /// A signed approval of this plan (written by `drill plan-approve`).
    #[arg(long, env = "DRILL_PLAN_APPROVAL")]
    approval: Option<PathBuf>,
    /// The approval's signature (default: the approval's path + `.sig`, as ssh-keygen writes it).
    #[arg(long)]
    signature: Option<PathBuf>,
    /// Allowed signers (ssh-keygen ALLOWED SIGNERS format). Keep it where the automation cannot
    /// write: with it, an automation could approve its own plans.
    #[arg(long, env = "DRILL_ALLOWED_SIGNERS")]
    allowed_signers: Option<PathBuf>,
    /// Skip the AWS existence check (no AWS calls): missing or stale state then goes unnoticed.
    #[arg(long)]
    no_existence_check: bool,
}

#[derive(Debug, Args)]
#[command(after_help = APPROVE_AFTER)]
pub struct PlanApproveArgs {
    /// The plan as JSON: `terraform show -json PLANFILE > plan.json`.
    plan: PathBuf,
    /// Where to write the approval text to sign.
    #[arg(long, short, default_value = "plan-approval.txt")]
    out: PathBuf,
    /// How long the approval stays valid, in hours (at most 168).
    #[arg(long, default_value_t = 24)]
    expires_in_hours: i64,
    /// Gate configuration (TOML), as for plan-check.
    #[arg(long, env = "DRILL_PLAN_GATE_CONFIG")]
    config: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read {what} {}: {e}", path.display())))
}

fn load(plan_path: &Path, config: Option<&Path>) -> Result<(Plan, GateConfig), CliError> {
    let what = plan_path.display().to_string();
    let text = String::from_utf8(read(plan_path, "plan")?)
        .map_err(|_| CliError::usage(format!("plan {what} is not UTF-8 text")))?;
    let plan = Plan::from_json(&text, &what)?;
    let config = match config {
        None => GateConfig::default(),
        Some(p) => {
            let t = String::from_utf8(read(p, "gate configuration")?).map_err(|_| {
                CliError::usage(format!("gate configuration {} is not UTF-8", p.display()))
            })?;
            GateConfig::from_toml(&t, &p.display().to_string())?
        }
    };
    Ok((plan, config))
}

/// Verifies the approval's signature, then whether it covers this plan.
fn check_approval(
    args: &PlanCheckArgs,
    approval_path: &Path,
    digest: &str,
    findings: &[Finding],
) -> Result<ApprovalStatus, CliError> {
    let Some(allowed) = &args.allowed_signers else {
        return Err(CliError::usage(
            "--approval needs --allowed-signers (or DRILL_ALLOWED_SIGNERS): the file of keys \
             whose signatures count",
        ));
    };
    let what = approval_path.display().to_string();
    let bytes = read(approval_path, "approval")?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| CliError::usage(format!("approval {what} is not UTF-8 text")))?;
    let approval = Approval::parse(&text, &what)?;
    let signature = args.signature.clone().unwrap_or_else(|| {
        let mut s = approval_path.as_os_str().to_owned();
        s.push(".sig");
        PathBuf::from(s)
    });
    let mut reasons: Vec<Refusal> = Vec::new();
    let signer = match drill_engine::ssh_sig::verify(&bytes, &signature, allowed)? {
        Ok(principal) => Some(principal),
        Err(refusal) => {
            reasons.push(refusal);
            None
        }
    };
    reasons.extend(approval.refusals(digest, findings, Utc::now()));
    Ok(match (signer, reasons.is_empty()) {
        (Some(signer), true) => ApprovalStatus::Valid {
            signer,
            expires_at: approval
                .expires_at
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        },
        _ => ApprovalStatus::Refused {
            reasons: reasons.iter().map(ToString::to_string).collect(),
        },
    })
}

pub async fn check(args: PlanCheckArgs, globals: &Globals) -> CliResult {
    let (plan, config) = load(&args.plan, args.config.as_deref())?;
    let digest = plan::plan_digest(&plan);
    let findings = plan::classify(&plan, &config);
    let (probes, unprobed) = plan::existence_probes(&plan, &config);
    let existing = if args.no_existence_check || probes.is_empty() {
        Vec::new()
    } else {
        let sdk = drill_engine::aws::load_config().await;
        drill_engine::plan_probe::find_existing(&sdk, &probes).await?
    };
    let approval = match (&args.approval, findings.is_empty()) {
        (_, true) => ApprovalStatus::NotNeeded,
        (None, false) => ApprovalStatus::Missing,
        (Some(path), false) => check_approval(&args, path, &digest, &findings)?,
    };
    let report = plan::verdict(digest, findings, existing, unprobed, approval);
    if globals.json {
        globals.print_json(&serde_json::to_value(&report).unwrap_or_default());
    } else {
        println!("{}", human(&report, args.no_existence_check));
    }
    Ok(if report.passed {
        ExitCode::Ok
    } else {
        ExitCode::GuardViolation
    })
}

/// Rows as aligned columns; the last column runs free.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n - 1) {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            if i + 1 < n {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            } else {
                s.push_str(c);
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    for r in rows {
        out.push(line(r.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

fn human(r: &GateReport, no_existence_check: bool) -> String {
    let mut out = vec![format!("plan {}", r.plan_digest)];
    if r.destructive.is_empty() {
        out.push("no destructive change to a data-bearing resource".into());
    } else {
        out.push(format!(
            "\nDESTRUCTIVE CHANGES TO DATA ({})",
            r.destructive.len()
        ));
        let rows: Vec<Vec<String>> = r
            .destructive
            .iter()
            .map(|f| {
                vec![
                    f.address.clone(),
                    f.resource_type.clone(),
                    f.kind.label().into(),
                    format!("{} — {}", f.data, f.why),
                ]
            })
            .collect();
        out.push(table(
            &[
                "ADDRESS",
                "TYPE",
                "CHANGE",
                "WHAT HAPPENS TO THE DATA — WHY",
            ],
            &rows,
        ));
    }
    if !r.existing.is_empty() {
        out.push(format!(
            "\nEXISTS IN THE ACCOUNT BUT NOT IN THIS STATE ({}): the state is missing or stale; \
             import these or restore the state, do not apply",
            r.existing.len()
        ));
        let rows: Vec<Vec<String>> = r
            .existing
            .iter()
            .map(|e| {
                vec![
                    e.address.clone(),
                    e.resource_type.clone(),
                    e.identity.id().to_owned(),
                    e.evidence.clone(),
                ]
            })
            .collect();
        out.push(table(&["ADDRESS", "TYPE", "IDENTITY", "AWS SAYS"], &rows));
    }
    if no_existence_check {
        out.push("\nexistence check skipped (--no-existence-check)".into());
    }
    if !r.unprobed.is_empty() {
        out.push(format!(
            "\nnot looked up in AWS ({}): {}",
            r.unprobed.len(),
            r.unprobed
                .iter()
                .map(|u| format!("{} ({})", u.address, u.why))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push(match &r.approval {
        ApprovalStatus::NotNeeded => "\napproval: not needed".into(),
        ApprovalStatus::Missing => "\napproval: none given".into(),
        ApprovalStatus::Valid { signer, expires_at } => {
            format!("\napproval: valid, signed by {signer}, expires {expires_at}")
        }
        ApprovalStatus::Refused { reasons } => {
            format!("\napproval: REFUSED\n  - {}", reasons.join("\n  - "))
        }
    });
    if r.passed {
        out.push("PASSED: the plan may be applied (terraform apply of this saved plan)".into());
    } else {
        out.push(format!(
            "BLOCKED:\n  - {}",
            r.blocked_because.join("\n  - ")
        ));
    }
    out.join("\n")
}

pub async fn approve(args: PlanApproveArgs, globals: &Globals) -> CliResult {
    if !(1..=MAX_VALIDITY_HOURS).contains(&args.expires_in_hours) {
        return Err(CliError::usage(format!(
            "--expires-in-hours {}: must be 1..={MAX_VALIDITY_HOURS}",
            args.expires_in_hours
        )));
    }
    let (plan, config) = load(&args.plan, args.config.as_deref())?;
    let digest = plan::plan_digest(&plan);
    let findings = plan::classify(&plan, &config);
    if findings.is_empty() {
        if globals.json {
            globals.print_json(
                &serde_json::json!({"plan_digest": digest, "destructive": [],
                "approval_file": null}),
            );
        } else {
            println!("plan {digest}: nothing destructive, no approval needed");
        }
        return Ok(ExitCode::Ok);
    }
    let expires_at = Utc::now() + Duration::hours(args.expires_in_hours);
    let text = Approval::render(&digest, &findings, expires_at);
    std::fs::write(&args.out, &text)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", args.out.display())))?;
    let out = args.out.display();
    if globals.json {
        globals.print_json(&serde_json::json!({
            "plan_digest": digest,
            "destructive": findings,
            "approval_file": out.to_string(),
            "expires_at": expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "sign_with": format!("ssh-keygen -Y sign -f <your private key> -n {NAMESPACE} {out}"),
        }));
    } else {
        println!(
            "{text}\nWrote the approval above to {out}. Read it: signing it approves every \
             destructive change listed, for this exact plan only, until it expires.\n\n\
             Sign it with your own SSH key (not one the automation holds):\n\n  \
             ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {NAMESPACE} {out}\n\n\
             This writes {out}.sig. Give both files to the pipeline, which runs\n  \
             drill plan-check PLAN.json --approval {out} --allowed-signers <file>\n\
             The allowed signers file lists whose signatures count, one line per person:\n  \
             alice@example.com namespaces=\"{NAMESPACE}\" ssh-ed25519 AAAA..."
        );
    }
    Ok(ExitCode::Ok)
}

//! The diff of an AWS sandbox, run by the sandbox function inside the deployment (the laptop
//! cannot reach the instance in the drill's private subnets). [`ensure_base`]: once the sandbox
//! is available with its RDS-managed secret, and before that secret is handed out, the base
//! copy `<db>_base` is made on the same instance (`CREATE DATABASE .. TEMPLATE`, read-only, as
//! a local sandbox's, over verified TLS). [`diff`]: the streaming diff of the two databases
//! there, within a time budget, its report written to S3 under the sandbox reports prefix.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use drill_core::diff::DiffPolicy;
use drill_core::events::{ConnectionSpec, SecretRef, TlsMode};
use drill_core::pg_override::PgOverride;
use drill_core::sandbox::SandboxInfo;
use drill_core::sandbox_diff::{self, SandboxDiffOutcome};

use super::SandboxError;
use crate::pg::{resolve_secret, Database};
use crate::store::Store;

/// How the function reaches sandbox instances' PostgreSQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// `DRILL_SANDBOX_PG_OVERRIDE=127.0.0.1:PORT`: connect there instead of the instance's
    /// endpoint (a local test stack: moto's endpoints are not servers). Only 127.0.0.1, and only
    /// in plaintext, which the functions refuse unless `DRILL_ALLOW_PLAINTEXT=true`.
    pub pg_override: Option<PgOverride>,
    pub allow_plaintext: bool,
}

/// The sandbox function's override of a sandbox instance's endpoint ([`drill_core::pg_override`]).
pub const SANDBOX_PG_OVERRIDE_VAR: &str = "DRILL_SANDBOX_PG_OVERRIDE";

impl Reach {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Reach, SandboxError> {
        let pg_override = PgOverride::parse(
            SANDBOX_PG_OVERRIDE_VAR,
            var(SANDBOX_PG_OVERRIDE_VAR).as_deref(),
        )
        .map_err(|e| SandboxError::Setting(e.to_string()))?;
        Ok(Reach {
            pg_override,
            allow_plaintext: crate::pg::allow_plaintext(&var),
        })
    }
}

/// The sandbox instance's maintenance database as its master user (from the RDS-managed
/// secret), verified TLS; `None` while the instance is not available or has no secret yet.
pub async fn admin(
    aws: &aws_config::SdkConfig,
    reach: &Reach,
    info: &SandboxInfo,
) -> Result<Option<Database>, SandboxError> {
    let (Some(host), Some(secret)) = (&info.endpoint, &info.secret_arn) else {
        return Ok(None);
    };
    if info.status != "available" {
        return Ok(None);
    }
    let spec = drill_core::pg_override::reach(
        &ConnectionSpec {
            host: host.clone(),
            port: u16::try_from(info.port.unwrap_or(5432)).unwrap_or(5432),
            database: "postgres".into(),
            secret: SecretRef::SecretsManager {
                secret_id: secret.clone(),
            },
            tls: TlsMode::VerifyFull,
        },
        reach.pg_override.as_ref(),
    );
    if spec.tls == TlsMode::Disable && !reach.allow_plaintext {
        return Err(SandboxError::Setting(
            "DRILL_SANDBOX_PG_OVERRIDE needs DRILL_ALLOW_PLAINTEXT=true (local stacks only)".into(),
        ));
    }
    let credentials = resolve_secret(&spec.secret, Some(&crate::aws::secrets_client(aws))).await?;
    Ok(Some(Database::from_spec(&spec, &credentials)))
}

/// Whether `base` exists on the server of `admin` with the comment restore-drill gave it.
async fn base_state(admin: &Database, base: &str, identifier: &str) -> Result<Base, SandboxError> {
    let client = admin.connect_as("restore-drill sandbox base").await?;
    let row = client
        .query_opt(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&base],
        )
        .await
        .map_err(crate::pg::PgError::query(format!("looking for {base}")))?;
    Ok(match row {
        None => Base::Missing,
        Some(r)
            if r.get::<_, Option<String>>(0) == Some(sandbox_diff::base_comment(identifier)) =>
        {
            Base::Ours
        }
        Some(_) => Base::Foreign,
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Base {
    Missing,
    Ours,
    Foreign,
}

/// Makes the base copy of `database` on the sandbox (idempotent: an existing base of ours is
/// kept). Called before the sandbox's secret is handed out, so nobody has changed it yet.
pub async fn ensure_base(
    admin: &Database,
    identifier: &str,
    database: &str,
) -> Result<String, SandboxError> {
    let base = sandbox_diff::base_database(database)?;
    match base_state(admin, &base, identifier).await? {
        Base::Ours => {}
        Base::Foreign => return Err(foreign(identifier, &base)),
        Base::Missing => {
            let comment = sandbox_diff::base_comment(identifier);
            crate::diff::make_base(admin, database, &base, Some(&comment)).await?;
            tracing::info!(%identifier, %base, "sandbox base copy made");
        }
    }
    Ok(base)
}

fn foreign(identifier: &str, base: &str) -> SandboxError {
    SandboxError::Base {
        identifier: identifier.to_owned(),
        reason: format!("a database {base} exists that restore-drill did not make: no trusted base to compare with"),
    }
}

/// Diffs the sandbox's `database` against its base on the instance, within `budget`, and writes
/// the JSON report to `reports` under the sandbox's own key. A base that is missing, not ours,
/// or a diff that does not finish in time is an error: never a verdict.
pub async fn diff(
    admin: &Database,
    identifier: &str,
    database: &str,
    policy: &DiffPolicy,
    budget: Duration,
    reports: &Store,
    now: DateTime<Utc>,
) -> Result<SandboxDiffOutcome, SandboxError> {
    let base = sandbox_diff::base_database(database)?;
    match base_state(admin, &base, identifier).await? {
        Base::Ours => {}
        Base::Foreign => return Err(foreign(identifier, &base)),
        Base::Missing => {
            return Err(SandboxError::Base {
                identifier: identifier.to_owned(),
                reason: format!("no base copy {base}: it is made when `drill aws sandbox connect` first hands out the sandbox, so run that first"),
            })
        }
    }
    let (b, s) = (admin.with_database(&base), admin.with_database(database));
    report(&b, &s, identifier, policy, budget, reports, now).await
}

/// Diffs `sandbox` against `base` within `budget` and writes the JSON report to `reports` under
/// the sandbox's own key (RDS and backup-set sandboxes alike).
pub async fn report(
    b: &Database,
    s: &Database,
    identifier: &str,
    policy: &DiffPolicy,
    budget: Duration,
    reports: &Store,
    now: DateTime<Utc>,
) -> Result<SandboxDiffOutcome, SandboxError> {
    let report = tokio::time::timeout(budget, crate::diff::diff(b, s, policy))
        .await
        .map_err(|_| {
            SandboxError::Incomplete(sandbox_diff::incomplete(identifier, budget.as_secs()))
        })??;
    let key = sandbox_diff::report_key(identifier, now);
    let body = serde_json::to_vec_pretty(&report).expect("a diff report serializes");
    reports.put(&key, Bytes::from(body), None).await?;
    tracing::info!(%identifier, verdict = report.verdict.label(), %key, "sandbox diff written");
    Ok(SandboxDiffOutcome {
        identifier: identifier.to_owned(),
        report_url: reports.url_of(&key),
        report,
    })
}

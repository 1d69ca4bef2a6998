//! Sandboxes in AWS: restore the newest validated backup of a source as a sandbox owned by the
//! caller, list, connect to and delete one's own sandboxes, and sweep expired ones.
//!
//! [`super::identity`]: who the caller is (STS, never the event); [`super::rds`]: the RDS calls, each behind
//! the sandbox guards of [`drill_core::guards::sandbox`]. The sandbox functions are the restore
//! and delete-temp binaries deployed a second time with `DRILL_SANDBOX_ONLY=true` and their own
//! role (infra/sandbox.tf): who may invoke them may do nothing else, and the drill's functions
//! get no sandbox rights.

use chrono::Duration;
use drill_core::deployment::DeploymentConfig;
use drill_core::events::{BackupRef, SourceSpec};
use drill_core::guards::sandbox::SandboxPolicy;
use drill_core::guards::GuardPolicy;
use drill_core::naming;
use drill_core::run_report::RunReport;
use drill_core::sandbox::{SandboxError, DEFAULT_PREFIX};

use super::identity;
use crate::store::Store;

/// The deployment's sandbox settings (environment of the sandbox functions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    /// `DRILL_SANDBOX_PREFIX` (default `rsbx-`): identifier prefix of sandboxes.
    pub prefix: String,
    /// `DRILL_SANDBOX_MAX_TTL_HOURS` (1 to 72): the longest a sandbox may live. Required: a
    /// function without it serves no sandbox action.
    pub max_ttl_hours: u32,
    /// `DRILL_STS_ENDPOINT` (default the regional endpoint of `DRILL_STS_REGION`).
    pub sts_endpoint: String,
    /// `DRILL_STS_REGION` (default `AWS_REGION`): the region callers sign for.
    pub sts_region: String,
    /// `DRILL_REPORTS_URL`: where the drill's run reports are (the validated backups).
    pub reports_url: Option<String>,
    /// `DRILL_SANDBOX_ONLY=true`: this function serves sandbox actions and nothing else.
    pub only: bool,
    /// `DRILL_SANDBOX_REPORTS_URL`: where `sandbox_diff` writes its reports (`s3://b/sandboxes`).
    pub diff_reports_url: Option<String>,
    /// `DRILL_SANDBOX_DIFF_BUDGET_SECONDS` (default 840, at most 890): the longest a diff runs
    /// before it is reported incomplete (the function's timeout is 900 s).
    pub diff_budget: std::time::Duration,
    /// How the function connects to sandbox instances.
    pub reach: super::remote::Reach,
    /// `DRILL_SANDBOX_SECRET_PREFIX` (e.g. `restore-drill/sandbox/`): where the credentials of
    /// backup-set sandboxes go. Without it no backup-set sandbox is made.
    pub secret_prefix: Option<String>,
}

impl SandboxSettings {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SandboxError> {
        let bad = |m: String| SandboxError::Invalid(m);
        let max = var("DRILL_SANDBOX_MAX_TTL_HOURS").ok_or_else(|| {
            bad("sandboxes are not enabled on this function (DRILL_SANDBOX_MAX_TTL_HOURS is not set)".into())
        })?;
        let max_ttl_hours = max
            .parse()
            .ok()
            .filter(|h| (1..=72).contains(h))
            .ok_or_else(|| {
                bad(format!(
                    "DRILL_SANDBOX_MAX_TTL_HOURS={max:?}: expected 1 to 72 hours"
                ))
            })?;
        let prefix = var("DRILL_SANDBOX_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        naming::validate_prefix(&prefix).map_err(|e| bad(format!("DRILL_SANDBOX_PREFIX: {e}")))?;
        let sts_region = var("DRILL_STS_REGION")
            .or_else(|| var("AWS_REGION"))
            .filter(|r| !r.is_empty())
            .ok_or_else(|| bad("DRILL_STS_REGION (or AWS_REGION) is not set".into()))?;
        let sts_endpoint = var("DRILL_STS_ENDPOINT")
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| identity::default_sts_endpoint(&sts_region));
        if !sts_endpoint.starts_with("https://") && !sts_endpoint.starts_with("http://127.0.0.1") {
            return Err(bad(format!(
                "DRILL_STS_ENDPOINT={sts_endpoint:?}: must be https (plain http only on 127.0.0.1)"
            )));
        }
        let budget = match var("DRILL_SANDBOX_DIFF_BUDGET_SECONDS").filter(|v| !v.is_empty()) {
            None => drill_core::sandbox_diff::DEFAULT_DIFF_BUDGET_SECONDS,
            Some(v) => v
                .parse()
                .ok()
                .filter(|s| (1..=890).contains(s))
                .ok_or_else(|| {
                    bad(format!(
                        "DRILL_SANDBOX_DIFF_BUDGET_SECONDS={v:?}: expected 1 to 890 seconds"
                    ))
                })?,
        };
        let reach = super::remote::Reach::from_vars(&var).map_err(|e| bad(e.to_string()))?;
        let secret_prefix = var("DRILL_SANDBOX_SECRET_PREFIX").filter(|v| !v.is_empty());
        if let Some(p) = &secret_prefix {
            drill_core::sandboxdb::secret_name(p, "x")
                .map_err(|e| bad(format!("DRILL_SANDBOX_SECRET_PREFIX: {e}")))?;
        }
        Ok(SandboxSettings {
            diff_reports_url: var("DRILL_SANDBOX_REPORTS_URL").filter(|v| !v.is_empty()),
            diff_budget: std::time::Duration::from_secs(budget),
            reach,
            secret_prefix,
            prefix,
            max_ttl_hours,
            sts_endpoint,
            sts_region,
            reports_url: var("DRILL_REPORTS_URL").filter(|v| !v.is_empty()),
            only: var("DRILL_SANDBOX_ONLY").as_deref() == Some("true"),
        })
    }

    pub fn from_env() -> Result<Self, SandboxError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// The guard policy: the sandbox prefix; never a source (the function's `DRILL_SOURCES` and
    /// every instance the deployment configures as a source) nor a protected identifier.
    pub fn policy(
        &self,
        rds: &crate::rds::RdsSettings,
        config: &DeploymentConfig,
    ) -> SandboxPolicy {
        let mut sources = rds.sources.clone();
        sources.extend(config.sources.iter().filter_map(|s| match &s.source {
            SourceSpec::RdsSnapshot {
                instance_identifier,
                ..
            } => Some(instance_identifier.clone()),
            SourceSpec::AuroraCluster {
                cluster_identifier, ..
            } => Some(cluster_identifier.clone()),
            SourceSpec::BackupSet { .. } => None,
        }));
        SandboxPolicy {
            base: GuardPolicy {
                prefix: self.prefix.clone(),
                sources,
                protected: rds.protected.clone(),
            },
            max_ttl: Duration::hours(i64::from(self.max_ttl_hours)),
        }
    }
}

/// The newest validated backup of `source_id`, from the run reports under `<source>/runs/`.
pub async fn newest_validated_backup(
    reports: &Store,
    source_id: &str,
) -> Result<BackupRef, SandboxError> {
    let prefix = format!("{source_id}/runs/");
    let keys = reports
        .list(&prefix)
        .await
        .map_err(|e| SandboxError::Transient(format!("cannot list run reports: {e}")))?;
    let mut runs = Vec::new();
    for key in keys.iter().filter(|k| k.ends_with(".json")) {
        let bytes = reports
            .get(key)
            .await
            .map_err(|e| SandboxError::Transient(format!("cannot read run report {key}: {e}")))?;
        // A report that does not parse proves nothing: it is skipped, not trusted.
        if let Ok(r) = serde_json::from_slice::<RunReport>(&bytes) {
            runs.push(r);
        }
    }
    drill_core::sandbox::newest_validated(&runs).ok_or_else(|| {
        SandboxError::Invalid(format!(
            "source {source_id:?} has no validated backup: no passed drill run under {}",
            reports.url_of(&prefix)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn settings_need_a_maximum_ttl_and_a_trusted_sts_endpoint() {
        let err = SandboxSettings::from_vars(vars(&[("AWS_REGION", "eu-west-1")])).unwrap_err();
        assert!(err.to_string().contains("not enabled"), "{err}");
        let s = SandboxSettings::from_vars(vars(&[
            ("AWS_REGION", "eu-west-1"),
            ("DRILL_SANDBOX_MAX_TTL_HOURS", "8"),
        ]))
        .unwrap();
        assert_eq!(s.sts_endpoint, "https://sts.eu-west-1.amazonaws.com");
        assert_eq!(
            (s.prefix.as_str(), s.max_ttl_hours, s.only),
            ("rsbx-", 8, false)
        );
        assert_eq!(s.diff_budget.as_secs(), 840);
        assert_eq!(s.reach.pg_override, None);
        for (k, v) in [
            ("DRILL_SANDBOX_MAX_TTL_HOURS", "100"),
            ("DRILL_STS_ENDPOINT", "http://evil.example"),
            ("DRILL_SANDBOX_PG_OVERRIDE", "db.example.com:5432"),
            ("DRILL_SANDBOX_DIFF_BUDGET_SECONDS", "900"),
            ("DRILL_SANDBOX_SECRET_PREFIX", "no slash"),
        ] {
            let mut pairs = vec![
                ("AWS_REGION", "eu-west-1"),
                ("DRILL_SANDBOX_MAX_TTL_HOURS", "8"),
            ];
            pairs.retain(|(n, _)| *n != k);
            pairs.push((k, v));
            let err = SandboxSettings::from_vars(vars(&pairs)).unwrap_err();
            assert!(err.to_string().contains(k), "{err}");
        }
    }
}

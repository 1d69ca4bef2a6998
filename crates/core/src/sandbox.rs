//! Sandboxes in AWS: on-demand copies of production restored from the newest validated backup,
//! owned by the person who asked. Their requests, tags, names and lifetimes.
//!
//! A sandbox is not a drill temp: it has its own identifier prefix (so the temps' janitor never
//! looks at it), role tag [`ROLE_SANDBOX`], and an owner tag holding the caller's IAM principal ARN
//! as STS reported it (never a value from the event: see [`CallerProof`]). The guards that decide
//! whether one may be deleted are in [`crate::guards::sandbox`].

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::events::BackupRef;
use crate::guards::tag;
use crate::run_report::RunReport;

/// The `drill:role` of a sandbox instance.
pub const ROLE_SANDBOX: &str = "sandbox";
/// The IAM principal ARN (from STS) of who asked for the sandbox.
pub const OWNER: &str = "drill:owner";
/// Default identifier prefix of sandboxes: not the temps' (`rdrill-`), so neither janitor nor
/// IAM resource pattern of the one reaches the other's instances.
pub const DEFAULT_PREFIX: &str = "rsbx-";
/// The TTL of a sandbox when the caller names none (capped by the deployment's maximum).
pub const DEFAULT_TTL_HOURS: u32 = 4;
/// The STS request the caller signs and the sandbox function sends: the body of the AWS query
/// protocol call, exactly as the SDK serializes it (`aws_smithy_query::QueryWriter`).
pub const GET_CALLER_IDENTITY_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
pub const GET_CALLER_IDENTITY_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The signed header that binds a caller proof to one request (action and sandbox or source),
/// as Vault's AWS auth binds its proofs with `X-Vault-AWS-IAM-Server-ID`. The caller signs it
/// into `GetCallerIdentity`; the function sends the value it computes from the request it got
/// ([`SandboxRequest::binding`]), so STS refuses a proof replayed for another action or sandbox
/// (the signature no longer matches) within its 15 minutes.
pub const BINDING_HEADER: &str = "x-restore-drill-request";

/// The value of [`BINDING_HEADER`] for `action` on `subject` (the sandbox identifier, or the
/// source of a create; empty for a list): a SHA-256, so the header carries no names.
pub fn binding(action: &str, subject: &str) -> String {
    hex::encode(Sha256::digest(format!(
        "restore-drill sandbox request\n{action}\n{subject}"
    )))
}

/// The caller's SigV4 signature of `sts:GetCallerIdentity` ([`GET_CALLER_IDENTITY_BODY`], POST to
/// the deployment's STS endpoint). A Lambda invoked directly does not learn its caller; the
/// sandbox function sends this signature to the STS endpoint of its own configuration (never a
/// host from the event) and takes the owner from STS's answer. Only the three signature header
/// values travel: the URL, method and body are the function's. Debug never shows them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerProof {
    pub authorization: String,
    pub amz_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_token: Option<String>,
}

impl std::fmt::Debug for CallerProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerProof(<signed GetCallerIdentity>)")
    }
}

impl CallerProof {
    /// Rejects a proof that is not a SigV4 signature of STS in `region`, or does not sign the
    /// [`BINDING_HEADER`], before sending it.
    pub fn check(&self, region: &str) -> Result<(), SandboxError> {
        let scope = format!("/{region}/sts/aws4_request");
        let signed = self
            .authorization
            .split_once("SignedHeaders=")
            .map(|(_, rest)| rest.split([',', ' ']).next().unwrap_or(""))
            .unwrap_or("");
        let ok = self
            .authorization
            .starts_with("AWS4-HMAC-SHA256 Credential=")
            && self.authorization.contains(&scope)
            && self.amz_date.len() == 16
            && !self.authorization.contains(['\r', '\n'])
            && !self.amz_date.contains(['\r', '\n'])
            && self
                .security_token
                .as_deref()
                .is_none_or(|t| !t.contains(['\r', '\n']));
        if !ok {
            return Err(SandboxError::Invalid(format!(
                "caller: not a SigV4 signature of sts:GetCallerIdentity for region {region}"
            )));
        }
        if !signed.split(';').any(|h| h == BINDING_HEADER) {
            return Err(SandboxError::Invalid(format!(
                "caller: the signature does not bind the request (header {BINDING_HEADER} not signed): update drill"
            )));
        }
        Ok(())
    }
}

/// The sandbox actions of the restore function (create, list, connect) and of the delete-temp
/// function (delete, janitor). Every action but the janitor carries the caller's proof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum SandboxRequest {
    SandboxCreate {
        source_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_hours: Option<u32>,
        caller: CallerProof,
    },
    SandboxList {
        caller: CallerProof,
    },
    /// Turns on the sandbox's managed secret once it is available, and says where it is.
    SandboxConnect {
        identifier: String,
        caller: CallerProof,
    },
    /// Diffs the sandbox against its base copy inside the deployment (the laptop cannot reach
    /// the instance); the report goes to S3 and its verdict back to the caller.
    SandboxDiff {
        identifier: String,
        /// Destructive above this share of a table's rows deleted or updated (default: the
        /// deployment's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_changed_share: Option<f64>,
        caller: CallerProof,
    },
    SandboxDelete {
        identifier: String,
        caller: CallerProof,
    },
    /// Sweeps expired sandboxes (scheduled; `now` only replays the past, as the temps' janitor).
    SandboxJanitor {
        #[serde(default)]
        now: Option<DateTime<Utc>>,
    },
}

impl SandboxRequest {
    /// The snake_case action name of the request.
    pub fn action(&self) -> &'static str {
        match self {
            SandboxRequest::SandboxCreate { .. } => "sandbox_create",
            SandboxRequest::SandboxList { .. } => "sandbox_list",
            SandboxRequest::SandboxConnect { .. } => "sandbox_connect",
            SandboxRequest::SandboxDiff { .. } => "sandbox_diff",
            SandboxRequest::SandboxDelete { .. } => "sandbox_delete",
            SandboxRequest::SandboxJanitor { .. } => "sandbox_janitor",
        }
    }

    /// The [`BINDING_HEADER`] value the caller must have signed for this request.
    pub fn binding(&self) -> String {
        let subject = match self {
            SandboxRequest::SandboxCreate { source_id, .. } => source_id.as_str(),
            SandboxRequest::SandboxConnect { identifier, .. }
            | SandboxRequest::SandboxDiff { identifier, .. }
            | SandboxRequest::SandboxDelete { identifier, .. } => identifier.as_str(),
            SandboxRequest::SandboxList { .. } | SandboxRequest::SandboxJanitor { .. } => "",
        };
        binding(self.action(), subject)
    }

    /// Whether `action` names a sandbox action (the one-line dispatch of the Lambdas).
    pub fn is_sandbox_action(payload: &serde_json::Value) -> bool {
        payload
            .get("action")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|a| a.starts_with("sandbox_"))
    }
}

/// One sandbox as `list`, `create` and `connect` report it. No password, only the secret's ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub identifier: String,
    pub source_id: String,
    pub owner: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub status: String,
    pub restored_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
}

/// Why a sandbox request is refused before anything is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("{0}")]
    Invalid(String),
    /// STS did not confirm the caller.
    #[error("caller not authenticated: {0}")]
    Unauthenticated(String),
    /// STS could not be reached; worth a retry.
    #[error("{0}")]
    Transient(String),
}

impl crate::Classified for SandboxError {
    fn kind(&self) -> crate::ErrorKind {
        match self {
            SandboxError::Invalid(_) => crate::ErrorKind::InvalidInput,
            SandboxError::Unauthenticated(_) => crate::ErrorKind::GuardViolation,
            SandboxError::Transient(_) => crate::ErrorKind::Transient,
        }
    }
}

/// The lifetime of a new sandbox: `asked` hours (default [`DEFAULT_TTL_HOURS`], capped to the
/// maximum when not asked); asking more than the deployment's `max_hours` is refused.
pub fn ttl(asked: Option<u32>, max_hours: u32) -> Result<Duration, SandboxError> {
    let hours = match asked {
        None => DEFAULT_TTL_HOURS.min(max_hours),
        Some(0) => return Err(SandboxError::Invalid("ttl: must be at least 1 hour".into())),
        Some(h) if h > max_hours => {
            return Err(SandboxError::Invalid(format!(
                "ttl: {h} h is over this deployment's maximum of {max_hours} h"
            )))
        }
        Some(h) => h,
    };
    Ok(Duration::hours(i64::from(hours)))
}

/// The identifier of a new sandbox of `source_id` for `owner` at `now`: prefix, the source, the
/// minute, and a short hash of owner and time (two people asking in the same minute differ).
/// Valid for RDS (letters, digits, hyphens; at most 63; no double or trailing hyphen).
pub fn identifier(prefix: &str, source_id: &str, owner: &str, now: DateTime<Utc>) -> String {
    let digest = Sha256::digest(format!(
        "{owner}\n{}",
        now.timestamp_nanos_opt().unwrap_or(0)
    ));
    let hash = hex::encode(&digest[..4]);
    let stamp = now.format("%Y%m%d%H%M").to_string();
    let mut src: String = source_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while src.contains("--") {
        src = src.replace("--", "-");
    }
    let room = 63 - prefix.len() - stamp.len() - hash.len() - 2;
    let src: String = src.trim_matches('-').chars().take(room).collect();
    let src = src.trim_end_matches('-');
    format!("{prefix}{src}-{stamp}-{hash}")
}

/// Every tag of a sandbox: role, owner, source, expiry and the snapshot it came from.
pub fn tags(
    owner: &str,
    source_id: &str,
    expires_at: DateTime<Utc>,
    restored_from: &str,
) -> BTreeMap<String, String> {
    [
        (tag::ROLE, ROLE_SANDBOX),
        (OWNER, owner),
        (tag::SOURCE, source_id),
        (tag::EXPIRES_AT, &tag::expires_at_value(expires_at)),
        (tag::RESTORED_FROM, restored_from),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The newest backup a drill run restored and validated: the backup of a run report that passed
/// (every step, validation included), newest by its data's time. A sandbox is made only from
/// such a backup, never from one the drill has not proven restorable.
pub fn newest_validated(reports: &[RunReport]) -> Option<BackupRef> {
    reports
        .iter()
        .filter(|r| r.passed && r.validation.is_some() && r.failure.is_none())
        .filter_map(|r| serde_json::from_value::<BackupRef>(r.backup.clone()?).ok())
        .max_by_key(|b| b.taken_at)
}

/// The owner of a sandbox: the ARN STS answered for the caller's signed `GetCallerIdentity`,
/// if it is an IAM principal's.
pub fn principal(arn: Option<&str>) -> Result<String, SandboxError> {
    let arn = arn
        .map(str::trim)
        .ok_or_else(|| SandboxError::Unauthenticated("STS answered without an Arn".into()))?;
    let ok = arn.starts_with("arn:aws")
        && (arn.contains(":iam::") || arn.contains(":sts::"))
        && arn.len() <= 256
        && arn.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(arn.to_owned())
    } else {
        Err(SandboxError::Unauthenticated(format!(
            "STS answered an Arn that is not an IAM principal: {arn:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(i64::from(h))
    }

    #[test]
    fn ttl_defaults_caps_and_refuses_over_the_maximum() {
        assert_eq!(ttl(None, 8).unwrap(), Duration::hours(4));
        assert_eq!(ttl(None, 2).unwrap(), Duration::hours(2));
        assert_eq!(ttl(Some(8), 8).unwrap(), Duration::hours(8));
        let err = ttl(Some(9), 8).unwrap_err().to_string();
        assert!(err.contains("maximum of 8"), "{err}");
        assert!(ttl(Some(0), 8).is_err());
    }

    #[test]
    fn identifiers_are_valid_for_rds_and_differ_per_owner() {
        let a = identifier("rsbx-", "Prod_App..main", "arn:aws:iam::1:user/a", t(0));
        let b = identifier("rsbx-", "Prod_App..main", "arn:aws:iam::1:user/b", t(0));
        assert!(a.starts_with("rsbx-prod-app-main-202611220300-"), "{a}");
        assert_ne!(a, b);
        let long = identifier("rsbx-", &"x".repeat(80), "o", t(0));
        assert!(long.len() <= 63, "{long}");
        assert!(crate::naming::is_valid_rds_identifier(&long), "{long}");
        assert!(crate::naming::is_valid_rds_identifier(&a), "{a}");
    }

    #[test]
    fn tags_name_role_owner_and_expiry() {
        let tags = tags("arn:aws:iam::1:user/a", "prod", t(4), "rdrill-copy-1");
        assert_eq!(tags[tag::ROLE], ROLE_SANDBOX);
        assert_eq!(tags[OWNER], "arn:aws:iam::1:user/a");
        assert_eq!(crate::guards::expires_at(&tags), Some(t(4)));
    }

    fn report(passed: bool, snapshot: &str, taken: u32) -> RunReport {
        let mut r: RunReport = serde_json::from_value(serde_json::json!({
            "format_version": 1, "source_id": "prod", "drill_id": "d", "started_at": t(taken + 1),
            "finished_at": t(taken + 2), "passed": passed, "failed_step": null, "failure": null,
            "cleanup_failure": null, "snapshot_copy": null, "snapshot_copy_failure": null,
            "backup": {"kind": "rds-snapshot", "id": snapshot, "taken_at": t(taken)},
            "temp": null, "validation": {"passed": passed}, "export": null, "cleanup": null,
            "rto_seconds": null, "rpo_seconds": null, "rows": null, "backup_bytes": null
        }))
        .unwrap();
        if !passed {
            r.failed_step = Some("validate".into());
        }
        r
    }

    #[test]
    fn only_a_passed_run_makes_a_backup_validated() {
        let reports = [
            report(true, "snap-old", 0),
            report(false, "snap-newest-failed", 10),
            report(true, "snap-good", 5),
        ];
        assert_eq!(newest_validated(&reports).unwrap().id, "snap-good");
        assert_eq!(newest_validated(&reports[1..2]), None);
        let mut unvalidated = report(true, "snap-x", 20);
        unvalidated.validation = None;
        assert_eq!(newest_validated(&[unvalidated]), None);
    }

    #[test]
    fn the_principal_is_an_iam_or_sts_arn() {
        let alice = "arn:aws:iam::123456789012:user/alice";
        assert_eq!(principal(Some(alice)).unwrap(), alice);
        let role = "arn:aws:sts::123456789012:assumed-role/dev/alice";
        assert_eq!(principal(Some(role)).unwrap(), role);
        assert!(principal(None).is_err());
        assert!(principal(Some("alice")).is_err());
        assert!(principal(Some("arn:aws:iam::1:user/a b")).is_err());
    }

    #[test]
    fn proofs_must_sign_sts_in_the_region_and_stay_out_of_debug() {
        let p = CallerProof {
            authorization: "AWS4-HMAC-SHA256 Credential=AKIA/20261122/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-restore-drill-request, Signature=ab".into(),
            amz_date: "20261122T030000Z".into(),
            security_token: Some("secret-token".into()),
        };
        assert!(p.check("us-east-1").is_ok());
        assert!(p.check("eu-west-1").is_err());
        assert!(!format!("{p:?}").contains("secret-token"));
        let mut bad = p.clone();
        bad.amz_date = "20261122T030000Z\r\nHost: evil".into();
        assert!(bad.check("us-east-1").is_err());
        let mut s3 = p.clone();
        s3.authorization = s3.authorization.replace("/sts/", "/s3/");
        assert!(s3.check("us-east-1").is_err());
        // A proof that does not sign the binding header could be replayed for any action.
        let mut unbound = p;
        unbound.authorization = unbound
            .authorization
            .replace(";x-restore-drill-request", "");
        let err = unbound.check("us-east-1").unwrap_err().to_string();
        assert!(err.contains(BINDING_HEADER), "{err}");
        unbound.authorization = unbound
            .authorization
            .replace("Signature=ab", "Signature=ab x-restore-drill-request");
        assert!(
            unbound.check("us-east-1").is_err(),
            "only SignedHeaders counts"
        );
    }

    #[test]
    fn the_binding_names_the_action_and_the_sandbox() {
        let proof = CallerProof {
            authorization: "a".into(),
            amz_date: "d".into(),
            security_token: None,
        };
        let delete = |id: &str| SandboxRequest::SandboxDelete {
            identifier: id.into(),
            caller: proof.clone(),
        };
        let diff = SandboxRequest::SandboxDiff {
            identifier: "rsbx-a".into(),
            max_changed_share: None,
            caller: proof.clone(),
        };
        let list = SandboxRequest::SandboxList {
            caller: proof.clone(),
        };
        let create = SandboxRequest::SandboxCreate {
            source_id: "rsbx-a".into(),
            ttl_hours: None,
            caller: proof.clone(),
        };
        let all = [delete("rsbx-a"), delete("rsbx-b"), diff, list, create];
        let values: std::collections::BTreeSet<String> =
            all.iter().map(SandboxRequest::binding).collect();
        assert_eq!(values.len(), all.len(), "every request binds differently");
        assert_eq!(
            delete("rsbx-a").binding(),
            binding("sandbox_delete", "rsbx-a")
        );
        assert_eq!(binding("sandbox_list", "").len(), 64);
        assert!(!binding("sandbox_delete", "rsbx-a").contains("rsbx"));
        for r in &all {
            let v = serde_json::to_value(r).unwrap();
            assert_eq!(v["action"], r.action(), "{v}");
        }
    }

    #[test]
    fn requests_parse_by_action_and_reject_unknown_fields() {
        let v = serde_json::json!({"action": "sandbox_delete", "identifier": "rsbx-x",
            "caller": {"authorization": "a", "amz_date": "d"}});
        assert!(SandboxRequest::is_sandbox_action(&v));
        assert!(matches!(
            serde_json::from_value::<SandboxRequest>(v).unwrap(),
            SandboxRequest::SandboxDelete { .. }
        ));
        let owner_claim = serde_json::json!({"action": "sandbox_list", "owner": "arn:aws:iam::1:user/x",
            "caller": {"authorization": "a", "amz_date": "d"}});
        assert!(serde_json::from_value::<SandboxRequest>(owner_claim).is_err());
        assert!(!SandboxRequest::is_sandbox_action(
            &serde_json::json!({"action": "restore"})
        ));
    }
}

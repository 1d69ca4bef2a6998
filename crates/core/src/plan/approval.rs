//! A person's approval of one destructive plan: a short text naming the plan digest, every
//! destructive address and an expiry, signed with `ssh-keygen -Y sign` in [`NAMESPACE`]. This
//! module writes and reads the text and decides whether it fits a plan; checking the signature
//! against the allowed signers is the engine's (it runs `ssh-keygen -Y verify`).

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::Finding;

/// The signature namespace: a signature made for git commits or anything else never verifies as
/// an approval, and the reverse.
pub const NAMESPACE: &str = "restore-drill-plan-approval";

/// The first line of every approval.
pub const HEADER: &str = "restore-drill plan approval v1";

/// The longest validity `drill plan-approve` writes.
pub const MAX_VALIDITY_HOURS: i64 = 7 * 24;

/// An approval as written (and signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub plan_digest: String,
    pub expires_at: DateTime<Utc>,
    /// Every destructive address the signer approved.
    pub destructive: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApprovalError {
    #[error("{what}: not an approval (the first line must be {HEADER:?})")]
    NoHeader { what: String },
    #[error("{what} line {line}: {detail}")]
    BadLine {
        what: String,
        line: usize,
        detail: String,
    },
    #[error("{what}: no {key} line")]
    Missing { what: String, key: &'static str },
}

impl crate::Classified for ApprovalError {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidInput
    }
}

/// Why an approval does not let a plan through. Each names what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Refusal {
    /// No signature file next to the approval.
    Unsigned {
        signature: String,
    },
    /// The signing key is not in the allowed-signers file (for this namespace).
    SignerNotAllowed {
        detail: String,
    },
    /// The signature does not verify over this text (changed after signing, wrong namespace).
    BadSignature {
        detail: String,
    },
    /// The approval is for another plan.
    DigestMismatch {
        approved: String,
        plan: String,
    },
    Expired {
        expires_at: String,
    },
    /// A destructive change of this plan the approval does not name.
    NotNamed {
        address: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unsigned { signature } => write!(
                f,
                "unsigned: no signature {signature} (sign with ssh-keygen -Y sign -n {NAMESPACE})"
            ),
            Refusal::SignerNotAllowed { detail } => write!(
                f,
                "signed by a key that is not in the allowed signers for {NAMESPACE}: {detail}"
            ),
            Refusal::BadSignature { detail } => {
                write!(
                    f,
                    "the signature does not verify over this approval: {detail}"
                )
            }
            Refusal::DigestMismatch { approved, plan } => write!(
                f,
                "the approval is for plan {approved}, this plan is {plan} (the plan changed: \
                 approve the new one)"
            ),
            Refusal::Expired { expires_at } => write!(f, "expired at {expires_at}"),
            Refusal::NotNamed { address } => {
                write!(f, "does not name the destructive change {address}")
            }
        }
    }
}

impl Approval {
    /// The text a person signs: header, digest, expiry, one line per destructive address, and
    /// comment lines saying in words what each does (signed too, ignored when read).
    pub fn render(plan_digest: &str, findings: &[Finding], expires_at: DateTime<Utc>) -> String {
        let mut out = format!(
            "{HEADER}\n\
             # Signing this approves applying exactly the Terraform plan with this digest.\n\
             plan-digest: {plan_digest}\n\
             expires-at: {}\n",
            expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let addresses: BTreeSet<&str> = findings.iter().map(|f| f.address.as_str()).collect();
        for a in addresses {
            for f in findings.iter().filter(|f| f.address == a) {
                out.push_str(&format!(
                    "# {a}: {}: {} ({})\n",
                    f.kind.label(),
                    f.data,
                    f.why
                ));
            }
            out.push_str(&format!("destructive: {a}\n"));
        }
        out
    }

    /// Reads an approval; `what` names the file in errors.
    pub fn parse(text: &str, what: &str) -> Result<Approval, ApprovalError> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, first)) if first == HEADER => {}
            _ => return Err(ApprovalError::NoHeader { what: what.into() }),
        }
        let mut digest = None;
        let mut expires = None;
        let mut destructive = BTreeSet::new();
        for (i, line) in lines {
            let bad = |detail: String| ApprovalError::BadLine {
                what: what.into(),
                line: i + 1,
                detail,
            };
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once(": ")
                .ok_or_else(|| bad(format!("expected `key: value`, got {line:?}")))?;
            match key {
                "plan-digest" => {
                    let ok = value
                        .strip_prefix("sha256:")
                        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
                    if !ok {
                        return Err(bad(format!("plan-digest {value:?} is not sha256:<64 hex>")));
                    }
                    if digest.replace(value.to_owned()).is_some() {
                        return Err(bad("plan-digest given twice".into()));
                    }
                }
                "expires-at" => {
                    let t = DateTime::parse_from_rfc3339(value)
                        .map_err(|e| bad(format!("expires-at {value:?}: {e}")))?;
                    if expires.replace(t.with_timezone(&Utc)).is_some() {
                        return Err(bad("expires-at given twice".into()));
                    }
                }
                "destructive" => {
                    if value.is_empty() {
                        return Err(bad("empty destructive address".into()));
                    }
                    destructive.insert(value.to_owned());
                }
                other => return Err(bad(format!("unknown key {other:?}"))),
            }
        }
        Ok(Approval {
            plan_digest: digest.ok_or(ApprovalError::Missing {
                what: what.into(),
                key: "plan-digest",
            })?,
            expires_at: expires.ok_or(ApprovalError::Missing {
                what: what.into(),
                key: "expires-at",
            })?,
            destructive,
        })
    }

    /// Whether this (signature-verified) approval covers the plan: same digest, not expired, and
    /// every destructive address named. Empty when it does.
    pub fn refusals(
        &self,
        plan_digest: &str,
        findings: &[Finding],
        now: DateTime<Utc>,
    ) -> Vec<Refusal> {
        let mut out = Vec::new();
        if self.plan_digest != plan_digest {
            out.push(Refusal::DigestMismatch {
                approved: self.plan_digest.clone(),
                plan: plan_digest.into(),
            });
        }
        if now >= self.expires_at {
            out.push(Refusal::Expired {
                expires_at: self.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            });
        }
        let named: BTreeSet<&str> = findings.iter().map(|f| f.address.as_str()).collect();
        for a in named {
            if !self.destructive.contains(a) {
                out.push(Refusal::NotNamed { address: a.into() });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::FindingKind;
    use super::*;
    use chrono::TimeZone;

    fn finding(address: &str) -> Finding {
        Finding {
            address: address.into(),
            resource_type: "aws_db_instance".into(),
            kind: FindingKind::Delete,
            data: "database deleted".into(),
            why: "planned delete".into(),
        }
    }

    fn digest() -> String {
        format!("sha256:{}", "ab".repeat(32))
    }

    #[test]
    fn render_then_parse_round_trips_and_names_every_address() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap();
        let f = vec![finding("aws_s3_bucket.b"), finding("aws_db_instance.a")];
        let text = Approval::render(&digest(), &f, at);
        assert!(text.starts_with(HEADER), "{text}");
        assert!(
            text.contains("expires-at: 2026-12-02T09:00:00Z\n"),
            "{text}"
        );
        assert!(
            text.contains("# aws_db_instance.a: delete: database deleted"),
            "{text}"
        );
        let a = Approval::parse(&text, "a.txt").unwrap();
        assert_eq!(a.plan_digest, digest());
        assert_eq!(a.expires_at, at);
        assert_eq!(
            a.destructive.iter().map(String::as_str).collect::<Vec<_>>(),
            vec!["aws_db_instance.a", "aws_s3_bucket.b"]
        );
        let before = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        assert!(a.refusals(&digest(), &f, before).is_empty());
    }

    #[test]
    fn another_plan_an_expired_approval_or_a_missing_address_is_refused() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap();
        let a = Approval::parse(&Approval::render(&digest(), &[finding("x.a")], at), "a").unwrap();
        let other = format!("sha256:{}", "cd".repeat(32));
        let r = a.refusals(&other, &[finding("x.a"), finding("x.b")], at);
        assert_eq!(
            r,
            vec![
                Refusal::DigestMismatch {
                    approved: digest(),
                    plan: other.clone()
                },
                Refusal::Expired {
                    expires_at: "2026-12-02T09:00:00Z".into()
                },
                Refusal::NotNamed {
                    address: "x.b".into()
                },
            ]
        );
        assert!(r[0].to_string().contains("the plan changed"), "{}", r[0]);
        assert_eq!(r[1].to_string(), "expired at 2026-12-02T09:00:00Z");
    }

    #[test]
    fn malformed_approvals_name_the_line() {
        let err = Approval::parse("hello\n", "a.txt").unwrap_err();
        assert!(matches!(err, ApprovalError::NoHeader { .. }));
        let text = format!("{HEADER}\nplan-digest: sha256:zz\n");
        let err = Approval::parse(&text, "a.txt").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.txt line 2: plan-digest \"sha256:zz\" is not sha256:<64 hex>"
        );
        let text = format!("{HEADER}\nplan-digest: {}\n", digest());
        let err = Approval::parse(&text, "a.txt").unwrap_err();
        assert_eq!(err.to_string(), "a.txt: no expires-at line");
        let text = format!("{HEADER}\napproved: yes\n");
        assert!(Approval::parse(&text, "a")
            .unwrap_err()
            .to_string()
            .contains("unknown key \"approved\""));
        let text = format!("{HEADER}\nexpires-at: tomorrow\n");
        assert!(Approval::parse(&text, "a")
            .unwrap_err()
            .to_string()
            .contains("line 2"));
    }
}

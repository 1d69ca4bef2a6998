//! The gate's verdict: blocked by resources outside the state, or by a destructive change without a valid approval.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Existing, Finding, Unprobed};

/// How the approval of a destructive plan turned out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum ApprovalStatus {
    /// Nothing destructive: no approval needed.
    NotNeeded,
    /// Destructive, and no approval was given.
    Missing,
    /// A valid approval signed by `signer`.
    Valid { signer: String, expires_at: String },
    /// An approval was given and refused, for these reasons.
    Refused { reasons: Vec<String> },
}

/// The gate's verdict on one plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateReport {
    pub plan_digest: String,
    pub passed: bool,
    pub destructive: Vec<Finding>,
    pub existing: Vec<Existing>,
    pub unprobed: Vec<Unprobed>,
    pub approval: ApprovalStatus,
    /// One sentence per reason the plan is blocked.
    pub blocked_because: Vec<String>,
}

/// Decides: blocked when resources exist outside the state (never approvable: import them or
/// restore the state), or when a destructive change has no valid approval.
pub fn verdict(
    plan_digest: String,
    destructive: Vec<Finding>,
    existing: Vec<Existing>,
    unprobed: Vec<Unprobed>,
    approval: ApprovalStatus,
) -> GateReport {
    let mut blocked = Vec::new();
    if !existing.is_empty() {
        let names: BTreeSet<&str> = existing.iter().map(|e| e.address.as_str()).collect();
        blocked.push(format!(
            "{} planned create(s) already exist in the account but not in this state \
             (missing or stale state?): {}",
            existing.len(),
            names.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let approval = if destructive.is_empty() {
        ApprovalStatus::NotNeeded
    } else {
        approval
    };
    match &approval {
        ApprovalStatus::Missing => blocked.push(format!(
            "{} destructive change(s) to data-bearing resources and no approval \
             (drill plan-approve, then ssh-keygen -Y sign)",
            destructive.len()
        )),
        ApprovalStatus::Refused { reasons } => {
            blocked.push(format!("the approval was refused: {}", reasons.join("; ")))
        }
        ApprovalStatus::NotNeeded | ApprovalStatus::Valid { .. } => {}
    }
    GateReport {
        plan_digest,
        passed: blocked.is_empty(),
        destructive,
        existing,
        unprobed,
        approval,
        blocked_because: blocked,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Identity;
    use super::*;

    #[test]
    fn verdict_blocks_existing_resources_even_with_an_approval() {
        let existing = vec![Existing {
            address: "aws_db_instance.db".into(),
            resource_type: "aws_db_instance".into(),
            identity: Identity::DbInstance("prod".into()),
            evidence: "found".into(),
        }];
        let r = verdict(
            "sha256:x".into(),
            vec![],
            existing,
            vec![],
            ApprovalStatus::Valid {
                signer: "a".into(),
                expires_at: "t".into(),
            },
        );
        assert!(!r.passed);
        assert_eq!(r.approval, ApprovalStatus::NotNeeded);
        assert!(r.blocked_because[0].contains("aws_db_instance.db"));
    }
}

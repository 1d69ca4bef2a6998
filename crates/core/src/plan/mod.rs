//! The gate in front of `terraform apply`: what a Terraform plan (`terraform show -json PLANFILE`)
//! would do to data, which of its planned creates need an existence check (missing or stale
//! state), the plan's digest, and human approvals bound to that digest.
//!
//! Pure: the CLI reads the files, the engine asks AWS and runs `ssh-keygen`; this module decides.

pub mod approval;
pub mod digest;
pub mod rules;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use approval::{Approval, ApprovalError, Refusal};
pub use digest::plan_digest;
pub use rules::{classify, Finding, FindingKind};

/// Why a plan file or gate configuration could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("{what} is not JSON: {detail}")]
    NotJson { what: String, detail: String },
    #[error(
        "{what} is not a Terraform plan in JSON (no format_version/resource_changes); \
         make it with `terraform show -json PLANFILE > plan.json`"
    )]
    NotAPlan { what: String },
    #[error("{what}: the plan errored (\"errored\": true); Terraform could not finish planning")]
    Errored { what: String },
    #[error("{what}: resource_changes[{index}] {detail}")]
    BadChange {
        what: String,
        index: usize,
        detail: String,
    },
    #[error("gate configuration {what}: {detail}")]
    BadConfig { what: String, detail: String },
}

impl crate::Classified for PlanError {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidInput
    }
}

/// One entry of the plan's `resource_changes` (managed resources only).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceChange {
    pub address: String,
    pub resource_type: String,
    pub provider_name: String,
    /// Terraform's actions: `["create"]`, `["delete"]`, `["update"]`, `["delete","create"]`,
    /// `["create","delete"]`, `["no-op"]`, `["read"]`, `["forget"]`.
    pub actions: Vec<String>,
    pub before: Value,
    pub after: Value,
    /// Mirrors `after`: `true` where the value is known only after apply.
    pub after_unknown: Value,
    pub action_reason: Option<String>,
    pub replace_paths: Value,
    /// The whole entry, for the digest.
    pub raw: Value,
}

impl ResourceChange {
    pub fn is(&self, actions: &[&str]) -> bool {
        self.actions.len() == actions.len() && self.actions.iter().zip(actions).all(|(a, b)| a == b)
    }
    pub fn is_create(&self) -> bool {
        self.is(&["create"])
    }
    pub fn is_delete(&self) -> bool {
        self.is(&["delete"])
    }
    pub fn is_replace(&self) -> bool {
        self.is(&["delete", "create"]) || self.is(&["create", "delete"])
    }
    pub fn is_update(&self) -> bool {
        self.is(&["update"])
    }
    /// Changes nothing in the account (`no-op`, data source `read`).
    pub fn is_inert(&self) -> bool {
        self.is(&["no-op"]) || self.is(&["read"])
    }
}

/// A parsed plan: its managed resource changes, in plan order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub changes: Vec<ResourceChange>,
}

impl Plan {
    /// Parses `terraform show -json PLANFILE`; `what` names the file in errors.
    pub fn from_json(text: &str, what: &str) -> Result<Plan, PlanError> {
        let v: Value = serde_json::from_str(text).map_err(|e| PlanError::NotJson {
            what: what.into(),
            detail: e.to_string(),
        })?;
        Self::from_value(&v, what)
    }

    pub fn from_value(v: &Value, what: &str) -> Result<Plan, PlanError> {
        let not_plan = || PlanError::NotAPlan { what: what.into() };
        let obj = v.as_object().ok_or_else(not_plan)?;
        // State JSON (`terraform show -json` without a plan file) has `values` but neither of
        // these: refusing it keeps a state file from passing as an empty plan.
        if !obj.contains_key("format_version")
            || !(obj.contains_key("planned_values") || obj.contains_key("resource_changes"))
        {
            return Err(not_plan());
        }
        if obj.get("errored").and_then(Value::as_bool) == Some(true) {
            return Err(PlanError::Errored { what: what.into() });
        }
        let entries = match obj.get("resource_changes") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(not_plan()),
        };
        let mut changes = Vec::new();
        for (index, rc) in entries.iter().enumerate() {
            let bad = |detail: &str| PlanError::BadChange {
                what: what.into(),
                index,
                detail: detail.into(),
            };
            let text = |key: &str| -> Result<String, PlanError> {
                rc.get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| bad(&format!("has no {key}")))
            };
            // Data sources are read, never changed.
            if rc.get("mode").and_then(Value::as_str) == Some("data") {
                continue;
            }
            let change = rc.get("change").ok_or_else(|| bad("has no change"))?;
            let actions = change
                .get("actions")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("has no change.actions"))?
                .iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("has a non-string action"))?;
            if actions.is_empty() {
                return Err(bad("has no action"));
            }
            let field = |k: &str| change.get(k).cloned().unwrap_or(Value::Null);
            changes.push(ResourceChange {
                address: text("address")?,
                resource_type: text("type")?,
                provider_name: rc
                    .get("provider_name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                actions,
                before: field("before"),
                after: field("after"),
                after_unknown: field("after_unknown"),
                action_reason: rc
                    .get("action_reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                replace_paths: field("replace_paths"),
                raw: rc.clone(),
            });
        }
        Ok(Plan { changes })
    }
}

/// What the user may add to the gate (`--config plan-gate.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Resource types to treat as data-bearing besides the built-in ones
    /// (e.g. `aws_neptune_cluster`, `google_sql_database_instance`).
    #[serde(default)]
    pub data_bearing_types: Vec<String>,
}

impl GateConfig {
    pub fn from_toml(text: &str, what: &str) -> Result<GateConfig, PlanError> {
        let c: GateConfig = toml::from_str(text).map_err(|e| PlanError::BadConfig {
            what: what.into(),
            detail: e.to_string(),
        })?;
        for t in &c.data_bearing_types {
            let ok = !t.is_empty()
                && t.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !ok {
                return Err(PlanError::BadConfig {
                    what: what.into(),
                    detail: format!(
                        "data_bearing_types: {t:?} is not a Terraform resource type name"
                    ),
                });
            }
        }
        Ok(c)
    }

    /// Whether `resource_type` holds data (built-in list or configured).
    pub fn is_data_bearing(&self, resource_type: &str) -> bool {
        rules::BUILTIN_DATA_BEARING.contains(&resource_type)
            || rules::PROTECTION_TYPES.contains(&resource_type)
            || self.data_bearing_types.iter().any(|t| t == resource_type)
    }
}

/// What the existence check asks AWS about one planned create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Identity {
    /// `rds:DescribeDBInstances`
    DbInstance(String),
    /// `rds:DescribeDBClusters`
    DbCluster(String),
    /// `rds:DescribeDBSnapshots`
    DbSnapshot(String),
    /// `rds:DescribeDBClusterSnapshots`
    DbClusterSnapshot(String),
    /// `s3:ListBucket` (HeadBucket)
    S3Bucket(String),
    /// `dynamodb:DescribeTable`
    DynamodbTable(String),
}

impl Identity {
    pub fn id(&self) -> &str {
        match self {
            Identity::DbInstance(s)
            | Identity::DbCluster(s)
            | Identity::DbSnapshot(s)
            | Identity::DbClusterSnapshot(s)
            | Identity::S3Bucket(s)
            | Identity::DynamodbTable(s) => s,
        }
    }
}

/// A planned create whose identity the plan knows: AWS is asked whether it already exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub address: String,
    pub resource_type: String,
    pub identity: Identity,
    /// The resource's own `region` argument (provider v6), when the plan names one.
    pub region: Option<String>,
}

/// A planned create of a data-bearing type the existence check cannot look up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unprobed {
    pub address: String,
    pub resource_type: String,
    pub why: String,
}

/// Builds an [`Identity`] from the create's name argument.
type MakeIdentity = fn(String) -> Identity;

/// For every planned create: the read-only look-up to make, or why none can be made.
pub fn existence_probes(plan: &Plan, config: &GateConfig) -> (Vec<Probe>, Vec<Unprobed>) {
    let mut probes = Vec::new();
    let mut unprobed = Vec::new();
    for c in plan.changes.iter().filter(|c| c.is_create()) {
        let attr: Option<(&str, MakeIdentity)> = match c.resource_type.as_str() {
            "aws_db_instance" => Some(("identifier", Identity::DbInstance)),
            "aws_rds_cluster" => Some(("cluster_identifier", Identity::DbCluster)),
            "aws_db_snapshot" => Some(("db_snapshot_identifier", Identity::DbSnapshot)),
            "aws_db_cluster_snapshot" => Some((
                "db_cluster_snapshot_identifier",
                Identity::DbClusterSnapshot,
            )),
            "aws_s3_bucket" => Some(("bucket", Identity::S3Bucket)),
            "aws_dynamodb_table" => Some(("name", Identity::DynamodbTable)),
            _ => None,
        };
        match attr {
            Some((key, make)) => match c.after.get(key).and_then(Value::as_str) {
                Some(id) if !id.is_empty() => probes.push(Probe {
                    address: c.address.clone(),
                    resource_type: c.resource_type.clone(),
                    identity: make(id.to_owned()),
                    region: c
                        .after
                        .get("region")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                }),
                _ => unprobed.push(Unprobed {
                    address: c.address.clone(),
                    resource_type: c.resource_type.clone(),
                    why: format!("`{key}` is known only after apply (generated name)"),
                }),
            },
            None if config.is_data_bearing(&c.resource_type)
                && !rules::PROTECTION_TYPES.contains(&c.resource_type.as_str()) =>
            {
                unprobed.push(Unprobed {
                    address: c.address.clone(),
                    resource_type: c.resource_type.clone(),
                    why: "no read-only existence probe for this type".into(),
                })
            }
            None => {}
        }
    }
    (probes, unprobed)
}

/// A planned create that AWS says already exists: the state is missing or stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Existing {
    pub address: String,
    pub resource_type: String,
    pub identity: Identity,
    /// What AWS answered (e.g. "found", "HeadBucket 403: owned by another account or not readable").
    pub evidence: String,
}

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
pub(crate) mod fixtures {
    use serde_json::{json, Value};

    /// A `terraform show -json` plan around the given resource changes.
    pub fn plan(changes: Vec<Value>) -> String {
        json!({
            "format_version": "1.2",
            "terraform_version": "1.11.4",
            "planned_values": {"root_module": {}},
            "resource_changes": changes,
            "configuration": {},
        })
        .to_string()
    }

    /// One resource change as Terraform writes it.
    pub fn change(address: &str, actions: &[&str], before: Value, after: Value) -> Value {
        change_unknown(address, actions, before, after, json!({}))
    }

    pub fn change_unknown(
        address: &str,
        actions: &[&str],
        before: Value,
        after: Value,
        after_unknown: Value,
    ) -> Value {
        let (ty, name) = address.rsplit_once('.').unwrap();
        let ty = ty.rsplit('.').next().unwrap();
        json!({
            "address": address,
            "mode": "managed",
            "type": ty,
            "name": name,
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {
                "actions": actions,
                "before": before,
                "after": after,
                "after_unknown": after_unknown,
                "before_sensitive": {},
                "after_sensitive": {},
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{change, change_unknown, plan};
    use super::*;
    use serde_json::json;

    #[test]
    fn state_json_and_garbage_are_not_plans() {
        let state = json!({"format_version": "1.0", "values": {"root_module": {}}}).to_string();
        assert!(matches!(
            Plan::from_json(&state, "state.json"),
            Err(PlanError::NotAPlan { .. })
        ));
        let err = Plan::from_json("{not json", "p.json").unwrap_err();
        assert!(err.to_string().starts_with("p.json is not JSON"), "{err}");
        let errored = json!({"format_version": "1.2", "planned_values": {}, "errored": true});
        assert!(matches!(
            Plan::from_value(&errored, "p"),
            Err(PlanError::Errored { .. })
        ));
        let bad = plan(vec![
            json!({"address": "aws_s3_bucket.b", "type": "aws_s3_bucket"}),
        ]);
        let err = Plan::from_json(&bad, "p.json").unwrap_err();
        assert_eq!(err.to_string(), "p.json: resource_changes[0] has no change");
    }

    #[test]
    fn a_plan_without_changes_parses_empty_and_data_sources_are_skipped() {
        let p = json!({"format_version": "1.2", "planned_values": {}});
        assert!(Plan::from_value(&p, "p").unwrap().changes.is_empty());
        let mut read = change(
            "data.aws_iam_policy_document.x",
            &["read"],
            json!(null),
            json!({}),
        );
        read["mode"] = json!("data");
        let p = Plan::from_json(&plan(vec![read]), "p").unwrap();
        assert!(p.changes.is_empty());
    }

    #[test]
    fn creates_with_known_names_are_probed_and_generated_names_are_listed() {
        let p = Plan::from_json(
            &plan(vec![
                change(
                    "aws_db_instance.db",
                    &["create"],
                    json!(null),
                    json!({"identifier": "prod-db"}),
                ),
                change(
                    "aws_s3_bucket.data",
                    &["create"],
                    json!(null),
                    json!({"bucket": "acme-data"}),
                ),
                change(
                    "aws_rds_cluster.c",
                    &["create"],
                    json!(null),
                    json!({"cluster_identifier": "c1"}),
                ),
                change(
                    "aws_dynamodb_table.t",
                    &["create"],
                    json!(null),
                    json!({"name": "locks", "region": "eu-west-1"}),
                ),
                change_unknown(
                    "aws_s3_bucket.gen",
                    &["create"],
                    json!(null),
                    json!({}),
                    json!({"bucket": true}),
                ),
                change(
                    "aws_efs_file_system.fs",
                    &["create"],
                    json!(null),
                    json!({"creation_token": "x"}),
                ),
                change(
                    "aws_iam_role.r",
                    &["create"],
                    json!(null),
                    json!({"name": "r"}),
                ),
                // Already in the state: replaced, not created.
                change(
                    "aws_db_instance.old",
                    &["delete", "create"],
                    json!({"identifier": "o"}),
                    json!({"identifier": "o"}),
                ),
            ]),
            "p",
        )
        .unwrap();
        let (probes, unprobed) = existence_probes(&p, &GateConfig::default());
        let ids: Vec<(&str, &Identity)> = probes
            .iter()
            .map(|p| (p.address.as_str(), &p.identity))
            .collect();
        assert_eq!(
            ids,
            vec![
                (
                    "aws_db_instance.db",
                    &Identity::DbInstance("prod-db".into())
                ),
                (
                    "aws_s3_bucket.data",
                    &Identity::S3Bucket("acme-data".into())
                ),
                ("aws_rds_cluster.c", &Identity::DbCluster("c1".into())),
                (
                    "aws_dynamodb_table.t",
                    &Identity::DynamodbTable("locks".into())
                ),
            ]
        );
        assert_eq!(probes[3].region.as_deref(), Some("eu-west-1"));
        let un: Vec<&str> = unprobed.iter().map(|u| u.address.as_str()).collect();
        assert_eq!(un, vec!["aws_s3_bucket.gen", "aws_efs_file_system.fs"]);
        assert!(unprobed[0].why.contains("known only after apply"));
    }

    #[test]
    fn config_adds_types_and_rejects_nonsense() {
        let c = GateConfig::from_toml("data_bearing_types = [\"aws_neptune_cluster\"]", "g.toml")
            .unwrap();
        assert!(c.is_data_bearing("aws_neptune_cluster"));
        assert!(!GateConfig::default().is_data_bearing("aws_neptune_cluster"));
        let err =
            GateConfig::from_toml("data_bearing_types = [\"Bad Type\"]", "g.toml").unwrap_err();
        assert!(err.to_string().contains("\"Bad Type\""), "{err}");
        let err = GateConfig::from_toml("data_bearing = []", "g.toml").unwrap_err();
        assert!(err.to_string().contains("g.toml"), "{err}");
    }

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

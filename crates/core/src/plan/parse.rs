//! Reading `terraform show -json PLANFILE`: the managed resource changes, and why a file is not a plan.

use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{change, plan};
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
}

//! Test fixtures: plan JSON as `terraform show -json` writes it.

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

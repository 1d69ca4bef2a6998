//! Which planned changes harm data: deletes and replaces of data-bearing resources, and updates
//! that remove a protection. An attribute whose new value is known only after apply
//! (`after_unknown`) counts as removed: the gate cannot prove it stays.

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod lifecycle;
mod protection;

use super::{GateConfig, Plan, ResourceChange};
use protection::weakened_protections;

/// Resource types whose delete or replace destroys data.
pub const BUILTIN_DATA_BEARING: &[&str] = &[
    "aws_db_instance",
    "aws_rds_cluster",
    "aws_rds_global_cluster",
    "aws_db_snapshot",
    "aws_db_cluster_snapshot",
    "aws_db_instance_automated_backups_replication",
    "aws_s3_bucket",
    "aws_kms_key",
    "aws_kms_replica_key",
    "aws_dynamodb_table",
    "aws_efs_file_system",
    "aws_backup_vault",
];

/// Resource types that *are* a protection: deleting one weakens the data it guards (e.g. the
/// provider suspends versioning when `aws_s3_bucket_versioning` is destroyed).
pub const PROTECTION_TYPES: &[&str] = &[
    "aws_s3_bucket_versioning",
    "aws_s3_bucket_object_lock_configuration",
    "aws_backup_vault_lock_configuration",
    "aws_dynamodb_table_replica",
    "aws_efs_backup_policy",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    Delete,
    /// Destroy, then create (`["delete","create"]`).
    ReplaceDestroyFirst,
    /// Create, then destroy (`["create","delete"]`, `create_before_destroy`).
    ReplaceCreateFirst,
    /// An update (or replace) that removes a protection.
    WeakensProtection,
    /// A lifecycle rule that makes S3 delete objects (sooner): added or shortened expiration.
    ExpiresData,
}

impl FindingKind {
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::Delete => "delete",
            FindingKind::ReplaceDestroyFirst => "replace (destroy first)",
            FindingKind::ReplaceCreateFirst => "replace (create first)",
            FindingKind::WeakensProtection => "weakens protection",
            FindingKind::ExpiresData => "expires data",
        }
    }
}

/// One destructive change, in words a person reviewing the plan can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub address: String,
    pub resource_type: String,
    pub kind: FindingKind,
    /// What happens to the data.
    pub data: String,
    /// Why Terraform plans it / which protection goes.
    pub why: String,
}

/// Every destructive change in the plan, in plan order.
pub fn classify(plan: &Plan, config: &GateConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    let created = lifecycle::created_buckets(plan);
    for c in &plan.changes {
        if c.resource_type == lifecycle::LIFECYCLE_TYPE {
            out.extend(lifecycle::expiration_finding(c, &created));
            continue;
        }
        let data_bearing = config.is_data_bearing(&c.resource_type);
        if !data_bearing {
            continue;
        }
        let protection_type = PROTECTION_TYPES.contains(&c.resource_type.as_str());
        if c.is_delete() || c.is_replace() {
            let kind = if c.is_delete() {
                FindingKind::Delete
            } else if c.is(&["delete", "create"]) {
                FindingKind::ReplaceDestroyFirst
            } else {
                FindingKind::ReplaceCreateFirst
            };
            let data = if protection_type {
                "the protection it provides is removed".to_owned()
            } else if kind == FindingKind::Delete {
                delete_consequence(c)
            } else {
                format!(
                    "destroyed and created anew, empty; {}",
                    delete_consequence(c)
                )
            };
            out.push(Finding {
                address: c.address.clone(),
                resource_type: c.resource_type.clone(),
                kind,
                data,
                why: reason(c),
            });
        }
        // A replace that also flips a protection is reported twice on purpose: a reviewer sees
        // both what is destroyed and that the new copy is less protected.
        if c.is_update() || c.is_replace() {
            let weakened = weakened_protections(c);
            if !weakened.is_empty() {
                out.push(Finding {
                    address: c.address.clone(),
                    resource_type: c.resource_type.clone(),
                    kind: FindingKind::WeakensProtection,
                    data: "stays, with less protection against deletion or loss".into(),
                    why: weakened.join("; "),
                });
            }
        }
    }
    out
}

fn reason(c: &ResourceChange) -> String {
    let base = match c.action_reason.as_deref() {
        Some("delete_because_no_resource_config") => "removed from the configuration".to_owned(),
        Some("delete_because_no_module") => "its module was removed".to_owned(),
        Some("delete_because_count_index") | Some("delete_because_each_key") => {
            "its count/for_each key is gone".to_owned()
        }
        Some("delete_because_wrong_repetition") => "count/for_each was added or removed".into(),
        Some("delete_because_no_move_target") => "a moved block has no target".into(),
        Some("replace_because_tainted") => "the resource is tainted".into(),
        Some("replace_by_request") => "replacement requested (-replace)".into(),
        Some("replace_by_triggers") => "replace_triggered_by fired".into(),
        Some("replace_because_cannot_update") => "an argument cannot be updated in place".into(),
        Some(other) => other.to_owned(),
        None if c.is_delete() => "planned delete (e.g. terraform plan -destroy)".into(),
        None => "planned replace".into(),
    };
    let paths: Vec<String> = c
        .replace_paths
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_array)
                .map(|p| {
                    p.iter()
                        .map(|s| match s {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect()
        })
        .unwrap_or_default();
    if paths.is_empty() {
        base
    } else {
        format!("{base}; forced by {}", paths.join(", "))
    }
}

/// What a delete of this resource means for its data, read from its current settings.
fn delete_consequence(c: &ResourceChange) -> String {
    let b = &c.before;
    let flag = |k: &str| b.get(k).and_then(Value::as_bool);
    match c.resource_type.as_str() {
        "aws_db_instance" | "aws_rds_cluster" => {
            let final_snapshot = match flag("skip_final_snapshot") {
                Some(false) => "a final snapshot is taken",
                _ => "NO final snapshot (skip_final_snapshot)",
            };
            let automated = match flag("delete_automated_backups") {
                Some(false) => "automated backups are retained",
                _ => "automated backups are deleted with it",
            };
            let protected = if flag("deletion_protection") == Some(true) {
                " (deletion_protection is on: apply fails unless it is turned off first)"
            } else {
                ""
            };
            format!("database deleted; {final_snapshot}; {automated}{protected}")
        }
        "aws_s3_bucket" => {
            if flag("force_destroy") == Some(true) {
                "bucket and EVERY object in it deleted (force_destroy)".into()
            } else {
                "bucket deleted (fails while it still holds objects)".into()
            }
        }
        "aws_kms_key" | "aws_kms_replica_key" => {
            let days = b
                .get("deletion_window_in_days")
                .and_then(Value::as_i64)
                .map(|d| format!("{d} days"))
                .unwrap_or_else(|| "the deletion window".into());
            format!("key scheduled for deletion after {days}: everything encrypted with it becomes unreadable")
        }
        "aws_db_snapshot" | "aws_db_cluster_snapshot" => "snapshot deleted".into(),
        "aws_dynamodb_table" => "table and its items deleted".into(),
        "aws_efs_file_system" => "file system and its files deleted".into(),
        "aws_backup_vault" => "backup vault deleted".into(),
        _ => "resource deleted with its data".into(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::fixtures::{change, plan};
    use super::*;
    use serde_json::json;

    pub(super) fn findings(changes: Vec<Value>) -> Vec<Finding> {
        classify(
            &Plan::from_json(&plan(changes), "p").unwrap(),
            &GateConfig::default(),
        )
    }

    pub(super) fn one(changes: Vec<Value>) -> Finding {
        let f = findings(changes);
        assert_eq!(f.len(), 1, "{f:#?}");
        f.into_iter().next().unwrap()
    }

    pub(super) fn db(extra: Value) -> Value {
        let mut v = json!({"identifier": "prod", "deletion_protection": true,
            "skip_final_snapshot": false, "backup_retention_period": 7,
            "delete_automated_backups": false, "tags": {}});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn delete_of_an_instance_names_what_happens_to_its_backups() {
        let f = one(vec![change(
            "aws_db_instance.prod",
            &["delete"],
            db(json!({})),
            json!(null),
        )]);
        assert_eq!(f.kind, FindingKind::Delete);
        assert!(f.data.contains("a final snapshot is taken"), "{}", f.data);
        assert!(f.data.contains("deletion_protection is on"), "{}", f.data);
        assert!(f.why.contains("plan -destroy"), "{}", f.why);
        let f = one(vec![change(
            "aws_db_instance.prod",
            &["delete"],
            db(
                json!({"skip_final_snapshot": true, "delete_automated_backups": true, "deletion_protection": false}),
            ),
            json!(null),
        )]);
        assert!(f.data.contains("NO final snapshot"), "{}", f.data);
        assert!(
            f.data.contains("automated backups are deleted"),
            "{}",
            f.data
        );
    }

    #[test]
    fn replace_in_either_order_is_destructive_and_names_the_forcing_path() {
        for (actions, kind) in [
            (["delete", "create"], FindingKind::ReplaceDestroyFirst),
            (["create", "delete"], FindingKind::ReplaceCreateFirst),
        ] {
            let mut c = change(
                "aws_rds_cluster.main",
                &actions,
                db(json!({})),
                db(json!({})),
            );
            c["action_reason"] = json!("replace_because_cannot_update");
            c["change"]["replace_paths"] = json!([["engine"]]);
            let f = one(vec![c]);
            assert_eq!(f.kind, kind);
            assert!(f.why.contains("cannot be updated"), "{}", f.why);
            assert!(f.why.contains("forced by engine"), "{}", f.why);
            assert!(
                f.data.starts_with("destroyed and created anew"),
                "{}",
                f.data
            );
        }
    }

    #[test]
    fn deletes_of_buckets_keys_tables_and_protection_resources() {
        let f = findings(vec![
            change(
                "aws_s3_bucket.b",
                &["delete"],
                json!({"force_destroy": true}),
                json!(null),
            ),
            change(
                "aws_kms_key.k",
                &["delete"],
                json!({"deletion_window_in_days": 7}),
                json!(null),
            ),
            change("aws_dynamodb_table.t", &["delete"], json!({}), json!(null)),
            change("aws_efs_file_system.f", &["delete"], json!({}), json!(null)),
            change("aws_backup_vault.v", &["delete"], json!({}), json!(null)),
            change("aws_db_snapshot.s", &["delete"], json!({}), json!(null)),
            change(
                "aws_db_cluster_snapshot.s",
                &["delete"],
                json!({}),
                json!(null),
            ),
            change(
                "aws_s3_bucket_versioning.v",
                &["delete"],
                json!({}),
                json!(null),
            ),
            change(
                "aws_s3_bucket_object_lock_configuration.l",
                &["delete"],
                json!({}),
                json!(null),
            ),
        ]);
        assert_eq!(f.len(), 9, "{f:#?}");
        assert!(f.iter().all(|x| x.kind == FindingKind::Delete));
        assert!(f[0].data.contains("EVERY object"), "{}", f[0].data);
        assert!(f[1].data.contains("after 7 days"), "{}", f[1].data);
        assert_eq!(f[7].data, "the protection it provides is removed");
    }

    #[test]
    fn user_types_are_data_bearing_by_config() {
        let p = Plan::from_json(
            &plan(vec![change(
                "aws_neptune_cluster.g",
                &["delete"],
                json!({}),
                json!(null),
            )]),
            "p",
        )
        .unwrap();
        assert!(classify(&p, &GateConfig::default()).is_empty());
        let config = GateConfig {
            data_bearing_types: vec!["aws_neptune_cluster".into()],
        };
        assert_eq!(classify(&p, &config).len(), 1);
    }
}

//! Assertions on the applied Terraform state of the main stack (`infra_apply`): the IAM guard
//! conditions of every role's policy, a route for every granted service, and the KMS key policy.

use std::process::Command;

use serde_json::{json, Value};

use crate::infra::repo;
use crate::moto_url;

pub fn fixture(args: &[&str]) -> Value {
    let out = Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("tests/stack/aws_fixture.py"))
        .args(args)
        .env("DRILL_TEST_MOTO_URL", moto_url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn default_network() -> (String, Vec<String>) {
    let v = fixture(&["default-network"]);
    (
        v["vpc_id"].as_str().unwrap().to_owned(),
        v["subnet_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect(),
    )
}

fn statements_of(policy: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(policy).unwrap();
    doc["Statement"].as_array().unwrap().clone()
}

/// Every policy document in force for function `key`'s role: its inline policies and the
/// managed policies attached to it, as (address, document text).
pub fn role_documents(state: &Value, key: &str) -> Vec<(String, String)> {
    role_documents_of(state, &format!("aws_iam_role.function[\"{key}\"]"))
}

/// [`role_documents`] of the role at Terraform `address` (e.g. `aws_iam_role.sandbox["sandbox"]`).
pub fn role_documents_of(state: &Value, address: &str) -> Vec<(String, String)> {
    let role = resources_of(state, "aws_iam_role")
        .into_iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("no role {address}"));
    let name = role["values"]["name"].as_str().unwrap();
    let mut out: Vec<(String, String)> = resources_of(state, "aws_iam_role_policy")
        .into_iter()
        .filter(|p| p["values"]["role"].as_str() == Some(name))
        .map(|p| {
            (
                p["address"].as_str().unwrap().to_owned(),
                p["values"]["policy"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for a in resources_of(state, "aws_iam_role_policy_attachment") {
        if a["values"]["role"].as_str() != Some(name) {
            continue;
        }
        let arn = a["values"]["policy_arn"].as_str().unwrap();
        let p = resources_of(state, "aws_iam_policy")
            .into_iter()
            .find(|p| p["values"]["arn"].as_str() == Some(arn))
            .unwrap_or_else(|| panic!("{arn} attached to {name} is not in the state"));
        out.push((
            p["address"].as_str().unwrap().to_owned(),
            p["values"]["policy"].as_str().unwrap().to_owned(),
        ));
    }
    out
}

/// Every statement in force for function `key`'s role (see [`role_documents`]).
pub fn role_statements(state: &Value, key: &str) -> Vec<Value> {
    role_documents(state, key)
        .iter()
        .flat_map(|(_, doc)| statements_of(doc))
        .collect()
}

/// IAM's size quotas, white space not counted: 10,240 characters for a role's inline policies
/// together, 6,144 for a managed policy, 10 managed policies a role (the default quota).
pub fn assert_within_iam_quotas(state: &Value, key: &str) {
    assert_role_within_iam_quotas(state, &format!("aws_iam_role.function[\"{key}\"]"));
}

/// [`assert_within_iam_quotas`] for the role at Terraform `address`.
pub fn assert_role_within_iam_quotas(state: &Value, address: &str) {
    let size = |doc: &str| doc.chars().filter(|c| !c.is_whitespace()).count();
    let docs = role_documents_of(state, address);
    let inline: usize = docs
        .iter()
        .filter(|(a, _)| a.starts_with("aws_iam_role_policy."))
        .map(|(_, d)| size(d))
        .sum();
    assert!(
        inline <= 10_240,
        "{address}: inline policies of {inline} characters"
    );
    let managed: Vec<(&String, usize)> = docs
        .iter()
        .filter(|(a, _)| a.starts_with("aws_iam_policy."))
        .map(|(a, d)| (a, size(d)))
        .collect();
    assert!(
        managed.len() <= 10,
        "{address}: {} managed policies",
        managed.len()
    );
    for (a, n) in managed {
        assert!(n <= 6_144, "{a}: {n} characters");
    }
}

pub fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
        _ => vec![],
    }
}

pub fn allows<'a>(statements: &'a [Value], action: &str) -> Vec<&'a Value> {
    statements
        .iter()
        .filter(|s| s["Effect"] == "Allow" && as_list(&s["Action"]).iter().any(|a| a == action))
        .collect()
}

/// Asserts `resources` is not empty and every one satisfies `ok`: an `.all()` over an empty list
/// would pass whatever the policy says.
pub fn assert_all(resources: &[String], what: &str, ok: impl Fn(&str) -> bool) {
    assert!(!resources.is_empty(), "{what}: no resources");
    assert!(resources.iter().all(|r| ok(r)), "{what}: {resources:?}");
}

pub fn assert_guarded_policies(state: &Value, prefix: &str) {
    let temp_db = format!("db:{prefix}*");
    for key in ["restore", "validate", "export", "delete-temp"] {
        for s in role_statements(state, key) {
            for a in as_list(&s["Action"]) {
                assert!(
                    a != "*" && !a.ends_with(":*"),
                    "{key} grants a wildcard action {a}"
                );
            }
        }
    }

    // delete-temp: DeleteDBInstance only on db:<prefix>* and only with the temp tag.
    let delete = role_statements(state, "delete-temp");
    let del = allows(&delete, "rds:DeleteDBInstance");
    assert_eq!(del.len(), 1, "{delete:?}");
    assert_all(
        &as_list(&del[0]["Resource"]),
        "delete-temp DeleteDBInstance",
        |r| r.ends_with(&temp_db),
    );
    assert_eq!(
        del[0]["Condition"]["StringEquals"]["aws:ResourceTag/drill:role"],
        json!("temp"),
        "{}",
        del[0]
    );
    // Snapshot deletes: only drill copies, by tag.
    let snapshot_deletes = allows(&delete, "rds:DeleteDBSnapshot");
    assert_eq!(snapshot_deletes.len(), 1, "{delete:?}");
    for s in snapshot_deletes {
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:ResourceTag/drill:role"],
            json!("snapshot-copy")
        );
        assert_all(&as_list(&s["Resource"]), "DeleteDBSnapshot", |r| {
            r.contains(&format!("snapshot:{prefix}"))
        });
    }

    // restore: creates only drill-named instances carrying the temp tag; modifies only tagged temps.
    let restore = role_statements(state, "restore");
    let rst = allows(&restore, "rds:RestoreDBInstanceFromDBSnapshot");
    assert_eq!(
        rst.len(),
        1,
        "one per policy of sources with instances: {rst:#?}"
    );
    assert_eq!(
        rst[0]["Condition"]["StringEquals"]["aws:RequestTag/drill:role"],
        json!("temp")
    );
    let db_resources: Vec<String> = as_list(&rst[0]["Resource"])
        .into_iter()
        .filter(|r| r.contains(":db:"))
        .collect();
    assert_all(
        &db_resources,
        "RestoreDBInstanceFromDBSnapshot instances",
        |r| r.ends_with(&temp_db),
    );
    // restore's one ModifyDBInstance grant: only drill-named instances carrying the temp tag.
    let modifies = allows(&restore, "rds:ModifyDBInstance");
    assert_eq!(modifies.len(), 1, "{restore:?}");
    assert_all(
        &as_list(&modifies[0]["Resource"]),
        "restore ModifyDBInstance",
        |r| r.ends_with(&temp_db),
    );
    assert_eq!(
        modifies[0]["Condition"]["StringEquals"]["aws:ResourceTag/drill:role"],
        json!("temp"),
        "{}",
        modifies[0]
    );
    // Snapshot copies: only into drill-named snapshots carrying the snapshot-copy tag, in this
    // region and the configured copy region; only drill copies may be shared.
    let copies = allows(&restore, "rds:CopyDBSnapshot");
    assert_eq!(copies.len(), 1, "{restore:?}");
    assert_eq!(
        copies[0]["Condition"]["StringEquals"]["aws:RequestTag/drill:role"],
        json!("snapshot-copy")
    );
    let targets: Vec<String> = as_list(&copies[0]["Resource"])
        .into_iter()
        .filter(|r| r.contains(&format!("snapshot:{prefix}")))
        .collect();
    assert!(
        targets.iter().any(|r| r.contains(":rds:eu-west-1:")),
        "{targets:?}"
    );
    // Tags only on drill-named snapshots (never a source's or a person's), only drill:* keys.
    let mut snapshot_tag_grants = 0;
    for t in allows(&restore, "rds:AddTagsToResource") {
        let res = as_list(&t["Resource"]);
        if res.iter().any(|r| r.contains(":snapshot:")) {
            snapshot_tag_grants += 1;
            assert_all(&res, "AddTagsToResource on snapshots", |r| {
                r.contains(&format!("snapshot:{prefix}"))
            });
            assert_eq!(
                t["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"],
                json!("drill:*"),
                "{t}"
            );
        }
    }
    assert_eq!(snapshot_tag_grants, 1, "{restore:?}");
    let shares = allows(&restore, "rds:ModifyDBSnapshotAttribute");
    assert_eq!(shares.len(), 1);
    assert_eq!(
        shares[0]["Condition"]["StringEquals"]["aws:ResourceTag/drill:role"],
        json!("snapshot-copy")
    );
    assert_all(
        &as_list(&shares[0]["Resource"]),
        "ModifyDBSnapshotAttribute",
        |r| r.contains(&format!("snapshot:{prefix}")),
    );
    // Nobody but delete-temp may delete anything in RDS.
    for key in ["restore", "validate", "export"] {
        let p = role_statements(state, key);
        assert!(allows(&p, "rds:DeleteDBInstance").is_empty(), "{key}");
        assert!(allows(&p, "rds:DeleteDBSnapshot").is_empty(), "{key}");
    }
    // Only restore modifies instances (its one grant is scoped above).
    for key in ["validate", "export", "delete-temp"] {
        let p = role_statements(state, key);
        assert!(allows(&p, "rds:ModifyDBInstance").is_empty(), "{key}");
    }

    // export: writes backups, can never delete them.
    let export = role_statements(state, "export");
    for a in [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
    ] {
        assert!(allows(&export, a).is_empty(), "export may {a}");
        assert!(
            export
                .iter()
                .any(|s| s["Effect"] == "Deny" && as_list(&s["Action"]).iter().any(|x| x == a)),
            "export must explicitly deny {a}"
        );
    }
    assert!(!allows(&export, "s3:PutObject").is_empty());
    // Retention is set with the write and never changed after it.
    assert!(allows(&export, "s3:PutObjectRetention").is_empty());

    // Secrets Manager: the restore role reaches only secrets of drill temps, by the tag RDS
    // puts on its managed secrets (production's managed secret is also named rds!db-*).
    let mut managed_secret_grants = 0;
    for s in restore.iter().filter(|s| {
        as_list(&s["Action"])
            .iter()
            .any(|a| a.starts_with("secretsmanager:"))
    }) {
        let resources = as_list(&s["Resource"]);
        if !resources.is_empty() && resources.iter().all(|r| r.contains(":secret:rds!db-")) {
            managed_secret_grants += 1;
            let tag = s["Condition"]["StringLike"]
                .as_object()
                .and_then(|c| {
                    c.iter()
                        .find(|(k, _)| k.ends_with("aws:rds:primaryDBInstanceArn"))
                })
                .map(|(_, v)| v.clone());
            assert_eq!(
                tag.as_ref()
                    .and_then(Value::as_str)
                    .map(|v| v.ends_with(&temp_db)),
                Some(true),
                "{s}"
            );
        }
    }
    // CreateSecret, and TagResource/RotateSecret: both on the temps' managed secrets only.
    assert!(managed_secret_grants >= 1, "{restore:?}");
    // Automated snapshots of a source match only that source (`rds:prod-*` would also match
    // `rds:prod-billing-...`).
    let mut source_snapshots = 0;
    for r in as_list(&rst[0]["Resource"]) {
        if let Some((_, name)) = r.split_once(":snapshot:") {
            source_snapshots += 1;
            assert!(
                name.starts_with(prefix) || name.ends_with("-????-??-??-??-??"),
                "{r}"
            );
        }
    }
    assert!(source_snapshots > 0, "{:?}", rst[0]);
    // Tags on temp instances: only drill:* keys.
    for t in allows(&restore, "rds:AddTagsToResource") {
        assert_eq!(
            t["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"],
            json!("drill:*"),
            "{t}"
        );
    }
    // Every function reads the deployment configuration; none may write it.
    for key in ["restore", "validate", "export", "delete-temp"] {
        let p = role_statements(state, key);
        assert!(
            allows(&p, "s3:GetObject")
                .iter()
                .any(|s| as_list(&s["Resource"])
                    .iter()
                    .any(|r| r.ends_with("/config/drill.json"))),
            "{key} cannot read the configuration"
        );
        for s in allows(&p, "s3:PutObject") {
            assert_all(
                &as_list(&s["Resource"]),
                &format!("{key} PutObject (may it write the configuration?)"),
                |r| r.ends_with("/backups/*") || r.ends_with("/reports/*"),
            );
        }
    }
}

/// Every resource of `state` (`terraform show -json`) of the given type.
pub fn resources_of<'a>(state: &'a Value, kind: &str) -> Vec<&'a Value> {
    state["values"]["root_module"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == kind)
        .collect()
}

/// Every AWS service a function's role grants an action of has a network path from the private
/// subnets: the S3 gateway endpoint, or an interface endpoint of that service in this region.
/// ec2 and logs are used by Lambda itself (network interfaces, log delivery), not the code.
pub fn assert_every_granted_service_has_a_route(state: &Value) {
    let mut services = std::collections::BTreeSet::new();
    for key in ["restore", "validate", "export", "delete-temp"] {
        for s in role_statements(state, key) {
            if s["Effect"] != "Allow" {
                continue;
            }
            for a in as_list(&s["Action"]) {
                services.insert(a.split(':').next().unwrap().to_owned());
            }
        }
    }
    assert!(
        services.contains("rds") && services.contains("s3"),
        "{services:?}"
    );
    let endpoints: Vec<(String, String)> = resources_of(state, "aws_vpc_endpoint")
        .iter()
        .map(|r| {
            (
                r["values"]["service_name"].as_str().unwrap().to_owned(),
                r["values"]["vpc_endpoint_type"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    for service in services
        .iter()
        .filter(|s| !["ec2", "logs"].contains(&s.as_str()))
    {
        let want = format!("com.amazonaws.us-east-1.{service}");
        let kind = if service == "s3" {
            "Gateway"
        } else {
            "Interface"
        };
        assert!(
            endpoints.iter().any(|(n, t)| *n == want && t == kind),
            "the functions are granted {service}:* but have no {kind} endpoint for it: {endpoints:?}"
        );
    }
    // Interface endpoints sit behind their own group, open to the Lambdas on 443 only.
    let sg = resources_of(state, "aws_vpc_security_group_ingress_rule")
        .into_iter()
        .find(|r| r["name"] == "endpoints_from_lambda")
        .expect("ingress rule of the endpoints' security group");
    assert_eq!(sg["values"]["from_port"], json!(443));
    assert_eq!(sg["values"]["to_port"], json!(443));
    assert!(sg["values"]["referenced_security_group_id"]
        .as_str()
        .is_some_and(|g| g.starts_with("sg-")));
}

/// The drill's key: kept by Terraform (prevent_destroy is checked by the destroy below), and
/// only the break-glass principal may schedule its deletion, disable it, or change its policy.
pub fn assert_key_policy_protects_the_key(state: &Value, break_glass: &str) {
    let key = resources_of(state, "aws_kms_key")
        .into_iter()
        .find(|r| r["address"] == "aws_kms_key.drill")
        .expect("aws_kms_key.drill");
    let policy: Value = serde_json::from_str(key["values"]["policy"].as_str().unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let deny = statements
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .unwrap_or_else(|| panic!("no Deny in the key policy: {policy}"));
    let mut actions = as_list(&deny["Action"]);
    actions.sort();
    assert_eq!(
        actions,
        [
            "kms:DisableKey",
            "kms:PutKeyPolicy",
            "kms:ScheduleKeyDeletion"
        ]
    );
    assert_eq!(deny["Principal"], json!({"AWS": "*"}), "{deny}");
    assert_eq!(
        deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"],
        json!(break_glass),
        "{deny}"
    );
}

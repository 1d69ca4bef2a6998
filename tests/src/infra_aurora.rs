//! The Aurora policies (`infra/iam_aurora.tf`) as Terraform rendered them: linted with parliament
//! (every action exists, every condition key fits its action) and held statement by statement,
//! since no emulator evaluates IAM conditions.

use serde_json::{json, Value};

use crate::infra::parliament;
use crate::infra_state::{allows, as_list, assert_all, role_statements};

/// The policy document of `aws_iam_role_policy.aurora[<key>]` from `terraform show -json`.
pub fn aurora_policy(state: &Value, key: &str) -> Value {
    let address = format!("aws_iam_role_policy.aurora[\"{key}\"]");
    let r = state["values"]["root_module"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in state: no aurora-cluster source?"));
    serde_json::from_str(r["values"]["policy"].as_str().unwrap()).unwrap()
}

fn statements(doc: &Value) -> Vec<Value> {
    doc["Statement"].as_array().unwrap().clone()
}

/// One Allow of `action`, asserted to exist exactly once.
fn only_allow<'a>(statements: &'a [Value], action: &str) -> &'a Value {
    let found = allows(statements, action);
    assert_eq!(found.len(), 1, "{action}: {statements:#?}");
    found[0]
}

/// Every Aurora policy lints clean, and each grant is scoped as `infra/iam_aurora.tf` says.
/// `source_clusters`: every aurora-cluster source's cluster, the first with snapshot_copy, the
/// third (if any) without.
pub fn assert_aurora_policies(state: &Value, prefix: &str, source_clusters: &[String]) {
    let source_cluster = source_clusters[0].as_str();
    let any = |f: &dyn Fn(&str) -> bool| source_clusters.iter().any(|c| f(c));
    for key in ["restore", "delete-temp", "validate", "export"] {
        let doc = aurora_policy(state, key);
        let findings = parliament(&doc.to_string());
        assert!(findings.is_empty(), "{key}: {findings:#?}\n{doc:#}");
    }
    let temp_cluster = format!(":cluster:{prefix}*");
    let tag = |s: &Value, test: &str, key: &str| s["Condition"][test][key].clone();

    let restore = statements(&aurora_policy(state, "restore"));
    // The grants naming the sources: managed policies of a few sources each (iam_sources.tf).
    let sourced = role_statements(state, "restore");
    for action in [
        "rds:RestoreDBClusterFromSnapshot",
        "rds:RestoreDBClusterToPointInTime",
    ] {
        let grants = allows(&sourced, action);
        assert!(!grants.is_empty(), "{action}: no grant");
        for s in grants {
            let resources = as_list(&s["Resource"]);
            // The only clusters: drill temps, and the source itself (a point in time's source).
            let clusters: Vec<String> = resources
                .iter()
                .filter(|r| r.contains(":cluster:"))
                .cloned()
                .collect();
            assert_all(&clusters, action, |r| {
                r.ends_with(&temp_cluster) || any(&|c| r.ends_with(&format!(":cluster:{c}")))
            });
            // Snapshots of the source only, never a wildcard over every cluster's.
            let snapshots: Vec<String> = resources
                .iter()
                .filter(|r| r.contains(":cluster-snapshot:"))
                .cloned()
                .collect();
            assert_all(&snapshots, action, |r| {
                any(&|c| {
                    r.contains(&format!(":cluster-snapshot:{c}-"))
                        || r.contains(&format!(":cluster-snapshot:rds:{c}-"))
                })
            });
            assert_eq!(
                tag(s, "StringEquals", "aws:RequestTag/drill:role"),
                json!("temp")
            );
        }
    }
    // A deleted source's retained automated backups (SourceDbClusterResourceId): the
    // point-in-time restore authorizes on the cluster-auto-backup resource type, and listing
    // them on the same type.
    let to_point = allows(&sourced, "rds:RestoreDBClusterToPointInTime")[0];
    assert!(
        as_list(&to_point["Resource"])
            .iter()
            .any(|r| r.ends_with(":cluster-auto-backup:*")),
        "{to_point:#}"
    );
    let listed = only_allow(&restore, "rds:DescribeDBClusterAutomatedBackups");
    assert!(
        as_list(&listed["Resource"])
            .iter()
            .any(|r| r.ends_with(":cluster-auto-backup:*")),
        "{listed:#}"
    );
    let create = only_allow(&restore, "rds:CreateDBInstance");
    assert_eq!(
        tag(create, "StringEquals", "aws:RequestTag/drill:role"),
        json!("temp")
    );
    // ModifyDBCluster only on tagged temps, and only to turn the managed secret on.
    let modify = only_allow(&restore, "rds:ModifyDBCluster");
    assert_all(&as_list(&modify["Resource"]), "ModifyDBCluster", |r| {
        r.ends_with(&temp_cluster)
    });
    assert_eq!(
        tag(modify, "StringEquals", "aws:ResourceTag/drill:role"),
        json!("temp")
    );
    assert_eq!(
        tag(modify, "Bool", "rds:ManageMasterUserPassword"),
        json!("true")
    );
    // RotateSecret takes no aws:RequestTag: scoped by the secret's own tag.
    let rotate = only_allow(&restore, "secretsmanager:RotateSecret");
    assert!(
        rotate["Condition"]["StringLike"]["secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn"]
            .as_str()
            .is_some_and(|v| v.ends_with(&temp_cluster)),
        "{rotate:#}"
    );
    let create_secret = only_allow(&restore, "secretsmanager:CreateSecret");
    assert!(
        create_secret["Condition"]["StringLike"]["aws:RequestTag/aws:rds:primaryDBClusterArn"]
            .is_string(),
        "{create_secret:#}"
    );

    // Cluster snapshot copies (the source has snapshot_copy to eu-west-1): copied only from the
    // source's cluster snapshots into drill-named ones tagged as copies, in the two regions.
    let copy_ok = |r: &str| {
        (r.contains(":us-east-1:") || r.contains(":eu-west-1:"))
            && r.ends_with(&format!(":cluster-snapshot:{prefix}*"))
    };
    let copies = allows(&sourced, "rds:CopyDBClusterSnapshot");
    assert!(!copies.is_empty(), "no CopyDBClusterSnapshot grant");
    for copy in copies {
        // The source side: only the sources' automated cluster snapshots (a manual `<id>-*`
        // pattern would match another cluster's snapshots too).
        assert_all(&as_list(&copy["Resource"]), "CopyDBClusterSnapshot", |r| {
            copy_ok(r)
                || any(&|c| r.ends_with(&format!(":cluster-snapshot:rds:{c}-????-??-??-??-??")))
        });
        assert!(
            as_list(&copy["Resource"])
                .iter()
                .any(|r| r.contains(":eu-west-1:") && copy_ok(r.as_str())),
            "{copy:#}"
        );
        assert_eq!(
            tag(copy, "StringEquals", "aws:RequestTag/drill:role"),
            json!("snapshot-copy")
        );
    }
    // The copying source's automated snapshots are named; a source without snapshot_copy's not.
    let named: String = allows(&sourced, "rds:CopyDBClusterSnapshot")
        .iter()
        .flat_map(|c| as_list(&c["Resource"]))
        .collect();
    assert!(
        named.contains(&format!(":rds:{source_cluster}-")),
        "{named}"
    );
    let share = only_allow(&restore, "rds:ModifyDBClusterSnapshotAttribute");
    assert_all(&as_list(&share["Resource"]), "share", copy_ok);
    assert_eq!(
        tag(share, "StringEquals", "aws:ResourceTag/drill:role"),
        json!("snapshot-copy")
    );
    // Tags only with a drill role in the request, only drill:* keys.
    for t in allows(&restore, "rds:AddTagsToResource") {
        assert!(
            t["Condition"]["StringEquals"]["aws:RequestTag/drill:role"].is_string(),
            "{t:#}"
        );
        assert_eq!(
            t["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"],
            json!("drill:*"),
            "{t:#}"
        );
    }

    // delete-temp: DeleteDBCluster only on tagged temps.
    let delete = statements(&aurora_policy(state, "delete-temp"));
    let del = only_allow(&delete, "rds:DeleteDBCluster");
    // Its final-snapshot resource type is named drill-prefixed too (no final snapshot is made).
    assert_all(&as_list(&del["Resource"]), "DeleteDBCluster", |r| {
        r.ends_with(&temp_cluster) || r.ends_with(&format!(":cluster-snapshot:{prefix}*"))
    });
    assert_eq!(
        tag(del, "StringEquals", "aws:ResourceTag/drill:role"),
        json!("temp")
    );

    // Expiry deletes only drill-named cluster snapshot copies carrying the copy tag.
    let expire = only_allow(&delete, "rds:DeleteDBClusterSnapshot");
    assert_all(
        &as_list(&expire["Resource"]),
        "DeleteDBClusterSnapshot",
        copy_ok,
    );
    assert_eq!(
        tag(expire, "StringEquals", "aws:ResourceTag/drill:role"),
        json!("snapshot-copy")
    );

    // validate and export read only the temp clusters' managed secrets.
    for key in ["validate", "export"] {
        let read = statements(&aurora_policy(state, key));
        let get = only_allow(&read, "secretsmanager:GetSecretValue");
        assert_all(&as_list(&get["Resource"]), key, |r| {
            r.contains(":secret:rds!cluster-")
        });
        assert!(
            get["Condition"]["StringLike"]
                ["secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn"]
                .as_str()
                .is_some_and(|v| v.ends_with(&temp_cluster)),
            "{get:#}"
        );
    }
}

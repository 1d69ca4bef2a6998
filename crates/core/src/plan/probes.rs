//! Missing or stale state: which planned creates name a resource AWS can be asked about.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{rules, GateConfig, Plan};

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
    /// `elasticfilesystem:DescribeFileSystems` filtered by `CreationToken`
    EfsFileSystem(String),
    /// `backup:DescribeBackupVault`
    BackupVault(String),
    /// `kms:ListAliases` (the alias name, `alias/...`)
    KmsAlias(String),
}

impl Identity {
    pub fn id(&self) -> &str {
        match self {
            Identity::DbInstance(s)
            | Identity::DbCluster(s)
            | Identity::DbSnapshot(s)
            | Identity::DbClusterSnapshot(s)
            | Identity::S3Bucket(s)
            | Identity::DynamodbTable(s)
            | Identity::EfsFileSystem(s)
            | Identity::BackupVault(s)
            | Identity::KmsAlias(s) => s,
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
            // Without `creation_token` the provider generates one: unknown in the plan.
            "aws_efs_file_system" => Some(("creation_token", Identity::EfsFileSystem)),
            "aws_backup_vault" => Some(("name", Identity::BackupVault)),
            // A key has no name; its alias is how a configuration finds it again.
            "aws_kms_alias" => Some(("name", Identity::KmsAlias)),
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{change, change_unknown, plan};
    use super::*;
    use serde_json::json;

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
                    "aws_backup_vault.v",
                    &["create"],
                    json!(null),
                    json!({"name": "vault-1"}),
                ),
                change(
                    "aws_kms_alias.a",
                    &["create"],
                    json!(null),
                    json!({"name": "alias/backups"}),
                ),
                change_unknown(
                    "aws_efs_file_system.gen",
                    &["create"],
                    json!(null),
                    json!({}),
                    json!({"creation_token": true}),
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
                (
                    "aws_efs_file_system.fs",
                    &Identity::EfsFileSystem("x".into())
                ),
                (
                    "aws_backup_vault.v",
                    &Identity::BackupVault("vault-1".into())
                ),
                (
                    "aws_kms_alias.a",
                    &Identity::KmsAlias("alias/backups".into())
                ),
            ]
        );
        assert_eq!(probes[3].region.as_deref(), Some("eu-west-1"));
        let un: Vec<&str> = unprobed.iter().map(|u| u.address.as_str()).collect();
        assert_eq!(un, vec!["aws_s3_bucket.gen", "aws_efs_file_system.gen"]);
        assert!(unprobed[0].why.contains("known only after apply"));
    }
}

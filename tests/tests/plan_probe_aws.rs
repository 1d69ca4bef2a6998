//! The existence probes of `drill plan-check` for EFS file systems, AWS Backup vaults and KMS
//! aliases, through the real SDK against moto: one that exists is found, one that does not is
//! absent (and does not error), so a planned create of the first blocks the plan.

use drill_core::plan::{Identity, Probe};
use drill_engine::plan_probe::find_existing;
use drill_tests::{aws_config, unique};

fn probe(address: &str, identity: Identity) -> Probe {
    Probe {
        address: address.into(),
        resource_type: address.split('.').next().unwrap().into(),
        identity,
        region: None,
    }
}

#[tokio::test]
async fn efs_backup_vault_and_kms_alias_probes_find_what_exists_and_only_that() {
    let config = aws_config().await;
    let name = unique("probe-");
    let token = format!("{name}-fs");
    let fs = aws_sdk_efs::Client::new(&config)
        .create_file_system()
        .creation_token(&token)
        .send()
        .await
        .unwrap();
    let vault = format!("{name}-vault");
    aws_sdk_backup::Client::new(&config)
        .create_backup_vault()
        .backup_vault_name(&vault)
        .send()
        .await
        .unwrap();
    let kms = aws_sdk_kms::Client::new(&config);
    let key = kms.create_key().send().await.unwrap();
    let alias = format!("alias/{name}");
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(key.key_metadata().unwrap().key_id())
        .send()
        .await
        .unwrap();

    let probes = vec![
        probe(
            "aws_efs_file_system.data",
            Identity::EfsFileSystem(token.clone()),
        ),
        probe(
            "aws_efs_file_system.new",
            Identity::EfsFileSystem(format!("{name}-absent")),
        ),
        probe("aws_backup_vault.v", Identity::BackupVault(vault.clone())),
        probe(
            "aws_backup_vault.new",
            Identity::BackupVault(format!("{name}-absent")),
        ),
        probe("aws_kms_alias.a", Identity::KmsAlias(alias.clone())),
        probe(
            "aws_kms_alias.new",
            Identity::KmsAlias(format!("alias/{name}-absent")),
        ),
    ];
    let found = find_existing(&config, &probes).await.unwrap();
    let addresses: Vec<&str> = found.iter().map(|e| e.address.as_str()).collect();
    assert_eq!(
        addresses,
        vec![
            "aws_efs_file_system.data",
            "aws_backup_vault.v",
            "aws_kms_alias.a"
        ],
        "{found:#?}"
    );
    assert!(
        found[0].evidence.contains(fs.file_system_id()),
        "the evidence names the file system: {}",
        found[0].evidence
    );
    assert_eq!(found[1].evidence, "DescribeBackupVault found");
    assert_eq!(found[2].evidence, "ListAliases found");
}

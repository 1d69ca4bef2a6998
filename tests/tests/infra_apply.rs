//! The whole Terraform deployment against moto: bootstrap (state bucket), the main stack with the
//! S3 backend and its lockfile, IAM guard conditions on the rendered policies, and destroy — which
//! must not reach the backup bucket.

use std::path::Path;

use drill_tests::infra::{
    asl_validate, moto_backend_config, terraform, terraform_ok, workdir,
    write_moto_provider_override,
};
use drill_tests::infra_state::{
    allows, as_list, assert_every_granted_service_has_a_route, assert_guarded_policies,
    assert_key_policy_protects_the_key, default_network, fixture, resources_of,
};
use drill_tests::{aws_config, s3, unique};
use serde_json::{json, Value};

#[tokio::test]
async fn main_stack_plans_applies_and_destroys_against_moto_without_reaching_backups() {
    let config = aws_config().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let s3c = s3(&config);
    let dir = workdir();
    let infra = dir.path().join("infra");
    let name = unique("rd-");

    // --- bootstrap: the state bucket, local state.
    let boot = infra.join("bootstrap");
    write_moto_provider_override(&boot);
    let state_bucket = format!("{name}-tfstate");
    terraform_ok(&boot, &["init", "-input=false", "-no-color"]);
    terraform_ok(
        &boot,
        &[
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            &format!("-var=state_bucket_name={state_bucket}"),
        ],
    );
    // (moto answers GetBucketVersioning with a body the Rust SDK rejects: read Terraform's state.)
    let boot_state: Value =
        serde_json::from_str(&terraform_ok(&boot, &["show", "-json", "-no-color"])).unwrap();
    let versioning = boot_state["values"]["root_module"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "aws_s3_bucket_versioning.state")
        .expect("versioning resource");
    assert_eq!(
        versioning["values"]["versioning_configuration"][0]["status"],
        "Enabled"
    );
    assert!(s3c.head_bucket().bucket(&state_bucket).send().await.is_ok());
    let (ok, out) = terraform(
        &boot,
        &[
            "destroy",
            "-auto-approve",
            "-no-color",
            &format!("-var=state_bucket_name={state_bucket}"),
        ],
    );
    assert!(
        !ok && out.contains("prevent_destroy"),
        "state bucket must refuse destroy: {out}"
    );

    // --- the production database exists outside this stack; the drill only reads it.
    let prod = format!("{name}-prod");
    rds.create_db_instance()
        .db_instance_identifier(&prod)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("not-a-real-secret")
        .deletion_protection(true)
        .send()
        .await
        .unwrap();
    // A second source whose snapshots are encrypted with its own customer managed key, without
    // snapshot_copy: the restore still needs a grant on that key.
    let prod_enc = format!("{name}-prod-enc");
    let source_key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";
    rds.create_db_instance()
        .db_instance_identifier(&prod_enc)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("not-a-real-secret")
        .send()
        .await
        .unwrap();
    let break_glass = "arn:aws:iam::123456789012:role/break-glass";
    let aurora = format!("{name}-aurora");
    // Long identifiers (63 characters, RDS's maximum) make the longest ARNs.
    let fleet: Vec<String> = (1..=6)
        .map(|i| format!("{name}-fleet-{i}-{}", "x".repeat(63 - name.len() - 9)))
        .collect();
    assert!(fleet.iter().all(|f| f.len() == 63), "{fleet:?}");

    // --- main stack.
    write_moto_provider_override(&infra);
    std::fs::write(
        infra.join("backend.hcl"),
        moto_backend_config(&state_bucket),
    )
    .unwrap();
    let zips = dir.path().join("lambda");
    std::fs::create_dir_all(&zips).unwrap();
    for f in ["restore", "validate", "export", "delete-temp"] {
        std::fs::write(zips.join(format!("{f}.zip")), drill_tests::empty_zip()).unwrap();
    }
    let (vpc, subnets) = default_network();
    let tfvars = json!({
        "name": name,
        "vpc_id": vpc,
        "subnet_ids": subnets,
        "lambda_zip_dir": zips,
        "sources": [{"id": "prod-app", "kind": "rds-snapshot", "instance_identifier": prod, "database": "app",
                     "snapshot_copy": {"region": "eu-west-1", "share_with": ["210987654321"]}},
                    {"id": "prod-enc", "kind": "rds-snapshot", "instance_identifier": prod_enc, "database": "app",
                     "kms_key_arn": source_key, "parameter_group": "prod-enc-drill",
                     "restore": {"mode": "point-in-time", "moment": "random", "seed": 42}},
                    // An Aurora source: renders infra/iam_aurora.tf (read by no data source).
                    {"id": "prod-aurora", "kind": "aurora-cluster", "cluster_identifier": aurora, "database": "app",
                     "restore": {"mode": "point-in-time", "moment": "latest"},
                     "snapshot_copy": {"region": "eu-west-1", "share_with": ["210987654321"]}},
                    // Enough sources for the restore role's source grants to need three managed
                    // policies (infra/iam_sources.tf): one role policy of them all would be
                    // over IAM's 10,240 characters (the moto fix fix_iam_policy_size_quotas).
                    {"id": "fleet-1", "kind": "aurora-cluster", "cluster_identifier": fleet[0], "database": "app",
                     "snapshot_copy": {"region": "eu-west-1"}},
                    {"id": "fleet-2", "kind": "aurora-cluster", "cluster_identifier": fleet[1], "database": "app"},
                    {"id": "fleet-3", "kind": "aurora-cluster", "cluster_identifier": fleet[2], "database": "app",
                     "snapshot_copy": {"region": "eu-west-1"}},
                    {"id": "fleet-4", "kind": "aurora-cluster", "cluster_identifier": fleet[3], "database": "app"},
                    {"id": "fleet-5", "kind": "aurora-cluster", "cluster_identifier": fleet[4], "database": "app",
                     "snapshot_copy": {"region": "eu-west-1"}},
                    {"id": "fleet-6", "kind": "aurora-cluster", "cluster_identifier": fleet[5], "database": "app"}],
        "alert_emails": ["oncall@example.com"],
        // The copy to eu-west-1 calls that region's RDS API: reachable (a peered VPC, say).
        "rds_reachable_regions": ["eu-west-1"],
        "kms_break_glass_principal_arn": break_glass,
        "snapshot_copy_accounts": ["210987654321"],
        "snapshot_copy_regions": ["eu-west-1"],
    });
    std::fs::write(infra.join("test.auto.tfvars.json"), tfvars.to_string()).unwrap();
    terraform_ok(
        &infra,
        &[
            "init",
            "-input=false",
            "-no-color",
            "-backend-config=backend.hcl",
        ],
    );
    terraform_ok(
        &infra,
        &["plan", "-input=false", "-no-color", "-out=plan.bin"],
    );
    terraform_ok(&infra, &["apply", "-input=false", "-no-color", "plan.bin"]);

    // Remote state with its lock file lives in the state bucket.
    let keys: Vec<String> = s3c
        .list_objects_v2()
        .bucket(&state_bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert!(
        keys.contains(&"restore-drill/terraform.tfstate".to_owned()),
        "{keys:?}"
    );

    let state: Value =
        serde_json::from_str(&terraform_ok(&infra, &["show", "-json", "-no-color"])).unwrap();
    assert_guarded_policies(&state, "rdrill-");
    let mut clusters = vec![aurora.clone()];
    clusters.extend(fleet.iter().cloned());
    drill_tests::infra_aurora::assert_aurora_policies(&state, "rdrill-", &clusters);
    // Every role fits IAM's quotas, and the sources' grants are spread over managed policies,
    // each linted clean, together naming every source.
    for key in ["restore", "validate", "export", "delete-temp"] {
        drill_tests::infra_state::assert_within_iam_quotas(&state, key);
    }
    let sourced = resources_of(&state, "aws_iam_policy")
        .into_iter()
        .filter(|p| {
            p["address"]
                .as_str()
                .unwrap()
                .starts_with("aws_iam_policy.restore_sources")
        })
        .collect::<Vec<_>>();
    assert_eq!(sourced.len(), 3, "9 sources, 4 a policy");
    let all: String = sourced
        .iter()
        .map(|p| p["values"]["policy"].as_str().unwrap().to_owned())
        .collect();
    for id in [&prod, &prod_enc, &aurora].into_iter().chain(fleet.iter()) {
        assert!(all.contains(id.as_str()), "{id} named by no source policy");
    }
    for p in &sourced {
        let findings = drill_tests::infra::parliament(p["values"]["policy"].as_str().unwrap());
        assert!(findings.is_empty(), "{}: {findings:#?}", p["address"]);
    }
    // The sandbox function: its restore grant names each instance source's snapshots, from
    // managed policies too, only into sandboxes carrying the sandbox tag.
    for key in ["sandbox", "sandbox-delete"] {
        drill_tests::infra_state::assert_role_within_iam_quotas(
            &state,
            &format!("aws_iam_role.sandbox[\"{key}\"]"),
        );
    }
    let sandbox: Vec<Value> =
        drill_tests::infra_state::role_documents_of(&state, "aws_iam_role.sandbox[\"sandbox\"]")
            .iter()
            .flat_map(|(_, d)| {
                serde_json::from_str::<Value>(d).unwrap()["Statement"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .collect();
    let restores = allows(&sandbox, "rds:RestoreDBInstanceFromDBSnapshot");
    assert_eq!(restores.len(), 1, "{restores:#?}");
    let named = as_list(&restores[0]["Resource"]).join(" ");
    for id in [&prod, &prod_enc] {
        assert!(named.contains(&format!(":snapshot:rds:{id}-")), "{named}");
    }
    assert_eq!(
        restores[0]["Condition"]["StringEquals"]["aws:RequestTag/drill:role"],
        json!("sandbox")
    );
    for p in resources_of(&state, "aws_iam_policy")
        .into_iter()
        .filter(|p| {
            p["address"]
                .as_str()
                .unwrap()
                .starts_with("aws_iam_policy.sandbox_sources")
        })
    {
        let findings = drill_tests::infra::parliament(p["values"]["policy"].as_str().unwrap());
        assert!(findings.is_empty(), "{}: {findings:#?}", p["address"]);
    }
    assert_every_granted_service_has_a_route(&state);
    assert_key_policy_protects_the_key(&state, break_glass);
    // Every source's own key, not only those with snapshot_copy.
    let restore_policy = drill_tests::infra_state::role_statements(&state, "restore");
    let grants = allows(&restore_policy, "kms:CreateGrant");
    assert!(
        grants
            .iter()
            .any(|g| as_list(&g["Resource"]).contains(&source_key.to_owned())),
        "no CreateGrant on the source key: {grants:?}"
    );
    let describes = allows(&restore_policy, "kms:DescribeKey");
    assert!(
        describes
            .iter()
            .any(|g| as_list(&g["Resource"]).contains(&source_key.to_owned())),
        "no DescribeKey on the source key: {describes:?}"
    );
    // A production key's grants only ever go to an AWS service (RDS), never to a principal the
    // function names.
    for g in grants
        .iter()
        .filter(|g| as_list(&g["Resource"]).contains(&source_key.to_owned()))
    {
        assert_eq!(
            g["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
            json!("true"),
            "{g:#}"
        );
    }
    for f in resources_of(&state, "aws_lambda_function") {
        // -1: unreserved. New accounts cannot reserve any concurrency.
        assert_eq!(
            f["values"]["reserved_concurrent_executions"],
            json!(-1),
            "{}",
            f["address"]
        );
    }
    let resource = |address: &str| -> Value {
        state["values"]["root_module"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .unwrap_or_else(|| panic!("{address} not in state"))["values"]
            .clone()
    };
    // The export runs the pg_dump its own zip ships (scripts/pg-binaries package): no layer.
    let export_fn = resource("aws_lambda_function.function[\"export\"]");
    assert_eq!(
        export_fn["environment"][0]["variables"]["DRILL_PG_DUMP"],
        "/var/task/pg_dump/bin/pg_dump"
    );
    assert!(
        export_fn["layers"].as_array().is_none_or(|l| l.is_empty()),
        "{}",
        export_fn["layers"]
    );
    // Nightly at 03:00 UTC, started by EventBridge Scheduler with its own role; its input names
    // no source (all run) and carries no configuration.
    let schedule = resource("aws_scheduler_schedule.nightly");
    assert_eq!(schedule["schedule_expression"], "cron(0 3 * * ? *)");
    assert_eq!(schedule["state"], "ENABLED");
    let target = &schedule["target"][0];
    assert!(target["role_arn"].as_str().unwrap().contains(":role/"));
    assert_eq!(target["input"], "{}");
    // Every source's settings are in the deployment configuration the functions read.
    let config_object = resource("aws_s3_object.drill_config");
    let deployment = drill_core::deployment::DeploymentConfig::from_json(
        config_object["content"].as_str().unwrap().as_bytes(),
    )
    .unwrap();
    assert_eq!(deployment.object_lock_days, 35);
    assert_eq!(deployment.copy_accounts, ["210987654321"]);
    let source = deployment.source("prod-app").unwrap();
    let copy = source.snapshot_copy.clone().unwrap();
    assert_eq!(copy.region.as_deref(), Some("eu-west-1"));
    assert_eq!((copy.retention_days, copy.keep_newest), (7, 2));
    assert!(
        matches!(&source.source, drill_core::events::SourceSpec::RdsSnapshot { instance_identifier, .. } if instance_identifier == &prod)
    );
    // The Aurora source reaches the configuration with its kind and mode.
    let aurora_source = deployment.source("prod-aurora").unwrap();
    assert!(
        matches!(&aurora_source.source, drill_core::events::SourceSpec::AuroraCluster { cluster_identifier, .. } if cluster_identifier == &aurora)
    );
    assert!(!aurora_source.restore.is_snapshot());
    assert_eq!(
        aurora_source
            .snapshot_copy
            .as_ref()
            .and_then(|c| c.region.as_deref()),
        Some("eu-west-1")
    );
    // A point-in-time source's mode reaches the configuration; a snapshot source has none.
    assert!(source.restore.is_snapshot());
    assert_eq!(
        deployment.source("prod-enc").unwrap().restore,
        drill_core::point_in_time::RestoreMode::PointInTime {
            moment: drill_core::point_in_time::Moment::Random,
            seed: Some(42),
            replicated_from: None
        }
    );
    // The state machine logs errors without execution data (checks, query values).
    let sm = resource("aws_sfn_state_machine.drill");
    assert_eq!(
        sm["logging_configuration"][0]["include_execution_data"],
        false
    );
    // The bucket: overwrites and weaker or shorter retention denied under backups/; noncurrent
    // versions kept at least as long as the lock.
    let policy: Value = serde_json::from_str(
        resource("aws_s3_bucket_policy.backups")["policy"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let sid = |id: &str| -> Value {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == id)
            .unwrap_or_else(|| panic!("no statement {id}: {policy:#}"))
            .clone()
    };
    let overwrite = sid("DenyOverwritingBackups");
    assert_eq!(overwrite["Effect"], "Deny");
    assert_eq!(overwrite["Condition"]["Null"]["s3:if-none-match"], "true");
    assert_eq!(
        as_list(&overwrite["Condition"]["StringNotEquals"]["s3:ObjectCreationOperation"]),
        ["CreateMultipartUpload", "UploadPart", "UploadPartCopy"]
    );
    assert_eq!(
        sid("DenyWeakerRetention")["Condition"]["StringNotEqualsIfExists"]["s3:object-lock-mode"],
        "COMPLIANCE"
    );
    assert_eq!(
        sid("DenyShorterRetention")["Condition"]["NumericLessThanIfExists"]
            ["s3:object-lock-remaining-retention-days"],
        "35"
    );
    let lifecycle = resource("aws_s3_bucket_lifecycle_configuration.backups");
    let backups_rule = lifecycle["rule"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "age-out-backups")
        .unwrap()
        .clone();
    assert!(
        backups_rule["noncurrent_version_expiration"][0]["noncurrent_days"]
            .as_u64()
            .unwrap()
            >= 35
    );
    // The janitor runs on its own schedule, straight into delete-temp.
    let janitor = resource("aws_cloudwatch_event_target.janitor");
    assert_eq!(janitor["input"], json!(r#"{"action":"janitor"}"#));
    assert!(janitor["arn"].as_str().unwrap().ends_with("-delete-temp"));
    assert_eq!(
        resource("aws_cloudwatch_event_rule.janitor")["schedule_expression"],
        "rate(1 hour)"
    );
    // The alarm that notices a drill that silently stopped running.
    let stale = resource("aws_cloudwatch_metric_alarm.no_recent_success");
    assert_eq!(stale["treat_missing_data"], "breaching");
    assert_eq!(
        stale["period"].as_u64().unwrap() * stale["evaluation_periods"].as_u64().unwrap(),
        26 * 3600
    );
    assert_eq!(stale["namespace"], drill_core::run_report::METRIC_NAMESPACE);

    // What moto now holds.
    let outputs: Value =
        serde_json::from_str(&terraform_ok(&infra, &["output", "-json", "-no-color"])).unwrap();
    let sm_arn = outputs["state_machine_arn"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let bucket = outputs["backup_bucket"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let sfn = aws_sdk_sfn::Client::new(&config);
    let sm = sfn
        .describe_state_machine()
        .state_machine_arn(&sm_arn)
        .send()
        .await
        .unwrap();
    let (ok, out) = asl_validate(sm.definition());
    assert!(ok, "deployed definition: {out}");
    assert!(
        !sm.definition().contains("${"),
        "unrendered placeholder left"
    );
    let lock = s3c
        .get_object_lock_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let lock = lock.object_lock_configuration().unwrap();
    assert_eq!(
        lock.object_lock_enabled().map(|e| e.as_str()),
        Some("Enabled")
    );
    let retention = lock.rule().unwrap().default_retention().unwrap();
    assert_eq!(retention.mode().map(|m| m.as_str()), Some("COMPLIANCE"));
    assert_eq!(retention.days(), Some(35));
    let lambda = aws_sdk_lambda::Client::new(&config);
    let f = lambda
        .get_function_configuration()
        .function_name(format!("{name}-delete-temp"))
        .send()
        .await
        .unwrap();
    assert_eq!(f.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    let env = f.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("DRILL_PREFIX").map(String::as_str), Some("rdrill-"));
    assert_eq!(
        env.get("DRILL_SOURCES"),
        Some(&format!("{prod},{prod_enc},{aurora},{}", fleet.join(",")))
    );
    let restore_fn = lambda
        .get_function_configuration()
        .function_name(format!("{name}-restore"))
        .send()
        .await
        .unwrap();
    let renv = restore_fn.environment().unwrap().variables().unwrap();
    assert_eq!(
        renv.get("DRILL_INSTANCE_CLASS").map(String::as_str),
        Some("db.t4g.medium,db.t3.medium,db.m6g.large")
    );
    let drill_key = outputs["kms_key_arn"]["value"].as_str().unwrap().to_owned();
    assert_eq!(renv.get("DRILL_SECRET_KMS_KEY_ID"), Some(&drill_key));
    let nightly: Value =
        serde_json::from_str(outputs["nightly_input"]["value"].as_str().unwrap()).unwrap();
    assert_eq!(nightly, json!({}));
    assert_eq!(
        env.get("DRILL_CONFIG_URL").map(String::as_str),
        Some(format!("s3://{bucket}/config/drill.json").as_str())
    );
    // The source's parameter group reaches the restore through the deployment configuration.
    let config_object = resource("aws_s3_object.drill_config");
    let deployment = drill_core::deployment::DeploymentConfig::from_json(
        config_object["content"].as_str().unwrap().as_bytes(),
    )
    .unwrap();
    assert!(matches!(
        &deployment.source("prod-enc").unwrap().source,
        drill_core::events::SourceSpec::RdsSnapshot { parameter_group: Some(g), .. } if g == "prod-enc-drill"
    ));

    // A backup written under Object Lock.
    s3c.put_object()
        .bucket(&bucket)
        .key("backups/prod-app/set-1/manifest.json")
        .body(bytes::Bytes::from_static(b"{}").into())
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();

    // --- destroy: refused while the backup bucket is in state (prevent_destroy) ...
    let (ok, out) = terraform(&infra, &["destroy", "-auto-approve", "-no-color"]);
    assert!(!ok && out.contains("prevent_destroy"), "{out}");
    // ... and still refused with only the bucket handed out: the key that encrypts the locked
    // backups must not be deleted either ...
    let bucket_resources = [
        "aws_s3_bucket.backups",
        "aws_s3_bucket_versioning.backups",
        "aws_s3_bucket_object_lock_configuration.backups",
        "aws_s3_bucket_server_side_encryption_configuration.backups",
        "aws_s3_bucket_public_access_block.backups",
        "aws_s3_bucket_lifecycle_configuration.backups",
        "aws_s3_bucket_policy.backups",
        // Its versions are locked like the backups: an immutable history of the configuration.
        "aws_s3_object.drill_config",
    ];
    for addr in bucket_resources {
        terraform_ok(&infra, &["state", "rm", "-no-color", addr]);
    }
    let (ok, out) = terraform(&infra, &["destroy", "-auto-approve", "-no-color"]);
    assert!(
        !ok && out.contains("prevent_destroy") && out.contains("aws_kms_key.drill"),
        "{out}"
    );
    // ... and, as the README documents, done by handing the key out of Terraform's care too.
    for addr in ["aws_kms_key.drill", "aws_kms_alias.drill"] {
        terraform_ok(&infra, &["state", "rm", "-no-color", addr]);
    }
    terraform_ok(&infra, &["destroy", "-auto-approve", "-no-color"]);
    // The key outlives the stack, enabled, with the bucket it encrypts.
    let key = fixture(&["describe-key", &drill_key]);
    assert_eq!(key["state"], "Enabled", "{key}");
    assert!(s3c.head_bucket().bucket(&bucket).send().await.is_ok());
    assert!(sfn
        .describe_state_machine()
        .state_machine_arn(&sm_arn)
        .send()
        .await
        .is_err());
    // The backups and the production database outlive the drill stack.
    let kept = s3c
        .get_object()
        .bucket(&bucket)
        .key("backups/prod-app/set-1/manifest.json")
        .send()
        .await;
    assert!(kept.is_ok(), "backup object must survive destroy");
    let p = rds
        .describe_db_instances()
        .db_instance_identifier(&prod)
        .send()
        .await
        .unwrap();
    assert_eq!(p.db_instances().len(), 1);
    let _ = Path::new(&bucket);
}

//! Helpers of the AWS sandbox tests (`sandbox_aws`, `sandbox_aws_diff`): IAM users with their
//! own keys, their bound caller proofs, the sandbox function's settings, and a source whose
//! newest drill run passed.

use chrono::{Duration, Utc};
use drill_core::sandbox::{self, CallerProof};
use drill_engine::sandbox::identity::sign_caller_proof;
use drill_engine::sandbox::remote::Reach;
use drill_engine::sandbox::SandboxSettings;
use serde_json::{json, Value};

use crate::{aws_config, moto_url, unique};

/// A new IAM user with its own access key, and an SDK config acting as that user.
pub async fn iam_user(name: &str) -> (String, aws_config::SdkConfig) {
    let iam = aws_sdk_iam::Client::new(&aws_config().await);
    let user = iam.create_user().user_name(name).send().await.unwrap();
    let arn = user.user().unwrap().arn().to_owned();
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let creds = aws_sdk_iam::config::Credentials::new(
        key.access_key_id(),
        key.secret_access_key(),
        None,
        None,
        "iam-user",
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .endpoint_url(moto_url())
        .credentials_provider(creds)
        .load()
        .await;
    (arn, config)
}

/// The user's proof, bound to `action` on `subject` (what the CLI signs for that request).
pub async fn proof(user: &aws_config::SdkConfig, action: &str, subject: &str) -> Value {
    let binding = sandbox::binding(action, subject);
    let p: CallerProof = sign_caller_proof(user, &moto_url(), "us-east-1", &binding)
        .await
        .unwrap();
    serde_json::to_value(p).unwrap()
}

/// The sandbox function's settings: moto's STS, run reports under `reports`.
pub fn sandbox_settings(reports: &std::path::Path) -> SandboxSettings {
    SandboxSettings {
        prefix: "rsbx-".into(),
        max_ttl_hours: 8,
        sts_endpoint: moto_url(),
        sts_region: "us-east-1".into(),
        reports_url: Some(format!("file://{}", reports.display())),
        only: true,
        diff_reports_url: None,
        diff_budget: std::time::Duration::from_secs(60),
        reach: Reach::default(),
        secret_prefix: Some("restore-drill/sandbox/".into()),
    }
}

/// A source instance in moto (with its automated snapshot), configured in the deployment with
/// `database`, and a passed drill run of that snapshot in the report store (and a newer failed
/// one); returns (source, snapshot id).
pub async fn validated_source(
    client: &aws_sdk_rds::Client,
    reports: &std::path::Path,
    database: &str,
) -> (String, String) {
    let source = unique("src-");
    crate::rds::create_instance(client, &source, true, vec![]).await;
    let snapshot = crate::rds::snapshot_ids(client, &source).await.remove(0);
    crate::deployment::configure_source(
        &source,
        json!({"kind": "rds-snapshot", "instance_identifier": source, "database": database}),
        None,
        None,
    );
    let runs = reports.join(&source).join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let now = Utc::now();
    let run = |passed: bool, id: &str, taken: chrono::DateTime<Utc>| {
        json!({
            "format_version": 1, "source_id": source, "drill_id": unique("d-"), "started_at": taken,
            "finished_at": taken, "passed": passed, "failed_step": null, "failure": null,
            "cleanup_failure": null, "snapshot_copy": null, "snapshot_copy_failure": null,
            "backup": {"kind": "rds-snapshot", "id": id, "taken_at": taken},
            "temp": null, "validation": {"passed": passed}, "export": null, "cleanup": null,
            "rto_seconds": null, "rpo_seconds": null, "rows": null, "backup_bytes": null
        })
    };
    // The newest run failed: its backup must not be the one a sandbox is made from.
    for (name, r) in [
        ("a.json", run(true, &snapshot, now - Duration::hours(2))),
        ("b.json", run(false, "rds:not-validated", now)),
    ] {
        std::fs::write(runs.join(name), serde_json::to_vec(&r).unwrap()).unwrap();
    }
    (source, snapshot)
}

/// A backup-set source (configured in this process's deployment file) whose store, in a new
/// bucket, holds one exported set of the e2e database, restored on the local server (its admin
/// secret in Secrets Manager), and a passed drill run of that set under `reports` (a newer failed
/// one names a set never validated); returns (source, bucket).
pub async fn validated_backup_set(reports: &std::path::Path) -> (String, String) {
    use drill_engine::dump::{self, ExportOptions};
    use drill_engine::pg::Database;
    use drill_engine::store::Store;
    let config = aws_config().await;
    let bucket = unique("sbxdb-");
    crate::s3(&config)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let source = unique("set-");
    let store_url = format!("s3://{bucket}/backups/{source}");
    let store = Store::open(&store_url, Some(&drill_engine::aws::s3_client(&config))).unwrap();
    let db = crate::e2e::source_db().await;
    let set = dump::export(
        &Database::from_url(&db.url).unwrap(),
        &store,
        &ExportOptions::default(),
    )
    .await
    .unwrap()
    .set_url;
    let server = crate::restore_server(&config, &bucket).await;
    crate::deployment::configure_source(
        &source,
        json!({"kind": "backup-set", "store": store_url, "server": server}),
        None,
        None,
    );
    let runs = reports.join(&source).join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let now = Utc::now();
    let run = |passed: bool, id: &str| {
        json!({
            "format_version": 1, "source_id": source, "drill_id": unique("d-"), "started_at": now,
            "finished_at": now, "passed": passed, "failed_step": null, "failure": null,
            "cleanup_failure": null, "snapshot_copy": null, "snapshot_copy_failure": null,
            "backup": {"kind": "backup-set", "id": id,
                       "taken_at": if passed { now - Duration::hours(2) } else { now }},
            "temp": null, "validation": {"passed": passed}, "export": null, "cleanup": null,
            "rto_seconds": null, "rpo_seconds": null, "rows": null, "backup_bytes": null
        })
    };
    let never = format!("{store_url}/never-validated");
    for (name, r) in [
        ("a.json", run(true, set.trim_end_matches('/'))),
        ("b.json", run(false, &never)),
    ] {
        std::fs::write(runs.join(name), serde_json::to_vec(&r).unwrap()).unwrap();
    }
    (source, bucket)
}

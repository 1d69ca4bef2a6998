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

//! `sandbox_diff` of an AWS sandbox, through the sandbox function's handler (moto for AWS, a
//! local PostgreSQL database standing for the sandbox instance's: moto's endpoints are not
//! servers, so the function is pointed at 127.0.0.1 by `DRILL_SANDBOX_PG_OVERRIDE`). `connect`
//! makes the base copy before it hands out the secret; after the "clean up old test data"
//! statement without its WHERE the diff is destructive and names the table; with no change it
//! is "no change"; another user's sandbox is refused and gets no report.

use drill_core::diff::{TableChange, Verdict};
use drill_core::sandbox::SandboxInfo;
use drill_core::sandbox_diff::SandboxDiffOutcome;
use drill_engine::lambda::HandlerError;
use drill_engine::sandbox::remote::Reach;
use drill_engine::sandbox::SandboxSettings;
use drill_tests::rds::*;
use drill_tests::sandbox::{iam_user, proof, sandbox_settings, validated_source};
use drill_tests::{aws_config, connect, pg_url, s3, unique};
use serde_json::{json, Value};

async fn call(
    deps: &restore::Deps,
    settings: &SandboxSettings,
    event: Value,
) -> Result<Value, HandlerError> {
    restore::sandbox::dispatch(deps, settings, event, chrono::Utc::now()).await
}

async fn diff(
    deps: &restore::Deps,
    settings: &SandboxSettings,
    user: &aws_config::SdkConfig,
    id: &str,
) -> Result<SandboxDiffOutcome, HandlerError> {
    let event = json!({"action": "sandbox_diff", "identifier": id,
        "caller": proof(user, "sandbox_diff", id).await});
    call(deps, settings, event)
        .await
        .map(|v| serde_json::from_value(v).unwrap())
}

async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_aws_sandbox_diff_runs_in_the_deployment_and_exits_by_what_the_change_did() {
    let client = rds().await;
    let net = network(&client).await;
    let config = aws_config().await;
    let reports = tempfile::tempdir().unwrap();
    // The sandbox instance's database: students (500 rows), submissions (3000 rows).
    let db = drill_tests::e2e::source_db().await;
    let (source, _) = validated_source(&client, reports.path(), &db.name).await;
    let bucket = unique("sbx-diffs-");
    let s3 = s3(&config);
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let url = url::Url::parse(&pg_url()).unwrap();
    let mut settings = sandbox_settings(reports.path());
    settings.diff_reports_url = Some(format!("s3://{bucket}/sandboxes"));
    settings.reach = Reach {
        pg_override: Some(drill_core::pg_override::PgOverride {
            port: url.port().unwrap(),
        }),
        allow_plaintext: true,
    };
    let deps = restore_deps(settings_for(&net), config.clone());
    let (_, alice) = iam_user(&unique("alice-")).await;
    let (_, bob) = iam_user(&unique("bob-")).await;

    let event = json!({"action": "sandbox_create", "source_id": source,
        "caller": proof(&alice, "sandbox_create", &source).await});
    let made: SandboxInfo =
        serde_json::from_value(call(&deps, &settings, event).await.unwrap()).unwrap();
    let id = made.identifier.clone();

    // No secret yet: no base, and the diff says what to do instead of a verdict.
    let err = diff(&deps, &settings, &alice, &id).await.unwrap_err();
    assert_eq!(err.error_type(), "Drill.CouldNotRun", "{err}");
    assert!(err.message.contains("connect"), "{err}");

    // RDS makes the managed master secret; here it holds the local server's credentials.
    client
        .modify_db_instance()
        .db_instance_identifier(&id)
        .manage_master_user_password(true)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let described = drill_engine::rds::describe_instance(&client, &id)
        .await
        .unwrap()
        .unwrap();
    let secret = described
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .expect("moto made the managed secret")
        .to_owned();
    aws_sdk_secretsmanager::Client::new(&config)
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(
            json!({"username": url.username(), "password": url.password().unwrap()}).to_string(),
        )
        .send()
        .await
        .unwrap();

    // Bob cannot diff (nor be handed) alice's sandbox; nothing is written for him.
    let err = diff(&deps, &settings, &bob, &id).await.unwrap_err();
    assert_eq!(err.error_type(), "Drill.GuardViolation", "{err}");
    assert!(err.message.contains("guard owner"), "{err}");

    // connect hands out the secret once the base copy is made on the same server.
    let event = json!({"action": "sandbox_connect", "identifier": id,
        "caller": proof(&alice, "sandbox_connect", &id).await});
    let info: SandboxInfo =
        serde_json::from_value(call(&deps, &settings, event).await.unwrap()).unwrap();
    assert_eq!(info.secret_arn.as_deref(), Some(secret.as_str()));
    let base = format!("{}_base", db.name);
    let admin = connect(&pg_url()).await;
    let comment: Option<String> = admin
        .query_one(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&base],
        )
        .await
        .expect("the base copy exists")
        .get(0);
    assert_eq!(
        comment.as_deref(),
        Some(format!("restore-drill sandbox base of {id}").as_str())
    );
    assert!(keys(&s3, &bucket).await.is_empty(), "a refused diff wrote");

    let unchanged = diff(&deps, &settings, &alice, &id).await.unwrap();
    assert_eq!(unchanged.report.verdict, Verdict::NoChange, "{unchanged:?}");
    assert_eq!(unchanged.report.verdict.exit_code(), 0);
    assert_eq!(unchanged.report.tables.len(), 2, "{unchanged:?}");

    // "Clean up old test data" without its WHERE.
    connect(&db.url)
        .await
        .batch_execute("DELETE FROM submissions")
        .await
        .unwrap();
    let out = diff(&deps, &settings, &alice, &id).await.unwrap();
    assert_eq!(out.report.verdict, Verdict::Destructive, "{out:?}");
    assert_eq!(out.report.verdict.exit_code(), 11);
    let submissions = out
        .report
        .tables
        .iter()
        .find(|t| t.name == "submissions")
        .expect("the emptied table is named");
    assert_eq!(submissions.rows.deleted, 3000, "{submissions:?}");
    assert_ne!(submissions.change, TableChange::Unchanged);
    assert!(
        out.report
            .findings
            .iter()
            .any(|f| f.contains("submissions")),
        "{:?}",
        out.report.findings
    );
    // Each report is kept under the sandbox's own key in the reports prefix.
    let written = keys(&s3, &bucket).await;
    assert_eq!(written.len(), 2, "{written:?}");
    assert!(
        written
            .iter()
            .all(|k| k.starts_with(&format!("sandboxes/{id}/diff-"))),
        "{written:?}"
    );
    let key = out
        .report_url
        .strip_prefix(&format!("s3://{bucket}/"))
        .unwrap();
    let body = s3
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let kept: drill_core::diff::DiffReport =
        serde_json::from_slice(&body.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(kept.verdict, Verdict::Destructive);

    admin
        .batch_execute(&format!("DROP DATABASE \"{base}\""))
        .await
        .unwrap();
}

fn settings_for(net: &Network) -> drill_engine::rds::RdsSettings {
    settings(Some(net))
}

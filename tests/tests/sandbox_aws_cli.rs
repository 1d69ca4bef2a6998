//! `drill aws sandbox` as a person runs it: the `drill` binary, with an IAM user's own keys,
//! against sandbox functions deployed in moto (the stack's Lambda host runs our handlers with the
//! functions' configured environment), on a backup-set source whose sandbox is a database on the
//! local server. The exit codes are what a pipeline reads: 0 no change, 10 changes, 11
//! destructive; another user's sandbox is a guard refusal (4); a deleted one is gone (2).

use aws_credential_types::provider::ProvideCredentials;
use drill_tests::cli::{drill, text};
use drill_tests::sandbox::{iam_user, validated_backup_set};
use drill_tests::{aws_config, connect, moto_url, pg_url, unique};
use serde_json::{json, Value};

struct User {
    key: String,
    secret: String,
}

async fn user(name: &str) -> User {
    let (_, config) = iam_user(&unique(name)).await;
    let creds = config
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    User {
        key: creds.access_key_id().to_owned(),
        secret: creds.secret_access_key().to_owned(),
    }
}

/// `drill --json aws --outputs <file> sandbox ARGS` as `who`; (exit code, stdout, stderr).
fn sandbox(outputs: &std::path::Path, who: &User, args: &[&str]) -> (i32, String, String) {
    let out = drill()
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", &who.key)
        .env("AWS_SECRET_ACCESS_KEY", &who.secret)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("DRILL_STS_ENDPOINT", moto_url())
        .args(["--json", "aws", "--outputs"])
        .arg(outputs)
        .arg("sandbox")
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    eprintln!(
        "$ drill aws sandbox {}\n{stdout}{stderr}(exit {:?})",
        args.join(" "),
        out.status.code()
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// The two sandbox functions of infra/sandbox.tf, in moto, with the environment Terraform gives
/// them (STS, reports and the deployment configuration pointed at this test's).
async fn deploy(reports: &std::path::Path, bucket: &str) -> tempfile::NamedTempFile {
    let config = aws_config().await;
    let name = unique("sbxcli-");
    let env: std::collections::HashMap<String, String> = [
        ("DRILL_SANDBOX_ONLY", "true".to_owned()),
        ("DRILL_SANDBOX_PREFIX", "rsbx-".to_owned()),
        ("DRILL_SANDBOX_MAX_TTL_HOURS", "8".to_owned()),
        ("DRILL_SANDBOX_SECRET_PREFIX", format!("{name}/sandbox/")),
        ("DRILL_STS_REGION", "us-east-1".to_owned()),
        ("DRILL_STS_ENDPOINT", moto_url()),
        ("DRILL_REPORTS_URL", format!("file://{}", reports.display())),
        (
            "DRILL_SANDBOX_REPORTS_URL",
            format!("s3://{bucket}/sandboxes"),
        ),
        ("DRILL_CONFIG_URL", drill_tests::deployment::url()),
        // The throwaway cluster has no TLS; in AWS plaintext is refused.
        ("DRILL_ALLOW_PLAINTEXT", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for f in ["sandbox", "sandbox-delete"] {
        drill_tests::create_function(&config, &format!("{name}-{f}"), env.clone()).await;
    }
    let outputs = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        outputs.path(),
        json!({
            "sandbox_function_name": {"sensitive": false, "type": "string", "value": format!("{name}-sandbox")},
            "sandbox_delete_function_name": {"sensitive": false, "type": "string", "value": format!("{name}-sandbox-delete")},
        })
        .to_string(),
    )
    .unwrap();
    outputs
}

#[tokio::test]
async fn the_cli_exits_by_what_the_change_did_through_the_deployed_functions() {
    let reports = tempfile::tempdir().unwrap();
    let (source, bucket) = validated_backup_set(reports.path()).await;
    let outputs = deploy(reports.path(), &bucket).await;
    let out = outputs.path();
    let (alice, bob) = (user("alice-").await, user("bob-").await);

    let (code, stdout, _) = sandbox(out, &alice, &["create", "--source", &source, "--ttl", "2h"]);
    assert_eq!(code, 0);
    let made: Value = serde_json::from_str(&stdout).unwrap();
    let id = made["identifier"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rsbx-sbx-"), "{made}");

    let (code, stdout, _) = sandbox(out, &alice, &["list"]);
    assert_eq!(code, 0);
    assert!(stdout.contains(&id), "{stdout}");
    let (code, _, _) = sandbox(out, &alice, &["diff", &id]);
    assert_eq!(code, 0, "an untouched sandbox is no change");

    // The role's own credentials (what `connect` hands psql), from the sandbox's secret.
    let secret = made["secret_arn"].as_str().unwrap();
    let value = aws_sdk_secretsmanager::Client::new(&aws_config().await)
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .unwrap();
    let creds: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    let port = url::Url::parse(&pg_url()).unwrap().port().unwrap();
    let as_role = format!(
        "postgresql://{id}:{}@127.0.0.1:{port}/{id}",
        creds["password"].as_str().unwrap()
    );
    let db = connect(&as_role).await;

    // The intended cleanup: exactly the test rows (1 % of submissions) → changes.
    db.batch_execute("DELETE FROM public.submissions WHERE id <= 30")
        .await
        .unwrap();
    let (code, stdout, _) = sandbox(out, &alice, &["diff", &id]);
    assert_eq!(code, 10, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["verdict"], "changes", "{report}");

    // The same statement without its WHERE → destructive.
    db.batch_execute("DELETE FROM public.submissions")
        .await
        .unwrap();
    drop(db);
    let (code, _, _) = sandbox(out, &alice, &["diff", &id]);
    assert_eq!(code, 11);

    // Bob may neither diff nor delete alice's sandbox.
    for args in [["diff", &id], ["delete", &id]] {
        let (code, _, stderr) = sandbox(out, &bob, &args);
        assert_eq!(code, 4, "{args:?}: {stderr}");
        assert!(stderr.contains("owner"), "{stderr}");
    }

    let (code, _, _) = sandbox(out, &alice, &["delete", &id]);
    assert_eq!(code, 0);
    let (code, _, stderr) = sandbox(out, &alice, &["diff", &id]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&id), "{stderr}");
}

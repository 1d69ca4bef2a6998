//! `drill aws run|status|history` against moto's executor of the real state machine definition,
//! every Lambda invocation served by our real handlers (lambda-host), reports in moto's S3.

use drill_tests::cli as demo_common;

use demo_common::{drill, text};
use drill_engine::dump::{self, Database, ExportOptions};
use drill_engine::store::Store;
use drill_tests::infra::{render_asl, sample_template_vars};
use drill_tests::{aws_config, connect, lambda_role, moto_url, s3, unique, TestDb};
use serde_json::{json, Value};

const PREFIX: &str = "rdrill-";

struct Deployed {
    config: aws_config::SdkConfig,
    bucket: String,
    state_machine: String,
    outputs: tempfile::NamedTempFile,
}

/// Bucket, secret, topic, four functions and the state machine; `terraform output -json`-shaped
/// outputs in a file, as an operator would save them.
async fn deploy() -> Deployed {
    let config = aws_config().await;
    let name = unique("op-");
    let bucket = format!("{name}-backups");
    let s3c = s3(&config);
    s3c.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let server = drill_tests::restore_server(&config, &name).await;
    let topic = aws_sdk_sns::Client::new(&config)
        .create_topic()
        .name(format!("{name}-alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let role = lambda_role(&config).await;
    let mut arns = std::collections::HashMap::new();
    for f in ["restore", "validate", "export", "delete-temp"] {
        let vars: std::collections::HashMap<String, String> = [
            ("DRILL_PREFIX", PREFIX.to_owned()),
            ("DRILL_STACK", name.clone()),
            ("DRILL_REPORTS_URL", format!("s3://{bucket}/reports")),
            ("DRILL_ALERT_TOPIC_ARN", topic.clone()),
            ("DRILL_TEMP_TTL_HOURS", "12".to_owned()),
            (
                "DRILL_CONFIG_URL",
                format!("s3://{bucket}/config/drill.json"),
            ),
            // The throwaway cluster has no TLS; in AWS plaintext is refused.
            ("DRILL_ALLOW_PLAINTEXT", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let arn = drill_tests::create_function(&config, &format!("{name}-{f}"), vars).await;
        arns.insert(f, arn);
    }
    let mut vars = sample_template_vars();
    vars.insert("restore_function_arn", arns["restore"].clone());
    vars.insert("validate_function_arn", arns["validate"].clone());
    vars.insert("report_function_arn", arns["validate"].clone());
    vars.insert("export_function_arn", arns["export"].clone());
    vars.insert("delete_temp_function_arn", arns["delete-temp"].clone());
    vars.insert("wait_seconds", "1".into());
    vars.insert("restore_budget_seconds", "120".into());
    let state_machine = aws_sdk_sfn::Client::new(&config)
        .create_state_machine()
        .name(name.clone())
        .role_arn(&role)
        .definition(render_asl(&vars))
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();

    // Two sources: one that passes, one whose assertion fails validation.
    let store = format!("s3://{bucket}/backups/app");
    let failing = "[[sql]]\nname = \"enough students\"\nquery = \"SELECT count(*) FROM students\"\nexpect = { at_least = 1000000 }\n";
    let doc = json!({
        "temp_prefix": PREFIX,
        "backups_url": format!("s3://{bucket}/backups"),
        "object_lock_days": 1,
        "copy_accounts": [],
        "copy_regions": [],
        "sources": [
            {"id": "app-logical", "checks": null, "source": {"kind": "backup-set", "store": store, "server": server}},
            {"id": "app-strict", "checks": failing, "source": {"kind": "backup-set", "store": store, "server": server}},
        ],
    });
    s3c.put_object()
        .bucket(&bucket)
        .key("config/drill.json")
        .body(serde_json::to_vec(&doc).unwrap().into())
        .send()
        .await
        .unwrap();

    let outputs = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        outputs.path(),
        json!({
            "state_machine_arn": {"sensitive": false, "type": "string", "value": state_machine},
            "backup_bucket": {"sensitive": false, "type": "string", "value": bucket},
        })
        .to_string(),
    )
    .unwrap();
    Deployed {
        config,
        bucket,
        state_machine,
        outputs,
    }
}

impl Deployed {
    async fn seed_backup(&self, db: &TestDb) {
        let s3c = drill_engine::aws::s3_client(&self.config);
        let store = Store::open(&format!("s3://{}/backups/app", self.bucket), Some(&s3c)).unwrap();
        let options = ExportOptions {
            source_label: Some("app".to_owned()),
            ..Default::default()
        };
        dump::export(&Database::from_url(&db.url).unwrap(), &store, &options)
            .await
            .unwrap();
    }

    /// `drill aws --outputs <file> ARGS`, as an operator runs it.
    fn aws(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = drill()
            .env("AWS_ENDPOINT_URL", moto_url())
            .arg("aws")
            .arg("--outputs")
            .arg(self.outputs.path())
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        eprintln!(
            "$ drill aws {}\n{stdout}{stderr}(exit {:?})",
            args.join(" "),
            out.status.code()
        );
        (out.status.code(), stdout, stderr)
    }
}

async fn source_db() -> TestDb {
    let db = TestDb::create("op_src_").await;
    connect(&db.url)
        .await
        .batch_execute(
            "CREATE TABLE students (id int PRIMARY KEY, name text NOT NULL);
             INSERT INTO students SELECT g, 'student ' || g FROM generate_series(1, 500) g;",
        )
        .await
        .unwrap();
    db
}

fn line_with<'a>(text: &'a str, needles: &[&str]) -> Option<&'a str> {
    text.lines().find(|l| needles.iter().all(|n| l.contains(n)))
}

#[tokio::test]
async fn run_wait_status_and_history_operate_the_deployed_drill() {
    let d = deploy().await;
    let db = source_db().await;
    d.seed_backup(&db).await;

    // One source, followed: a line per step, then the table; exit 0.
    let night1 = unique("night-");
    let (code, out, err) = d.aws(&[
        "run",
        "--sources",
        "app-logical",
        "--wait",
        "--name",
        &night1,
        "--poll-ms",
        "200",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    for step in [
        "restore",
        "wait",
        "validate",
        "export",
        "delete-temp",
        "report",
    ] {
        assert!(
            line_with(&out, &["app-logical", step, " ok "]).is_some(),
            "no progress line for {step}:\n{out}"
        );
    }
    // The closing summary is `drill run`'s (crates/cli/src/summary.rs), built from the report.
    assert!(
        line_with(&out, &["drill ", " of app-logical", "PASS"]).is_some(),
        "no `drill run` summary title:\n{out}"
    );
    assert!(
        line_with(&out, &["STEP", "TIME", "ROWS"]).is_some(),
        "{out}"
    );
    let validate = line_with(&out, &["validate (full read)"]).unwrap_or_else(|| panic!("{out}"));
    assert!(validate.contains("500"), "{validate}");
    assert!(line_with(&out, &["RTO ", "rows 500"]).is_some(), "{out}");
    assert!(
        line_with(
            &out,
            &[
                "temp database rdrill-app-logical",
                "dropped (guards passed)"
            ]
        )
        .is_some(),
        "{out}"
    );
    assert!(
        !out.contains("app-strict"),
        "only the named source ran:\n{out}"
    );
    // Those lines came from the source's child execution: `Sources` is a Distributed Map, and the
    // parent's own history has none of the per-source states.
    let parent = drill_engine::sfn::execution_arn(&d.state_machine, &night1).unwrap();
    let history = aws_sdk_sfn::Client::new(&d.config)
        .get_execution_history()
        .execution_arn(&parent)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = history
        .events()
        .iter()
        .filter_map(|e| e.state_entered_event_details().map(|s| s.name()))
        .collect();
    assert!(names.contains(&"Sources"), "{names:?}");
    assert!(!names.contains(&"Restore"), "{names:?}");
    assert!(
        history.events().len() < 60,
        "{} events",
        history.events().len()
    );

    // The failing source: its step and cause, in the run and in `status` (latest execution).
    let night2 = unique("night-");
    let (code, out, _) = d.aws(&[
        "run",
        "--sources",
        "app-strict",
        "--wait",
        "--name",
        &night2,
        "--poll-ms",
        "200",
    ]);
    assert_eq!(code, Some(1), "a failed check is an invalid backup:\n{out}");
    assert!(
        line_with(
            &out,
            &["app-strict", "validate", "FAILED", "Drill.BackupInvalid"]
        )
        .is_some(),
        "{out}"
    );
    let (code, out, _) = d.aws(&["status"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&night2),
        "status shows the latest execution:\n{out}"
    );
    let failed = line_with(&out, &["app-strict: validate failed: Drill.BackupInvalid"])
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        failed.contains("enough students"),
        "the cause is shown: {failed}"
    );
    assert!(
        line_with(
            &out,
            &["app-strict", "failed", "validate", "gone (deleted)"]
        )
        .is_some(),
        "{out}"
    );
    // A named execution, and JSON.
    let (code, out, _) = d.aws(&["--json", "status", &night1]);
    assert_eq!(code, Some(0), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "SUCCEEDED");
    assert_eq!(v["sources"][0]["source"], "app-logical");
    assert_eq!(v["sources"][0]["temp_state"], "deleted");

    // A second night of app-logical; history lists both, oldest first.
    let night3 = unique("night-");
    let (code, _, _) = d.aws(&[
        "run",
        "--sources",
        "app-logical",
        "--wait",
        "--name",
        &night3,
        "--poll-ms",
        "200",
    ]);
    assert_eq!(code, Some(0));
    let html = tempfile::NamedTempFile::new().unwrap();
    let (code, out, _) = d.aws(&[
        "history",
        "--source",
        "app-logical",
        "--html",
        html.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (a, b) = (
        out.find(&night1).unwrap_or_else(|| panic!("{out}")),
        out.find(&night3).unwrap_or_else(|| panic!("{out}")),
    );
    assert!(a < b, "nights in order:\n{out}");
    let page = std::fs::read_to_string(html.path()).unwrap();
    assert!(
        page.contains(&night1) && page.contains(&night3),
        "both nights in the HTML"
    );
    let (_, out, _) = d.aws(&[
        "--json",
        "history",
        "--source",
        "app-logical",
        "--last",
        "1",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["drill_id"], format!("{night3}-app-logical"));
}

#[tokio::test]
async fn bad_input_is_a_clear_error_with_a_non_zero_exit() {
    let d = deploy().await;
    // An id the deployment does not configure: the plan refuses it, nothing runs.
    let (code, out, err) = d.aws(&["run", "--sources", "prod-billing"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains("unknown source id") && err.contains("prod-billing"),
        "{err}"
    );
    // Not an id at all: refused before anything starts.
    let (code, _, err) = d.aws(&["run", "--sources", "a/b"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a source id"), "{err}");
    // No stack: no outputs and no flags, or outputs of something else.
    let out = drill()
        .env("AWS_ENDPOINT_URL", moto_url())
        .args(["aws", "status"])
        .env_remove("DRILL_TF_OUTPUTS")
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no stack found"), "{err}");
    let other = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other.path(), r#"{"name": {"value": "x"}}"#).unwrap();
    let out = drill()
        .env("AWS_ENDPOINT_URL", moto_url())
        .args(["aws", "--outputs"])
        .arg(other.path())
        .arg("status")
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("state_machine_arn"), "{err}");
    // A state machine that does not exist.
    let gone = d
        .state_machine
        .replace(":stateMachine:", ":stateMachine:gone-");
    let out = drill()
        .env("AWS_ENDPOINT_URL", moto_url())
        .args([
            "aws",
            "--state-machine",
            &gone,
            "--reports",
            "s3://x/reports",
            "run",
        ])
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("StateMachineDoesNotExist"), "{err}");
    // A source with no reports.
    let (code, _, err) = d.aws(&["history", "--source", "nobody"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no drill reports"), "{err}");
}

#[test]
fn the_operator_policy_grants_exactly_what_the_commands_call() {
    let tf = std::fs::read_to_string(drill_tests::infra::repo().join("infra/operator.tf")).unwrap();
    let mut actions: Vec<&str> = tf
        .lines()
        .filter(|l| l.trim_start().starts_with("actions"))
        .flat_map(|l| l.split('"').skip(1).step_by(2))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "kms:Decrypt",
            "s3:GetObject",
            "s3:ListBucket",
            "states:DescribeExecution",
            "states:GetExecutionHistory",
            "states:GetExecutionHistory",
            "states:ListExecutions",
            "states:ListExecutions",
            "states:ListMapRuns",
            "states:StartExecution"
        ]
    );
    // Only this state machine, its executions and the reports prefix; never a function role.
    assert!(!tf.contains("\"*\""), "no wildcard resource");
    assert!(tf.contains("${aws_s3_bucket.backups.arn}/reports/*"));
    assert!(tf.contains("execution:${aws_sfn_state_machine.drill.name}:*"));
    // The Map Run's children: listed by map run, read by their own ARN (machine/label:id).
    assert!(tf.contains("mapRun:${aws_sfn_state_machine.drill.name}/*"));
    assert!(tf.contains("execution:${aws_sfn_state_machine.drill.name}/*"));
    assert!(!tf.contains("aws_iam_role_policy_attachment"));
    let outputs =
        std::fs::read_to_string(drill_tests::infra::repo().join("infra/outputs.tf")).unwrap();
    assert!(outputs.contains("output \"operator_policy_json\""));
}

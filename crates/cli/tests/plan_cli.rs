//! `drill plan-check` / `plan-approve` exit codes and messages on bad input, without AWS: the
//! plans here create nothing (or the existence check is off), so no look-up is made. The
//! scenarios with Terraform's own plans and moto are in `tests/tests/plan_gate.rs`.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

fn drill(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drill"))
        .args(args)
        .env_remove("DRILL_PLAN_APPROVAL")
        .env_remove("DRILL_ALLOWED_SIGNERS")
        .env_remove("DRILL_PLAN_GATE_CONFIG")
        // Any AWS call would fail here: nothing listens on this port.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_plan(dir: &Path, name: &str, changes: Value) -> String {
    let path = dir.join(name);
    let plan = json!({"format_version": "1.2", "planned_values": {}, "resource_changes": changes});
    std::fs::write(&path, plan.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn change(address: &str, ty: &str, actions: &[&str], before: Value, after: Value) -> Value {
    json!({"address": address, "mode": "managed", "type": ty, "name": "x",
           "provider_name": "registry.terraform.io/hashicorp/aws",
           "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}}})
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let (code, _, err) = drill(&["plan-check", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot read plan") && err.contains("nope.json"),
        "{err}"
    );

    let state = dir.path().join("state.json");
    std::fs::write(&state, r#"{"format_version":"1.0","values":{}}"#).unwrap();
    let (code, _, err) = drill(&["plan-check", state.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a Terraform plan"), "{err}");

    let plan = write_plan(dir.path(), "p.json", json!([]));
    let config = dir.path().join("gate.toml");
    std::fs::write(&config, "data_bearing = []\n").unwrap();
    let (code, _, err) = drill(&["plan-check", &plan, "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gate.toml"), "{err}");

    let destroy = write_plan(
        dir.path(),
        "d.json",
        json!([change(
            "aws_s3_bucket.b",
            "aws_s3_bucket",
            &["delete"],
            json!({"bucket": "b"}),
            json!(null)
        )]),
    );
    let approval = dir.path().join("a.txt");
    std::fs::write(&approval, "restore-drill plan approval v1\n").unwrap();
    let (code, _, err) = drill(&[
        "plan-check",
        &destroy,
        "--approval",
        approval.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allowed-signers"), "{err}");
    let signers = dir.path().join("allowed_signers");
    std::fs::write(&signers, "").unwrap();
    let (code, _, err) = drill(&[
        "plan-check",
        &destroy,
        "--approval",
        approval.to_str().unwrap(),
        "--allowed-signers",
        signers.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no plan-digest line"), "{err}");

    let (code, _, err) = drill(&["plan-approve", &destroy, "--expires-in-hours", "1000"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_destructive_plan_exits_4_with_a_table_and_a_harmless_one_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "p.json",
        json!([
            change(
                "aws_db_instance.prod",
                "aws_db_instance",
                &["update"],
                json!({"identifier": "prod", "deletion_protection": true}),
                json!({"identifier": "prod", "deletion_protection": false})
            ),
            change(
                "aws_s3_bucket.logs",
                "aws_s3_bucket",
                &["delete", "create"],
                json!({"bucket": "logs", "force_destroy": true}),
                json!({"bucket": "logs"})
            ),
            change(
                "aws_iam_role.r",
                "aws_iam_role",
                &["delete"],
                json!({}),
                json!(null)
            ),
        ]),
    );
    let (code, out, err) = drill(&["plan-check", &plan]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("DESTRUCTIVE CHANGES TO DATA (2)"), "{out}");
    assert!(out.contains("deletion_protection: true → false"), "{out}");
    assert!(out.contains("replace (destroy first)"), "{out}");
    assert!(!out.contains("aws_iam_role.r"), "{out}");
    assert!(out.contains("BLOCKED"), "{out}");

    let (code, out, _) = drill(&["--json", "plan-check", &plan]);
    assert_eq!(code, 4);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["passed"], false);
    assert_eq!(v["destructive"].as_array().unwrap().len(), 2);
    assert!(v["plan_digest"].as_str().unwrap().starts_with("sha256:"));

    // A create with a known name needs AWS; skipping the check is said out loud.
    let create = write_plan(
        dir.path(),
        "c.json",
        json!([change(
            "aws_s3_bucket.new",
            "aws_s3_bucket",
            &["create"],
            json!(null),
            json!({"bucket": "new"})
        )]),
    );
    let (code, _, err) = drill(&["plan-check", &create]);
    assert_eq!(code, 3, "AWS unreachable must not pass: {err}");
    assert!(err.contains("aws_s3_bucket.new"), "{err}");
    let (code, out, _) = drill(&["plan-check", &create, "--no-existence-check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("existence check skipped"), "{out}");

    let (code, out, _) = drill(&[
        "plan-approve",
        &create,
        "--out",
        dir.path().join("a.txt").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("no approval needed"), "{out}");
    assert!(!dir.path().join("a.txt").exists());
}

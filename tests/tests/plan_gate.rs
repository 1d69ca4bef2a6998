//! `drill plan-check` / `plan-approve` on Terraform's own plan JSON, against moto: one small stack
//! (a DB instance and a bucket) is applied once and shared by the six scenarios, which run in
//! order in one test (nextest runs each test in its own process, so they cannot share a stack
//! otherwise; an `aws_db_instance` apply alone takes ~80 s in moto):
//!   (a) the same config planned with an empty state: the existing resources are found, blocked;
//!   (b) `plan -destroy` with the real state: blocked, naming the instance and the bucket;
//!   (c) that plan with a valid signed approval: passes (and the saved plan then applies);
//!   (d) a different plan with that approval: refused (digest);
//!   (e) an approval signed by a key not in the allowed signers: refused;
//!   (f) a plan that only adds a tag: passes with no approval.
//!
//! Needs `target/debug/drill` (`scripts/test` builds everything) and `ssh-keygen`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use drill_tests::infra::{repo, terraform_ok, write_moto_provider_override};
use drill_tests::{moto_url, unique};
use serde_json::Value;

fn drill_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("drill"))
        .unwrap();
    assert!(
        bin.is_file(),
        "{} not found: build it first with `cargo build -p drill-cli`",
        bin.display()
    );
    bin
}

/// `drill <args>` with AWS aimed at moto; (exit code, stdout, stderr).
fn drill(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(drill_bin())
        .args(args)
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("DRILL_PLAN_APPROVAL")
        .env_remove("DRILL_ALLOWED_SIGNERS")
        .env_remove("DRILL_PLAN_GATE_CONFIG")
        .output()
        .expect("run drill");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json", "plan-check"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = drill(&all);
    let v = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("plan-check --json: {e}\nstdout: {stdout}\nstderr: {stderr}"));
    (code, v)
}

/// A Terraform root with the scenario stack, aimed at moto, initialised.
fn stack_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/plan_gate/main.tf"),
        dir.path().join("main.tf"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("test.auto.tfvars.json"),
        serde_json::json!({ "name": name }).to_string(),
    )
    .unwrap();
    write_moto_provider_override(dir.path());
    terraform_ok(dir.path(), &["init", "-input=false", "-no-color"]);
    dir
}

/// `terraform plan -out` then `show -json`: the plan file and its JSON file.
fn plan(dir: &Path, label: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let bin = dir.join(format!("{label}.tfplan"));
    let mut args = vec![
        "plan".to_owned(),
        "-input=false".into(),
        "-no-color".into(),
        format!("-out={}", bin.display()),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    terraform_ok(dir, &args);
    let json = terraform_ok(dir, &["show", "-json", "-no-color", bin.to_str().unwrap()]);
    let path = dir.join(format!("{label}.json"));
    std::fs::write(&path, json).unwrap();
    (bin, path)
}

fn keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen (openssh-client, installed by scripts/setup)");
    assert!(out.status.success(), "{out:?}");
    key
}

fn sign(key: &Path, file: &Path) {
    let _ = std::fs::remove_file(format!("{}.sig", file.display()));
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "restore-drill-plan-approval", "-f"])
        .arg(key)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn addresses(v: &Value, key: &str) -> Vec<String> {
    let mut a: Vec<String> = v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .iter()
        .map(|x| x["address"].as_str().unwrap().to_owned())
        .collect();
    a.sort();
    a.dedup();
    a
}

#[test]
fn plan_gate_scenarios_against_one_applied_stack() {
    let name = unique("pg-");
    let both = vec![
        "aws_db_instance.db".to_owned(),
        "aws_s3_bucket.data".to_owned(),
    ];
    let keys = tempfile::tempdir().unwrap();
    let alice = keygen(keys.path(), "alice");
    let mallory = keygen(keys.path(), "mallory");
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "alice@example.com namespaces=\"restore-drill-plan-approval\" {}",
            std::fs::read_to_string(alice.with_extension("pub")).unwrap()
        ),
    )
    .unwrap();
    let allowed = allowed.to_str().unwrap();

    // The stack, applied once. Its first plan creates names nobody holds yet: it passes.
    let applied = stack_dir(&name);
    let (create_bin, create_json) = plan(applied.path(), "create", &[]);
    let (code, v) = check_json(&[create_json.to_str().unwrap()]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["existing"], serde_json::json!([]), "{v:#}");
    terraform_ok(
        applied.path(),
        &[
            "apply",
            "-input=false",
            "-no-color",
            create_bin.to_str().unwrap(),
        ],
    );

    // (a) The same config with an empty state: both planned creates already exist.
    let empty = stack_dir(&name);
    let (_, stale_json) = plan(empty.path(), "stale", &[]);
    let (code, v) = check_json(&[stale_json.to_str().unwrap()]);
    assert_eq!(code, 4, "{v:#}");
    assert_eq!(addresses(&v, "existing"), both, "{v:#}");
    assert_eq!(v["destructive"], serde_json::json!([]));
    assert_eq!(v["passed"], false);
    let (code, text, _) = drill(&["plan-check", stale_json.to_str().unwrap()]);
    assert_eq!(code, 4);
    assert!(
        text.contains("EXISTS IN THE ACCOUNT BUT NOT IN THIS STATE (2)"),
        "{text}"
    );
    assert!(text.contains(&format!("{name}-db")), "{text}");

    // (b) plan -destroy with the real state: blocked, naming the instance and the bucket.
    let (destroy_bin, destroy_json) = plan(applied.path(), "destroy", &["-destroy"]);
    let destroy_json = destroy_json.to_str().unwrap().to_owned();
    let (code, v) = check_json(&[&destroy_json]);
    assert_eq!(code, 4, "{v:#}");
    assert_eq!(addresses(&v, "destructive"), both, "{v:#}");
    assert_eq!(v["approval"]["status"], "missing");
    let (code, text, _) = drill(&["plan-check", &destroy_json]);
    assert_eq!(code, 4);
    for a in &both {
        assert!(text.contains(a.as_str()), "{text}");
    }
    assert!(text.contains("NO final snapshot"), "{text}");
    assert!(text.contains("BLOCKED"), "{text}");

    // (c) With an approval of exactly this plan, signed by an allowed key: passes.
    let approval = keys.path().join("approval.txt");
    let approval_s = approval.to_str().unwrap().to_owned();
    let (code, text, err) = drill(&["plan-approve", &destroy_json, "--out", &approval_s]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("ssh-keygen -Y sign"), "{text}");
    let approval_text = std::fs::read_to_string(&approval).unwrap();
    for a in &both {
        assert!(
            approval_text.contains(&format!("destructive: {a}\n")),
            "{approval_text}"
        );
    }
    // Unsigned first: refused, naming why.
    let with_approval = |plan: &str| {
        check_json(&[
            plan,
            "--approval",
            &approval_s,
            "--allowed-signers",
            allowed,
        ])
    };
    let (code, v) = with_approval(&destroy_json);
    assert_eq!(code, 4, "{v:#}");
    assert!(
        v["approval"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("unsigned"),
        "{v:#}"
    );
    sign(&alice, &approval);
    let (code, v) = with_approval(&destroy_json);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["approval"]["status"], "valid");
    assert_eq!(v["approval"]["signer"], "alice@example.com");
    assert_eq!(
        v["plan_digest"].as_str().unwrap(),
        approval_text
            .lines()
            .find_map(|l| l.strip_prefix("plan-digest: "))
            .unwrap()
    );

    // (d) Another plan (destroying only the bucket) with that approval: refused, the digest.
    let (_, partial_json) = plan(
        applied.path(),
        "partial",
        &["-destroy", "-target=aws_s3_bucket.data"],
    );
    let (code, v) = with_approval(partial_json.to_str().unwrap());
    assert_eq!(code, 4, "{v:#}");
    assert_eq!(
        addresses(&v, "destructive"),
        vec!["aws_s3_bucket.data".to_owned()]
    );
    let reasons = v["approval"]["reasons"].to_string();
    assert!(reasons.contains("the plan changed"), "{reasons}");

    // (e) The same approval signed by a key that is not in the allowed signers: refused.
    sign(&mallory, &approval);
    let (code, v) = with_approval(&destroy_json);
    assert_eq!(code, 4, "{v:#}");
    let reasons = v["approval"]["reasons"].to_string();
    assert!(reasons.contains("not in the allowed signers"), "{reasons}");
    let (_, text, _) = drill(&[
        "plan-check",
        &destroy_json,
        "--approval",
        &approval_s,
        "--allowed-signers",
        allowed,
    ]);
    assert!(text.contains("approval: REFUSED"), "{text}");

    // (f) A plan that only adds a tag: passes with no approval.
    let (_, tag_json) = plan(
        applied.path(),
        "tag",
        &[r#"-var=extra_tags={"team":"data"}"#],
    );
    let tag_plan: Value =
        serde_json::from_str(&std::fs::read_to_string(&tag_json).unwrap()).unwrap();
    let updates: Vec<&str> = tag_plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["change"]["actions"] == serde_json::json!(["update"]))
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert!(!updates.is_empty(), "the tag plan must update something");
    let (code, v) = check_json(&[tag_json.to_str().unwrap()]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["destructive"], serde_json::json!([]));
    assert_eq!(v["approval"]["status"], "not-needed");

    // The safe path ends with applying exactly the approved saved plan.
    sign(&alice, &approval);
    let (code, v) = with_approval(&destroy_json);
    assert_eq!(code, 0, "{v:#}");
    terraform_ok(
        applied.path(),
        &[
            "apply",
            "-input=false",
            "-no-color",
            destroy_bin.to_str().unwrap(),
        ],
    );
}

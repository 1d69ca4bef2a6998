//! Terraform and ASL helpers for tests: a private copy of the infrastructure code, a Terraform
//! runner using the provider mirror, provider overrides that aim at moto, the rendered ASL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{moto_url, tf_cli_config};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == ".terraform" || name.ends_with(".tfstate") || name.ends_with(".tfstate.backup") {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &dst.join(&name));
        } else {
            std::fs::copy(&path, dst.join(&name)).unwrap();
        }
    }
}

/// A temp dir holding copies of `infra/` and `statemachine/` (the template is read relative to
/// `infra/`), so parallel tests and the working tree stay apart.
pub fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("infra"), &dir.path().join("infra"));
    copy_tree(
        &repo().join("statemachine"),
        &dir.path().join("statemachine"),
    );
    dir
}

/// Runs terraform in `dir` with the mirror config; returns (success, stdout+stderr).
pub fn terraform(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", tf_cli_config())
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("terraform on PATH");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs terraform and panics with its output when it fails.
pub fn terraform_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, out) = terraform(dir, args);
    assert!(ok, "terraform {}:\n{out}", args.join(" "));
    out
}

const MOTO_SERVICES: &[&str] = &[
    "s3",
    "rds",
    "iam",
    "sts",
    "lambda",
    "sfn",
    "scheduler",
    "events",
    "ec2",
    "kms",
    "logs",
    "cloudwatch",
    "sns",
    "secretsmanager",
];

/// Writes `moto_override.tf` into a root module: the aws provider aimed at moto.
pub fn write_moto_provider_override(dir: &Path) {
    let url = moto_url();
    let endpoints: String = MOTO_SERVICES
        .iter()
        .map(|s| format!("    {s} = \"{url}\"\n"))
        .collect();
    let text = format!(
        r#"provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  max_retries                 = 2
  endpoints {{
{endpoints}  }}
}}
"#
    );
    std::fs::write(dir.join("moto_override.tf"), text).unwrap();
}

/// Backend config (HCL) for the S3 backend on moto.
pub fn moto_backend_config(bucket: &str) -> String {
    format!(
        r#"bucket                      = "{bucket}"
key                         = "restore-drill/terraform.tfstate"
region                      = "us-east-1"
access_key                  = "testing"
secret_key                  = "testing"
endpoints                   = {{ s3 = "{url}" }}
use_path_style              = true
skip_credentials_validation = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
skip_region_validation      = true
"#,
        url = moto_url()
    )
}

/// Sample values for every placeholder of the ASL template.
pub fn sample_template_vars() -> BTreeMap<&'static str, String> {
    let arn = |f: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:restore-drill-{f}");
    BTreeMap::from([
        ("restore_function_arn", arn("restore")),
        ("validate_function_arn", arn("validate")),
        ("export_function_arn", arn("export")),
        ("delete_temp_function_arn", arn("delete-temp")),
        ("report_function_arn", arn("validate")),
        ("wait_seconds", "60".into()),
        ("restore_budget_seconds", "7200".into()),
        ("max_concurrency", "2".into()),
        ("unit_concurrency", "4".into()),
        (
            "map_results_bucket",
            "restore-drill-backups-123456789012".into(),
        ),
        ("map_results_prefix", "reports/map-runs".into()),
    ])
}

/// Renders the ASL template like Terraform's `templatefile`: every `${name}` must have a value.
pub fn render_asl(vars: &BTreeMap<&str, String>) -> String {
    let template =
        std::fs::read_to_string(repo().join("statemachine/drill.asl.json")).expect("template");
    let mut out = String::with_capacity(template.len());
    let mut rest = template.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed placeholder") + start;
        let name = &rest[start + 2..end];
        let value = vars
            .get(name)
            .unwrap_or_else(|| panic!("template placeholder ${{{name}}} has no value"));
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Runs asl-validator (installed by scripts/setup in node_modules) on a definition.
pub fn asl_validate(definition: &str) -> (bool, String) {
    let bin = repo().join("node_modules/.bin/asl-validator");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/setup (npm ci)",
        bin.display()
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), definition).unwrap();
    let out = Command::new(bin)
        .arg("--json-path")
        .arg(file.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs `parliament` (PyPI, in `.venv-tools`; its action and condition-key data is the Service
/// Authorization Reference) on a policy document; returns its findings (one JSON object each).
pub fn parliament(policy: &str) -> Vec<serde_json::Value> {
    use std::io::Write;
    let bin = repo().join(".venv-tools/bin/parliament");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/setup (tests/stack/tools-requirements.lock)",
        bin.display()
    );
    // On stdin: parliament refuses --file whenever its stdin is not a terminal.
    let mut child = Command::new(bin)
        .arg("--json")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(policy.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit 1 means findings; anything else (2: usage, a traceback) means it did not lint.
    assert!(
        matches!(out.status.code(), Some(0 | 1)) && !stderr.contains("Traceback"),
        "parliament did not run: {:?} {stderr}",
        out.status
    );
    let findings: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        out.status.code() == Some(1),
        !findings.is_empty(),
        "{stdout}"
    );
    findings
}

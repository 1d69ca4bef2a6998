//! The automation-guardrails module (`infra/modules/automation-guardrails`) and the plan-check
//! read-only policy: rendered by real Terraform (applied to moto's IAM), linted with
//! `parliament` (PyPI, in `.venv-tools`) so every action and condition key is valid for its
//! action, and asserted statement by statement, since no emulator evaluates IAM conditions.

use std::path::Path;

use drill_tests::infra::{parliament, repo, terraform_ok, write_moto_provider_override};
use drill_tests::unique;
use serde_json::{json, Value};

const BACKUPS: &str = "arn:aws:s3:::acme-backups";
const STATE: &str = "arn:aws:s3:::acme-tfstate";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const CI_ROLE: &str = "arn:aws:iam::123456789012:role/ci-deploy";

fn issues(policy: Value) -> Vec<String> {
    parliament(&policy.to_string())
        .iter()
        .map(|f| f["issue"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
        _ => vec![],
    }
}

fn statement<'a>(doc: &'a Value, sid: &str) -> &'a Value {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid} in {doc:#}"))
}

/// The statements that deny `action` on `resource` (exact resource string).
fn denies(doc: &Value, action: &str, resource: &str) -> bool {
    doc["Statement"].as_array().unwrap().iter().any(|s| {
        s["Effect"] == "Deny"
            && as_list(&s["Action"]).iter().any(|a| a == action)
            && as_list(&s["Resource"]).iter().any(|r| r == resource)
    })
}

fn render(dir: &Path, name: &str) -> (Value, Value, String) {
    let module = repo().join("infra/modules/automation-guardrails");
    let main = format!(
        r#"terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws", version = "5.100.0" }}
  }}
}}
provider "aws" {{
  region = "us-east-1"
}}
module "guardrails" {{
  source              = "{module}"
  name                = "{name}"
  backup_bucket_arns  = ["{BACKUPS}"]
  backup_kms_key_arns = ["{KEY}"]
  state_bucket_arn    = "{STATE}"
  protected_role_arns = ["{CI_ROLE}"]
}}
module "boundary" {{
  source                  = "{module}"
  name                    = "{name}-boundary"
  backup_bucket_arns      = ["{BACKUPS}"]
  as_permissions_boundary = true
  create_policy           = false
}}
output "policy" {{ value = module.guardrails.policy_json }}
output "policy_arn" {{ value = module.guardrails.policy_arn }}
output "boundary" {{ value = module.boundary.policy_json }}
"#,
        module = module.display()
    );
    std::fs::write(dir.join("main.tf"), main).unwrap();
    write_moto_provider_override(dir);
    terraform_ok(dir, &["init", "-input=false", "-no-color"]);
    terraform_ok(
        dir,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    let out: Value =
        serde_json::from_str(&terraform_ok(dir, &["output", "-json", "-no-color"])).unwrap();
    let doc =
        |k: &str| -> Value { serde_json::from_str(out[k]["value"].as_str().unwrap()).unwrap() };
    (
        doc("policy"),
        doc("boundary"),
        out["policy_arn"]["value"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn guardrail_policies_lint_clean_and_deny_what_they_must() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("guardrails-");
    let (policy, boundary, arn) = render(dir.path(), &name);
    assert!(arn.ends_with(&format!(":policy/{name}")), "{arn}");

    // parliament finds nothing wrong: every action exists, every condition key fits its action.
    for (what, doc) in [("policy", &policy), ("boundary", &boundary)] {
        let findings = parliament(&doc.to_string());
        assert!(findings.is_empty(), "{what}: {findings:#?}\n{doc:#}");
    }
    let readonly =
        std::fs::read_to_string(repo().join("infra/examples/plan-gate/plan-check-readonly.json"))
            .unwrap();
    let findings = parliament(&readonly);
    assert!(findings.is_empty(), "read-only policy: {findings:#?}");

    // Attached as a policy it only denies; as a boundary it allows the rest.
    for s in policy["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Deny", "{s}");
    }
    assert_eq!(
        statement(&boundary, "BoundaryAllowsTheRest")["Effect"],
        "Allow"
    );

    // Databases and snapshots: only drill-tagged ones, by a negated tag condition (true when
    // the tag is absent, so untagged production is denied).
    let db = statement(&policy, "NeverDeleteOrModifyNonDrillDatabases");
    for a in [
        "rds:DeleteDBInstance",
        "rds:DeleteDBCluster",
        "rds:ModifyDBInstance",
        "rds:ModifyDBCluster",
    ] {
        assert!(as_list(&db["Action"]).contains(&a.to_owned()), "{db}");
    }
    assert_eq!(
        db["Condition"]["StringNotEquals"]["aws:ResourceTag/drill:role"],
        json!("temp"),
        "{db}"
    );
    let snap = statement(&policy, "NeverDeleteOrShareNonDrillSnapshots");
    assert!(as_list(&snap["Action"]).contains(&"rds:DeleteDBSnapshot".to_owned()));
    assert_eq!(
        snap["Condition"]["StringNotEquals"]["aws:ResourceTag/drill:role"],
        json!("snapshot-copy")
    );
    let tag = statement(&policy, "NeverSetOrRemoveTheDrillTag");
    assert_eq!(
        tag["Condition"]["ForAnyValue:StringEqualsIgnoreCase"]["aws:TagKeys"],
        json!("drill:role"),
        "tag keys match in any case, as condition key names (aws:ResourceTag/<key>) do: {tag}"
    );

    // The backup bucket: no delete, no weakening, no version deletes, no bypass.
    for a in [
        "s3:DeleteBucket",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutBucketVersioning",
    ] {
        assert!(denies(&policy, a, BACKUPS), "{a}");
    }
    for a in ["s3:BypassGovernanceRetention", "s3:DeleteObjectVersion"] {
        assert!(denies(&policy, a, &format!("{BACKUPS}/*")), "{a}");
    }
    // The backup key.
    for a in ["kms:ScheduleKeyDeletion", "kms:DisableKey"] {
        assert!(denies(&policy, a, KEY), "{a}");
    }
    // The state bucket: state files and every version stay; the backend's lock file
    // (`<key>.tflock`) must stay deletable, so the pattern does not cover it.
    assert!(denies(
        &policy,
        "s3:DeleteObject",
        &format!("{STATE}/*.tfstate")
    ));
    assert!(!denies(&policy, "s3:DeleteObject", &format!("{STATE}/*")));
    assert!(denies(
        &policy,
        "s3:DeleteObjectVersion",
        &format!("{STATE}/*")
    ));
    assert!(denies(&policy, "s3:DeleteBucket", STATE));
    // The guardrails themselves.
    assert!(
        denies(&policy, "iam:CreatePolicyVersion", &arn),
        "{policy:#}"
    );
    assert!(denies(
        &policy,
        "iam:DeleteRolePermissionsBoundary",
        CI_ROLE
    ));
    // ... and detaching it, or dropping it as a boundary, from any principal (its own role too).
    let detach = statement(&policy, "NeverDetachTheseGuardrails");
    assert_eq!(detach["Resource"], json!("*"));
    assert_eq!(
        detach["Condition"]["ArnEquals"]["iam:PolicyARN"],
        json!(arn.as_str())
    );
    assert!(as_list(&detach["Action"]).contains(&"iam:DetachRolePolicy".to_owned()));
    let drop = statement(&policy, "NeverDropABoundary");
    assert_eq!(drop["Resource"], json!("*"));
    assert!(
        drop.get("Condition").is_none(),
        "no boundary may be dropped: {drop}"
    );
    for a in [
        "iam:DeleteRolePermissionsBoundary",
        "iam:DeleteUserPermissionsBoundary",
    ] {
        assert!(as_list(&drop["Action"]).contains(&a.to_owned()), "{drop}");
    }
    // New or re-bounded roles and users carry this policy as their boundary; a negated operator,
    // so a create without any boundary (key absent) is denied too.
    let bound = statement(&policy, "OnlyThisBoundaryOnNewOrReboundedPrincipals");
    assert_eq!(bound["Resource"], json!("*"));
    assert_eq!(
        bound["Condition"]["ArnNotEquals"]["iam:PermissionsBoundary"],
        json!(arn.as_str()),
        "{bound}"
    );
    for a in [
        "iam:CreateRole",
        "iam:CreateUser",
        "iam:PutRolePermissionsBoundary",
        "iam:PutUserPermissionsBoundary",
    ] {
        assert!(as_list(&bound["Action"]).contains(&a.to_owned()), "{bound}");
    }
    // The boundary variant holds the same statements.
    statement(&boundary, "OnlyThisBoundaryOnNewOrReboundedPrincipals");
    statement(&boundary, "NeverDropABoundary");

    // The linter is live: an action that does not exist, and a condition key that does not
    // apply to its action, are each reported.
    let deny = |action: &str, condition: Value| {
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": action, "Resource": "*", "Condition": condition}]})
    };
    let tagged = json!({"StringNotEquals": {"aws:ResourceTag/drill:role": "temp"}});
    assert!(issues(deny("rds:DeleteDBInstance", tagged.clone())).is_empty());
    assert_eq!(
        issues(deny("rds:DeleteDatabase", tagged)),
        vec!["UNKNOWN_ACTION"]
    );
    assert_eq!(
        issues(deny(
            "rds:DeleteDBInstance",
            json!({"StringEquals": {"s3:prefix": "x"}})
        )),
        vec!["UNKNOWN_CONDITION_FOR_ACTION"]
    );
}

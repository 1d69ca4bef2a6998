//! Protection attributes by resource type, and the test "the new value is weaker" for each;
//! a value known only after apply (`after_unknown`) is weaker if any value it could take is.

use serde_json::Value;

use super::ResourceChange;

/// A protection attribute's new value: known, or known only after apply.
enum After<'a> {
    Known(&'a Value),
    Unknown,
}

/// The value at `path` in `before`, and in `after` (or `Unknown` from `after_unknown`).
fn values<'a>(c: &'a ResourceChange, path: &[Seg<'_>]) -> (Option<&'a Value>, Option<After<'a>>) {
    let before = walk(&c.before, path);
    let unknown = walk_unknown(&c.after_unknown, path);
    let after = if unknown {
        Some(After::Unknown)
    } else {
        walk(&c.after, path).map(After::Known)
    };
    (before, after)
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    /// First element of a nested block list (Terraform writes blocks as lists).
    First,
}

fn walk<'a>(v: &'a Value, path: &[Seg<'_>]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = match seg {
            Seg::Key(k) => cur.get(*k)?,
            Seg::First => cur.get(0)?,
        };
    }
    (!cur.is_null()).then_some(cur)
}

/// `after_unknown` is `true` at an unknown value, or at any ancestor of it.
fn walk_unknown(v: &Value, path: &[Seg<'_>]) -> bool {
    let mut cur = v;
    if cur == &Value::Bool(true) {
        return true;
    }
    for seg in path {
        cur = match seg {
            Seg::Key(k) => match cur.get(*k) {
                Some(x) => x,
                None => return false,
            },
            Seg::First => match cur.get(0) {
                Some(x) => x,
                None => return false,
            },
        };
        if cur == &Value::Bool(true) {
            return true;
        }
    }
    false
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(unset)".into(),
        Some(v) => v.to_string(),
    }
}

/// One protection rule: a path into the resource and the test "the new value is weaker".
struct Rule {
    path: &'static [Seg<'static>],
    /// `(before, after)` -> weakened? `after == None` means the value was removed.
    weaker: fn(Option<&Value>, Option<&Value>) -> bool,
}

const fn rule(
    path: &'static [Seg<'static>],
    weaker: fn(Option<&Value>, Option<&Value>) -> bool,
) -> Rule {
    Rule { path, weaker }
}

fn was_true_now_not(b: Option<&Value>, a: Option<&Value>) -> bool {
    b == Some(&Value::Bool(true)) && a != Some(&Value::Bool(true))
}
fn was_false_now_true(b: Option<&Value>, a: Option<&Value>) -> bool {
    b != Some(&Value::Bool(true)) && a == Some(&Value::Bool(true))
}
fn retention_to_zero(b: Option<&Value>, a: Option<&Value>) -> bool {
    let n = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0);
    n(b) > 0 && n(a) == 0
}
fn number_lowered(b: Option<&Value>, a: Option<&Value>) -> bool {
    let n = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0);
    n(b) > 0 && n(a) < n(b)
}
fn enabled_now_not(b: Option<&Value>, a: Option<&Value>) -> bool {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_ascii_lowercase);
    s(b).as_deref() == Some("enabled") && s(a).as_deref() != Some("enabled")
}
fn compliance_now_not(b: Option<&Value>, a: Option<&Value>) -> bool {
    b.and_then(Value::as_str) == Some("COMPLIANCE")
        && a.and_then(Value::as_str) != Some("COMPLIANCE")
}
fn set_now_unset(b: Option<&Value>, a: Option<&Value>) -> bool {
    b.is_some() && a.is_none()
}

/// Protection attributes by type. Keys are the provider's argument names.
fn rules_for(resource_type: &str) -> &'static [Rule] {
    use Seg::{First, Key};
    const DB: &[Rule] = &[
        rule(&[Key("deletion_protection")], was_true_now_not),
        rule(&[Key("skip_final_snapshot")], was_false_now_true),
        rule(&[Key("backup_retention_period")], retention_to_zero),
        rule(&[Key("delete_automated_backups")], was_false_now_true),
    ];
    const BUCKET: &[Rule] = &[
        rule(&[Key("force_destroy")], was_false_now_true),
        rule(&[Key("object_lock_enabled")], was_true_now_not),
        rule(
            &[Key("versioning"), First, Key("enabled")],
            was_true_now_not,
        ),
    ];
    const VERSIONING: &[Rule] = &[
        rule(
            &[Key("versioning_configuration"), First, Key("status")],
            enabled_now_not,
        ),
        rule(
            &[Key("versioning_configuration"), First, Key("mfa_delete")],
            enabled_now_not,
        ),
    ];
    const LOCK: &[Rule] = &[
        rule(&[Key("object_lock_enabled")], enabled_now_not),
        rule(&[Key("rule"), First], set_now_unset),
        rule(
            &[
                Key("rule"),
                First,
                Key("default_retention"),
                First,
                Key("mode"),
            ],
            compliance_now_not,
        ),
        rule(
            &[
                Key("rule"),
                First,
                Key("default_retention"),
                First,
                Key("days"),
            ],
            number_lowered,
        ),
        rule(
            &[
                Key("rule"),
                First,
                Key("default_retention"),
                First,
                Key("years"),
            ],
            number_lowered,
        ),
    ];
    const KMS: &[Rule] = &[
        rule(&[Key("is_enabled")], was_true_now_not),
        rule(&[Key("deletion_window_in_days")], number_lowered),
    ];
    const DYNAMO: &[Rule] = &[
        rule(&[Key("deletion_protection_enabled")], was_true_now_not),
        rule(
            &[Key("point_in_time_recovery"), First, Key("enabled")],
            was_true_now_not,
        ),
    ];
    const VAULT: &[Rule] = &[rule(&[Key("force_destroy")], was_false_now_true)];
    const VAULT_LOCK: &[Rule] = &[
        rule(&[Key("min_retention_days")], number_lowered),
        rule(&[Key("changeable_for_days")], set_now_unset),
    ];
    const EFS_BACKUP: &[Rule] = &[rule(
        &[Key("backup_policy"), First, Key("status")],
        enabled_now_not,
    )];
    match resource_type {
        "aws_db_instance" | "aws_rds_cluster" => DB,
        "aws_rds_global_cluster" => &DB[..1],
        "aws_s3_bucket" => BUCKET,
        "aws_s3_bucket_versioning" => VERSIONING,
        "aws_s3_bucket_object_lock_configuration" => LOCK,
        "aws_kms_key" | "aws_kms_replica_key" => KMS,
        "aws_dynamodb_table" => DYNAMO,
        "aws_backup_vault" => VAULT,
        "aws_backup_vault_lock_configuration" => VAULT_LOCK,
        "aws_efs_backup_policy" => EFS_BACKUP,
        // A user-added type: the common protection arguments, by name.
        _ => &DB[..1],
    }
}

fn path_name(path: &[Seg<'_>]) -> String {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => (*k).to_owned(),
            Seg::First => "0".into(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Values an unknown protection attribute could take, as far as the rules can tell them apart.
static UNKNOWN_CANDIDATES: std::sync::LazyLock<Vec<Option<Value>>> =
    std::sync::LazyLock::new(|| {
        vec![
            None,
            Some(Value::Bool(true)),
            Some(Value::Bool(false)),
            Some(Value::from(0)),
            Some(Value::from("Disabled")),
            Some(Value::from("GOVERNANCE")),
        ]
    });

/// The protections this update removes, e.g. `deletion_protection: true → false`.
pub(super) fn weakened_protections(c: &ResourceChange) -> Vec<String> {
    let mut out = Vec::new();
    for r in rules_for(&c.resource_type) {
        let (before, after) = values(c, r.path);
        let name = path_name(r.path);
        match after {
            Some(After::Unknown) => {
                // Known only after apply: weaker if any value it could take would be.
                if UNKNOWN_CANDIDATES
                    .iter()
                    .any(|cand| (r.weaker)(before, cand.as_ref()))
                {
                    out.push(format!(
                        "{name}: {} → (known after apply: may remove the protection)",
                        show(before)
                    ));
                }
            }
            Some(After::Known(a)) => {
                if (r.weaker)(before, Some(a)) {
                    out.push(format!("{name}: {} → {}", show(before), a));
                }
            }
            None => {
                if (r.weaker)(before, None) && before.is_some() {
                    out.push(format!("{name}: {} → (removed)", show(before)));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{change, change_unknown};
    use super::super::tests::{db, findings, one};
    use super::super::FindingKind;
    use serde_json::json;

    #[test]
    fn each_protection_removal_is_an_update_finding() {
        let cases = [
            (
                "aws_db_instance.a",
                db(json!({})),
                db(json!({"deletion_protection": false})),
                "deletion_protection: true → false",
            ),
            (
                "aws_db_instance.a",
                db(json!({})),
                db(json!({"skip_final_snapshot": true})),
                "skip_final_snapshot: false → true",
            ),
            (
                "aws_db_instance.a",
                db(json!({})),
                db(json!({"backup_retention_period": 0})),
                "backup_retention_period: 7 → 0",
            ),
            (
                "aws_db_instance.a",
                db(json!({})),
                db(json!({"delete_automated_backups": true})),
                "delete_automated_backups: false → true",
            ),
            (
                "aws_rds_cluster.c",
                db(json!({})),
                db(json!({"deletion_protection": false})),
                "deletion_protection: true → false",
            ),
            (
                "aws_s3_bucket.b",
                json!({"force_destroy": false}),
                json!({"force_destroy": true}),
                "force_destroy: false → true",
            ),
            (
                "aws_s3_bucket.b",
                json!({"versioning": [{"enabled": true}]}),
                json!({"versioning": [{"enabled": false}]}),
                "versioning.0.enabled: true → false",
            ),
            (
                "aws_s3_bucket_versioning.v",
                json!({"versioning_configuration": [{"status": "Enabled"}]}),
                json!({"versioning_configuration": [{"status": "Suspended"}]}),
                "versioning_configuration.0.status: \"Enabled\" → \"Suspended\"",
            ),
            (
                "aws_s3_bucket_object_lock_configuration.l",
                json!({"rule": [{"default_retention": [{"mode": "COMPLIANCE", "days": 35}]}]}),
                json!({"rule": [{"default_retention": [{"mode": "GOVERNANCE", "days": 35}]}]}),
                "rule.0.default_retention.0.mode: \"COMPLIANCE\" → \"GOVERNANCE\"",
            ),
            (
                "aws_s3_bucket_object_lock_configuration.l",
                json!({"rule": [{"default_retention": [{"mode": "COMPLIANCE", "days": 35}]}]}),
                json!({"rule": [{"default_retention": [{"mode": "COMPLIANCE", "days": 1}]}]}),
                "rule.0.default_retention.0.days: 35 → 1",
            ),
            (
                "aws_s3_bucket_object_lock_configuration.l",
                json!({"rule": [{"default_retention": [{"mode": "COMPLIANCE", "days": 35}]}]}),
                json!({"rule": []}),
                "rule.0: ",
            ),
            (
                "aws_kms_key.k",
                json!({"is_enabled": true}),
                json!({"is_enabled": false}),
                "is_enabled: true → false",
            ),
            (
                "aws_dynamodb_table.t",
                json!({"deletion_protection_enabled": true}),
                json!({"deletion_protection_enabled": false}),
                "deletion_protection_enabled: true → false",
            ),
            (
                "aws_dynamodb_table.t",
                json!({"point_in_time_recovery": [{"enabled": true}]}),
                json!({"point_in_time_recovery": [{"enabled": false}]}),
                "point_in_time_recovery.0.enabled: true → false",
            ),
            (
                "aws_backup_vault.v",
                json!({"force_destroy": false}),
                json!({"force_destroy": true}),
                "force_destroy: false → true",
            ),
        ];
        for (address, before, after, expect) in cases {
            let f = one(vec![change(address, &["update"], before, after)]);
            assert_eq!(f.kind, FindingKind::WeakensProtection, "{address}");
            assert!(
                f.why.starts_with(expect),
                "{address}: {} !~ {expect}",
                f.why
            );
        }
    }

    #[test]
    fn strengthening_or_unrelated_updates_are_not_findings() {
        let f = findings(vec![
            change(
                "aws_db_instance.a",
                &["update"],
                db(json!({"deletion_protection": false})),
                db(json!({})),
            ),
            change(
                "aws_db_instance.a",
                &["update"],
                db(json!({})),
                db(json!({"tags": {"team": "x"}})),
            ),
            change(
                "aws_db_instance.a",
                &["update"],
                db(json!({})),
                db(json!({"backup_retention_period": 3})),
            ),
            change(
                "aws_s3_bucket_object_lock_configuration.l",
                &["update"],
                json!({"rule": [{"default_retention": [{"mode": "GOVERNANCE", "days": 1}]}]}),
                json!({"rule": [{"default_retention": [{"mode": "COMPLIANCE", "days": 35}]}]}),
            ),
            change("aws_iam_role.r", &["delete"], json!({}), json!(null)),
            change(
                "aws_s3_bucket.new",
                &["create"],
                json!(null),
                json!({"bucket": "b"}),
            ),
            change("aws_kms_key.k", &["no-op"], json!({}), json!({})),
        ]);
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn an_unknown_new_value_of_a_protection_that_is_on_is_flagged() {
        let f = one(vec![change_unknown(
            "aws_db_instance.a",
            &["update"],
            db(json!({})),
            db(json!({"deletion_protection": null})),
            json!({"deletion_protection": true}),
        )]);
        assert!(
            f.why
                .contains("deletion_protection: true → (known after apply"),
            "{}",
            f.why
        );
        // false → unknown: could become true.
        let f = one(vec![change_unknown(
            "aws_rds_cluster.c",
            &["update"],
            db(json!({})),
            db(json!({"skip_final_snapshot": null})),
            json!({"skip_final_snapshot": true}),
        )]);
        assert!(
            f.why
                .starts_with("skip_final_snapshot: false → (known after apply"),
            "{}",
            f.why
        );
        // A whole nested block unknown covers its leaves.
        let f = one(vec![change_unknown(
            "aws_s3_bucket_versioning.v",
            &["update"],
            json!({"versioning_configuration": [{"status": "Enabled"}]}),
            json!({}),
            json!({"versioning_configuration": true}),
        )]);
        assert!(f.why.contains("known after apply"), "{}", f.why);
        // Unknown where the protection is off today: nothing to lose.
        assert!(findings(vec![change_unknown(
            "aws_db_instance.a",
            &["update"],
            db(json!({"deletion_protection": false})),
            db(json!({"deletion_protection": null})),
            json!({"deletion_protection": true}),
        )])
        .is_empty());
    }
}

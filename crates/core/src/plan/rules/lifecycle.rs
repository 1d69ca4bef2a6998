//! S3 lifecycle expiration: an `aws_s3_bucket_lifecycle_configuration` whose rules add or shorten
//! an expiration (current or noncurrent versions) deletes objects on a schedule, with no delete in
//! the plan. Rules are matched by `id`; a value known only after apply counts as shortened.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Finding, FindingKind, Plan, ResourceChange};

pub(super) const LIFECYCLE_TYPE: &str = "aws_s3_bucket_lifecycle_configuration";

/// Names of the buckets this plan creates: a lifecycle on a new bucket has nothing to delete yet.
pub(super) fn created_buckets(plan: &Plan) -> BTreeSet<&str> {
    plan.changes
        .iter()
        .filter(|c| c.resource_type == "aws_s3_bucket" && c.is_create())
        .filter_map(|c| c.after.get("bucket").and_then(Value::as_str))
        .collect()
}

/// `true` if `after_unknown` marks the value at `pointer`, or any of its ancestors, unknown.
fn unknown(after_unknown: &Value, pointer: &str) -> bool {
    let mut prefix = String::new();
    if after_unknown == &Value::Bool(true) {
        return true;
    }
    for seg in pointer.split('/').skip(1) {
        prefix.push('/');
        prefix.push_str(seg);
        match after_unknown.pointer(&prefix) {
            Some(Value::Bool(true)) => return true,
            Some(_) => {}
            None => return false,
        }
    }
    false
}

/// One expiration of one enabled rule: days (0 = unset, as the provider writes it) or a date.
#[derive(Debug, Clone, PartialEq)]
enum Expiry {
    Days(i64),
    Date(String),
}

impl Expiry {
    fn show(&self) -> String {
        match self {
            Expiry::Days(d) => format!("{d} days"),
            Expiry::Date(d) => format!("on {d}"),
        }
    }
}

/// The two expirations a rule can set: `(block, days key, label)`.
const KINDS: &[(&str, &str, &str)] = &[
    ("expiration", "days", "expiration"),
    (
        "noncurrent_version_expiration",
        "noncurrent_days",
        "noncurrent_version_expiration",
    ),
];

fn rules(v: &Value) -> &[Value] {
    v.get("rule")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn enabled(rule: &Value) -> bool {
    rule.get("status").and_then(Value::as_str) == Some("Enabled")
}

fn expiry(rule: &Value, block: &str, days_key: &str) -> Option<Expiry> {
    let b = rule.get(block)?.get(0)?;
    if let Some(d) = b.get(days_key).and_then(Value::as_i64).filter(|d| *d > 0) {
        return Some(Expiry::Days(d));
    }
    b.get("date")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .map(|d| Expiry::Date(d.to_owned()))
}

/// Whether going from `before` to `after` deletes objects sooner (or at all).
fn sooner(before: Option<&Expiry>, after: &Expiry) -> bool {
    match (before, after) {
        (None, _) => true,
        (Some(Expiry::Days(b)), Expiry::Days(a)) => a < b,
        (Some(Expiry::Date(b)), Expiry::Date(a)) => a < b,
        // Days to a date or back: cannot be compared without the objects' ages.
        (Some(_), _) => true,
    }
}

/// The finding for one lifecycle change, when it adds or shortens an expiration.
pub(super) fn expiration_finding(c: &ResourceChange, created: &BTreeSet<&str>) -> Option<Finding> {
    if !(c.is_create() || c.is_update() || c.is_replace()) {
        return None;
    }
    let bucket = c.after.get("bucket").and_then(Value::as_str);
    if c.is_create() {
        // The bucket is made by this plan (named, or referenced and so known only after apply).
        let new_bucket = match bucket {
            Some(b) => created.contains(b),
            None => unknown(&c.after_unknown, "/bucket"),
        };
        if new_bucket {
            return None;
        }
    }
    let before: Vec<&Value> = rules(&c.before).iter().filter(|r| enabled(r)).collect();
    let mut why = Vec::new();
    if unknown(&c.after_unknown, "/rule") {
        why.push("rule: (known after apply: may add or shorten an expiration)".to_owned());
    }
    for (i, rule) in rules(&c.after).iter().enumerate() {
        let id = rule.get("id").and_then(Value::as_str).unwrap_or("");
        let status_unknown = unknown(&c.after_unknown, &format!("/rule/{i}/status"));
        if !enabled(rule) && !status_unknown {
            continue;
        }
        let old = before
            .iter()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(id));
        for (block, days_key, label) in KINDS {
            let was = old.and_then(|r| expiry(r, block, days_key));
            let name = format!("rule {id:?} {label}");
            let ptr = format!("/rule/{i}/{block}/0/{days_key}");
            let date_ptr = format!("/rule/{i}/{block}/0/date");
            if unknown(&c.after_unknown, &ptr) || unknown(&c.after_unknown, &date_ptr) {
                why.push(format!(
                    "{name}: {} → (known after apply: may delete objects sooner)",
                    was.as_ref()
                        .map(Expiry::show)
                        .unwrap_or_else(|| "none".into())
                ));
                continue;
            }
            if let Some(now) = expiry(rule, block, days_key) {
                if sooner(was.as_ref(), &now) {
                    let verb = if was.is_none() { "added" } else { "shortened" };
                    why.push(format!(
                        "{name} {verb}: {} → {}",
                        was.as_ref()
                            .map(Expiry::show)
                            .unwrap_or_else(|| "none".into()),
                        now.show()
                    ));
                }
            }
        }
    }
    if why.is_empty() {
        return None;
    }
    Some(Finding {
        address: c.address.clone(),
        resource_type: c.resource_type.clone(),
        kind: FindingKind::ExpiresData,
        data: format!(
            "objects in bucket {} are deleted by S3 on the new schedule, after apply, with no \
             delete in this plan",
            bucket.unwrap_or("(known after apply)")
        ),
        why: why.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{change, change_unknown};
    use super::super::tests::findings;
    use super::*;
    use serde_json::json;

    const ADDR: &str = "aws_s3_bucket_lifecycle_configuration.l";

    fn lc(rules: Value) -> Value {
        json!({"bucket": "acme-backups", "rule": rules})
    }
    fn rule(id: &str, status: &str, days: i64, noncurrent: i64) -> Value {
        json!({"id": id, "status": status, "filter": [{"prefix": ""}],
            "expiration": [{"days": days, "date": null, "expired_object_delete_marker": false}],
            "noncurrent_version_expiration": [{"noncurrent_days": noncurrent, "newer_noncurrent_versions": null}]})
    }

    #[test]
    fn a_create_against_an_existing_bucket_adds_an_expiration() {
        let f = findings(vec![change(
            ADDR,
            &["create"],
            json!(null),
            lc(json!([rule("old", "Enabled", 30, 0)])),
        )]);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].kind, FindingKind::ExpiresData);
        assert_eq!(f[0].why, "rule \"old\" expiration added: none → 30 days");
        assert!(f[0].data.contains("acme-backups"), "{}", f[0].data);
    }

    #[test]
    fn a_create_with_its_new_bucket_is_not_destructive() {
        let f = findings(vec![
            change(
                "aws_s3_bucket.b",
                &["create"],
                json!(null),
                json!({"bucket": "acme-backups"}),
            ),
            change(
                ADDR,
                &["create"],
                json!(null),
                lc(json!([rule("old", "Enabled", 30, 0)])),
            ),
            // Referencing a bucket made by this plan: its name is unknown.
            change_unknown(
                "aws_s3_bucket_lifecycle_configuration.m",
                &["create"],
                json!(null),
                json!({"rule": [rule("old", "Enabled", 30, 0)]}),
                json!({"bucket": true}),
            ),
        ]);
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn shortened_enabled_or_noncurrent_expirations_are_flagged_longer_ones_not() {
        let before = lc(json!([rule("r", "Enabled", 90, 30)]));
        let cases = [
            (
                lc(json!([rule("r", "Enabled", 7, 30)])),
                Some("rule \"r\" expiration shortened: 90 days → 7 days"),
            ),
            (
                lc(json!([rule("r", "Enabled", 90, 1)])),
                Some("rule \"r\" noncurrent_version_expiration shortened: 30 days → 1 days"),
            ),
            (lc(json!([rule("r", "Enabled", 365, 60)])), None),
            (lc(json!([rule("r", "Disabled", 1, 1)])), None),
            (lc(json!([])), None),
        ];
        for (after, expect) in cases {
            let f = findings(vec![change(ADDR, &["update"], before.clone(), after)]);
            match expect {
                Some(e) => {
                    assert_eq!(f.len(), 1, "{f:#?}");
                    assert_eq!(f[0].why, e);
                }
                None => assert!(f.is_empty(), "{f:#?}"),
            }
        }
        // A disabled rule enabled: its expiration is added.
        let f = findings(vec![change(
            ADDR,
            &["update"],
            lc(json!([rule("r", "Disabled", 5, 0)])),
            lc(json!([rule("r", "Enabled", 5, 0)])),
        )]);
        assert_eq!(f[0].why, "rule \"r\" expiration added: none → 5 days");
        // A new rule id next to an unchanged one.
        let f = findings(vec![change(
            ADDR,
            &["update"],
            before.clone(),
            lc(json!([
                rule("r", "Enabled", 90, 30),
                rule("tmp", "Enabled", 1, 0)
            ])),
        )]);
        assert_eq!(f[0].why, "rule \"tmp\" expiration added: none → 1 days");
    }

    #[test]
    fn expirations_known_only_after_apply_are_flagged() {
        let before = lc(json!([rule("r", "Enabled", 90, 0)]));
        let f = findings(vec![change_unknown(
            ADDR,
            &["update"],
            before.clone(),
            lc(json!([rule("r", "Enabled", 0, 0)])),
            json!({"rule": [{"expiration": [{"days": true}]}]}),
        )]);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].why
                .starts_with("rule \"r\" expiration: 90 days → (known after apply"),
            "{}",
            f[0].why
        );
        let f = findings(vec![change_unknown(
            ADDR,
            &["update"],
            before,
            json!({"bucket": "acme-backups"}),
            json!({"rule": true}),
        )]);
        assert!(
            f[0].why.starts_with("rule: (known after apply"),
            "{}",
            f[0].why
        );
    }
}

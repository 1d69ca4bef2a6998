//! The plan digest an approval names: sha256 over a canonical form of the plan's resource
//! changes, so any change to what the plan would do — another action, address, attribute value —
//! gives another digest, while key order and whitespace of the JSON do not matter.
//!
//! Canonical form: the changes that do something (`no-op` and `read` are left out), sorted by
//! address, each reduced to `address, mode, type, name, index, provider_name, action_reason,
//! change.{actions, before, after, after_unknown, replace_paths}`, written as JSON with object keys
//! sorted by byte order and no whitespace. Written by hand rather than through serde_json's `Map`,
//! whose key order depends on a cargo feature another crate may switch on.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Plan;

const TOP_KEYS: &[&str] = &[
    "address",
    "mode",
    "type",
    "name",
    "index",
    "provider_name",
    "action_reason",
];
const CHANGE_KEYS: &[&str] = &[
    "actions",
    "before",
    "after",
    "after_unknown",
    "replace_paths",
];

/// `sha256:<hex>` of the canonical resource changes.
pub fn plan_digest(plan: &Plan) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(canonical(plan))))
}

/// The canonical bytes the digest is taken over.
pub fn canonical(plan: &Plan) -> Vec<u8> {
    let mut changes: Vec<&super::ResourceChange> =
        plan.changes.iter().filter(|c| !c.is_inert()).collect();
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    let mut out = String::from("[");
    for (i, c) in changes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let mut reduced = serde_json::Map::new();
        for k in TOP_KEYS {
            if let Some(v) = c.raw.get(*k) {
                reduced.insert((*k).to_owned(), v.clone());
            }
        }
        let mut change = serde_json::Map::new();
        if let Some(raw) = c.raw.get("change") {
            for k in CHANGE_KEYS {
                if let Some(v) = raw.get(*k) {
                    change.insert((*k).to_owned(), v.clone());
                }
            }
        }
        reduced.insert("change".into(), Value::Object(change));
        write_canonical(&Value::Object(reduced), &mut out);
    }
    out.push(']');
    out.into_bytes()
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        // Scalars: serde_json's own rendering is deterministic (escapes, shortest float form).
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{change, plan};
    use super::*;
    use serde_json::json;

    fn digest_of(changes: Vec<Value>) -> String {
        plan_digest(&Plan::from_json(&plan(changes), "p").unwrap())
    }

    #[test]
    fn digest_ignores_order_whitespace_and_no_ops_but_not_content() {
        let a = change(
            "aws_s3_bucket.a",
            &["delete"],
            json!({"bucket": "a", "x": 1}),
            json!(null),
        );
        let b = change(
            "aws_db_instance.b",
            &["delete"],
            json!({"identifier": "b"}),
            json!(null),
        );
        let noop = change("aws_iam_role.r", &["no-op"], json!({}), json!({}));
        let d1 = digest_of(vec![a.clone(), b.clone()]);
        assert!(d1.starts_with("sha256:") && d1.len() == 7 + 64, "{d1}");
        assert_eq!(d1, digest_of(vec![b.clone(), noop, a.clone()]));
        // Same JSON, other key order and whitespace.
        let text = plan(vec![a.clone(), b.clone()]);
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        let pretty = serde_json::to_string_pretty(&reparsed).unwrap();
        assert_eq!(d1, plan_digest(&Plan::from_json(&pretty, "p").unwrap()));

        let mut other_value = a.clone();
        other_value["change"]["before"]["x"] = json!(2);
        assert_ne!(d1, digest_of(vec![other_value, b.clone()]));
        let mut other_action = b.clone();
        other_action["change"]["actions"] = json!(["delete", "create"]);
        assert_ne!(d1, digest_of(vec![a.clone(), other_action]));
        assert_ne!(d1, digest_of(vec![a]));
        let mut unknown = b;
        unknown["change"]["after_unknown"] = json!({"identifier": true});
        assert_ne!(d1, digest_of(vec![unknown]));
    }

    #[test]
    fn canonical_form_sorts_keys() {
        let c = change(
            "aws_s3_bucket.a",
            &["create"],
            json!(null),
            json!({"z": 1, "a": [true, null]}),
        );
        let text =
            String::from_utf8(canonical(&Plan::from_json(&plan(vec![c]), "p").unwrap())).unwrap();
        assert!(
            text.contains(r#""after":{"a":[true,null],"z":1}"#),
            "{text}"
        );
        assert!(
            text.starts_with(r#"[{"address":"aws_s3_bucket.a","change":{"actions":["create"]"#),
            "{text}"
        );
    }
}

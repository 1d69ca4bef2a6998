//! The README's source configuration examples parse: every fenced `hcl` block that sets
//! `sources` is given, as a tfvars file, to the stack's own `variable "sources"` (copied from
//! `infra/variables.tf` with the variables its validations read: type and every validation) and
//! applied by real Terraform; the same value untyped must hold no attribute the type dropped. A
//! typo'd attribute, a wrong kind or mode, or a function call (tfvars take none) fails here.

use drill_tests::infra::{repo, terraform_ok};
use serde_json::Value;

/// The text from `start` to its matching closing brace, skipping strings and comments.
fn balanced(text: &str, start: usize) -> &str {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut in_string) = (0i32, start, false);
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_string = true,
                b'#' => {
                    i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                    continue;
                }
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return &text[start..=i];
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    panic!("unbalanced brackets from {start}")
}

/// Every fenced `hcl` block of the README that sets `sources`: each is a tfvars file as shown.
fn readme_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    readme
        .split("```hcl")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_owned())
        .filter(|b| b.contains("sources = ["))
        .collect()
}

/// `variable "<name>" { ... }` from infra/variables.tf.
fn variable(text: &str, name: &str) -> String {
    let at = text
        .find(&format!("variable \"{name}\""))
        .unwrap_or_else(|| panic!("infra/variables.tf declares {name}"));
    let open = at + text[at..].find('{').unwrap();
    format!("variable \"{name}\" {}", balanced(text, open))
}

/// The `sources` variable and every variable its validations refer to.
fn sources_variables() -> String {
    let text = std::fs::read_to_string(repo().join("infra/variables.tf")).unwrap();
    let sources = variable(&text, "sources");
    let mut refs: Vec<&str> = sources
        .match_indices("var.")
        .map(|(i, _)| {
            let rest = &sources[i + 4..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| *name != "sources")
        .collect();
    refs.sort_unstable();
    refs.dedup();
    let mut out = vec![sources.clone()];
    out.extend(refs.iter().map(|name| variable(&text, name)));
    out.join("\n\n")
}

/// The untyped value of `variable "raw"` and its output.
const RAW: &str = "variable \"raw\" {\n  type = any\n}\n\noutput \"raw\" {\n  value = var.raw\n}";

/// Every attribute written in `raw` is one the typed value kept (a typo would be dropped).
fn assert_known(at: &str, raw: &Value, typed: &Value) {
    match (raw, typed) {
        (Value::Object(r), Value::Object(t)) => {
            for (k, v) in r {
                let kept = t.get(k).unwrap_or_else(|| {
                    panic!("{at}: attribute {k:?} is not in variable \"sources\"")
                });
                assert_known(&format!("{at}.{k}"), v, kept);
            }
        }
        (Value::Array(r), Value::Array(t)) => {
            assert_eq!(r.len(), t.len(), "{at}");
            for (i, (a, b)) in r.iter().zip(t).enumerate() {
                assert_known(&format!("{at}[{i}]"), a, b);
            }
        }
        _ => {}
    }
}

#[test]
fn every_readme_sources_example_is_valid_for_the_stacks_variable() {
    let examples = readme_blocks();
    assert!(examples.len() >= 3, "{examples:#?}");
    let mut all: Vec<Value> = Vec::new();
    for (n, example) in examples.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("main.tf"),
            format!(
                "{}\n\n{RAW}\n\noutput \"sources\" {{\n  value = var.sources\n}}\n",
                sources_variables()
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("readme.auto.tfvars"), example).unwrap();
        // The same value untyped: an object type drops attributes it does not know, silently.
        std::fs::write(
            dir.path().join("raw.auto.tfvars"),
            example.replacen("sources = [", "raw = [", 1),
        )
        .unwrap();
        terraform_ok(dir.path(), &["init", "-input=false", "-no-color"]);
        terraform_ok(
            dir.path(),
            &["apply", "-auto-approve", "-input=false", "-no-color"],
        );
        let out = terraform_ok(dir.path(), &["output", "-json", "-no-color", "sources"]);
        let parsed: Vec<Value> =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("example {n}: {e}: {out}"));
        assert!(!parsed.is_empty(), "example {n}");
        let out = terraform_ok(dir.path(), &["output", "-json", "-no-color", "raw"]);
        let raw: Value = serde_json::from_str(&out).unwrap();
        assert_known(&format!("example {n}"), &raw, &Value::from(parsed.clone()));
        all.extend(parsed);
    }
    // Between them, the examples show every kind and mode the issue asks for.
    let shown = |what: &str, ok: &dyn Fn(&Value) -> bool| {
        assert!(all.iter().any(ok), "no README example of {what}");
    };
    let mode = |s: &Value| {
        s["restore"]["mode"]
            .as_str()
            .unwrap_or("snapshot")
            .to_owned()
    };
    shown("an aurora-cluster from a snapshot", &|s| {
        s["kind"] == "aurora-cluster" && mode(s) == "snapshot"
    });
    shown("an aurora-cluster point in time", &|s| {
        s["kind"] == "aurora-cluster" && mode(s) == "point-in-time"
    });
    shown("an instance point in time", &|s| {
        s["kind"] == "rds-snapshot" && mode(s) == "point-in-time"
    });
    shown("an instance from replicated automated backups", &|s| {
        s["kind"] == "rds-snapshot" && s["restore"]["replicated_from"].is_string()
    });
    shown("a backup-set source", &|s| s["kind"] == "backup-set");
    shown("an aurora-cluster with snapshot copies", &|s| {
        s["kind"] == "aurora-cluster" && s["snapshot_copy"]["region"].is_string()
    });
}

/// `sources` (as JSON tfvars) against the stack's variable: Terraform's output on failure.
fn refused(sources: Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        format!(
            "{}\n\noutput \"n\" {{\n  value = length(var.sources)\n}}\n",
            sources_variables()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("t.auto.tfvars.json"),
        serde_json::json!({"sources": sources, "snapshot_copy_regions": ["eu-west-1"]}).to_string(),
    )
    .unwrap();
    terraform_ok(dir.path(), &["init", "-input=false", "-no-color"]);
    let (ok, out) = drill_tests::infra::terraform(
        dir.path(),
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    assert!(!ok, "accepted: {out}");
    out
}

#[test]
fn more_sources_than_the_restore_roles_iam_quotas_hold_and_two_copiers_of_one_cluster_are_refused()
{
    let cluster = |i: usize| {
        serde_json::json!({"id": format!("c{i}"), "kind": "aurora-cluster",
                           "cluster_identifier": format!("orders-{i}"), "database": "app"})
    };
    let out = refused(Value::from((0..41).map(cluster).collect::<Vec<_>>()));
    assert!(out.contains("At most 40"), "{out}");
    let mut twice = vec![cluster(0), cluster(1)];
    twice[1]["cluster_identifier"] = "orders-0".into();
    for s in &mut twice {
        s["snapshot_copy"] = serde_json::json!({"region": "eu-west-1"});
    }
    let out = refused(Value::from(twice));
    assert!(
        out.contains("Only one source per instance or cluster"),
        "{out}"
    );
}

//! A deployment configuration for handler tests: one file per test process (nextest runs each
//! test in its own process) that handlers read through `DRILL_CONFIG_URL`, as they read the
//! Terraform-written object in AWS.

use std::sync::Mutex;

use serde_json::{json, Value};

static DOC: Mutex<Option<Value>> = Mutex::new(None);

fn path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("drill-test-config-{}.json", std::process::id()))
}

/// `file://` URL of this process's configuration.
pub fn url() -> String {
    let mut doc = DOC.lock().unwrap();
    if doc.is_none() {
        *doc = Some(default_doc());
        write(doc.as_ref().unwrap());
    }
    format!("file://{}", path().display())
}

fn default_doc() -> Value {
    json!({
        "temp_prefix": "rdrill-",
        "backups_url": "file:///tmp",
        "object_lock_days": 1,
        "copy_accounts": [],
        "copy_regions": [],
        "sources": []
    })
}

fn write(doc: &Value) {
    let tmp = path().with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    std::fs::rename(&tmp, path()).unwrap();
}

/// Changes the configuration (e.g. allowlists), then rewrites the file.
pub fn edit(f: impl FnOnce(&mut Value)) {
    url();
    let mut doc = DOC.lock().unwrap();
    let d = doc.as_mut().unwrap();
    f(d);
    write(d);
}

/// Adds (or replaces) source `id` with `source` (a `SourceSpec` as JSON), its checks and copy.
pub fn configure_source(
    id: &str,
    source: Value,
    checks: Option<&str>,
    snapshot_copy: Option<Value>,
) {
    edit(|d| {
        let sources = d["sources"].as_array_mut().unwrap();
        sources.retain(|s| s["id"] != id);
        let mut entry = json!({"id": id, "source": source});
        if let Some(c) = checks {
            entry["checks"] = c.into();
        }
        if let Some(c) = snapshot_copy {
            entry["snapshot_copy"] = c;
        }
        sources.push(entry);
    });
}

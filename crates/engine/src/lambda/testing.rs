//! Test support for the functions' unit tests (feature `testing`, enabled only by their
//! dev-dependencies): the sample deployment configuration and sample events the docs show, and a
//! recorder a fake AWS access uses to say which call a handler made.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use drill_core::deployment::DeploymentConfig;
use drill_core::ErrorKind;
use serde_json::{json, Value};

use super::HandlerError;

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// `docs/examples/drill-config.json`: the configuration every sample event is written against.
pub fn sample_config() -> DeploymentConfig {
    let path = repo_path("docs/examples/drill-config.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    DeploymentConfig::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every sample event of `function` (`crates/<function>/events/*.json`), by file stem, sorted.
pub fn sample_events(function: &str) -> Vec<(String, Value)> {
    let dir = repo_path(&format!("crates/{function}/events"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sample events in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_stem().unwrap().to_string_lossy().into_owned(), value)
        })
        .collect()
}

/// The sample event `crates/<function>/events/<name>.json`.
pub fn sample_event(function: &str, name: &str) -> Value {
    sample_events(function)
        .into_iter()
        .find(|(stem, _)| stem == name)
        .unwrap_or_else(|| panic!("no sample event {function}/{name}.json"))
        .1
}

/// Records the AWS calls a handler made; answers each with `{"called": ...}`, or with `fail`.
#[derive(Debug, Default)]
pub struct Recorder {
    calls: RefCell<Vec<String>>,
    fail: Option<HandlerError>,
}

impl Recorder {
    /// Every call fails with `kind` (as the engine reports, e.g., an RDS throttle).
    pub fn failing(kind: ErrorKind) -> Self {
        Recorder {
            calls: RefCell::default(),
            fail: Some(HandlerError::new(kind, "injected failure")),
        }
    }

    /// Records `call` and answers it.
    pub fn call(&self, call: impl Into<String>) -> Result<Value, HandlerError> {
        let call = call.into();
        self.calls.borrow_mut().push(call.clone());
        match &self.fail {
            Some(err) => Err(err.clone()),
            None => Ok(json!({ "called": call })),
        }
    }

    /// The calls made so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

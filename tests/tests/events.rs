//! Every sample event under `crates/<function>/events/` matches that function's contract, so the
//! documented `cargo lambda invoke --data-file` examples stay true.

use std::path::{Path, PathBuf};

use drill_core::events::{DeleteRequest, ExportRequest, RestoreRequest, ValidateRequest};
use serde::de::DeserializeOwned;

fn samples(function: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates")
        .join(function)
        .join("events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sample events in {}", dir.display());
    files
}

fn check<T: DeserializeOwned>(function: &str) -> usize {
    let files = samples(function);
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if let Err(e) = serde_json::from_str::<T>(&text) {
            panic!(
                "{} does not match the {function} contract: {e}",
                file.display()
            );
        }
        // No sample may carry a password: credentials are always a secret reference.
        assert!(
            !text.to_lowercase().contains("password"),
            "{} mentions a password",
            file.display()
        );
    }
    files.len()
}

#[test]
fn restore_samples_match_the_contract() {
    check::<RestoreRequest>("restore");
}

#[test]
fn validate_samples_match_the_contract() {
    check::<ValidateRequest>("validate");
}

#[test]
fn export_samples_match_the_contract() {
    check::<ExportRequest>("export");
}

#[test]
fn delete_temp_samples_match_the_contract() {
    check::<DeleteRequest>("delete-temp");
}

#[test]
fn a_sample_with_a_typo_is_rejected() {
    // The guard against silently ignored input: unknown fields fail.
    let text = std::fs::read_to_string(&samples("export")[0]).unwrap();
    let typo = text.replacen("\"destination\"", "\"destinaton\"", 1);
    assert!(serde_json::from_str::<ExportRequest>(&typo).is_err());
}

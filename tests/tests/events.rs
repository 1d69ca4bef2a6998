//! Every sample event under `crates/<function>/events/` matches that function's contract and the
//! sample deployment configuration (`docs/examples/drill-config.json`), so the documented
//! `cargo lambda invoke --data-file` examples stay true: each names a configured source, and each
//! temp or connection is the one that configuration gives the drill.

use std::path::{Path, PathBuf};

use drill_core::deployment::DeploymentConfig;
use drill_core::events::{DeleteRequest, ExportRequest, ExportUnitsRequest, RestoreRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

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

fn sample_config() -> DeploymentConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/drill-config.json");
    DeploymentConfig::from_json(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check<T: DeserializeOwned>(function: &str) -> Vec<T> {
    let files = samples(function);
    let mut out = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        match serde_json::from_str::<T>(&text) {
            Ok(t) => out.push(t),
            Err(e) => panic!(
                "{} does not match the {function} contract: {e}",
                file.display()
            ),
        }
        // No sample may carry a password: credentials are always a secret reference.
        assert!(
            !text.to_lowercase().contains("password"),
            "{} mentions a password",
            file.display()
        );
    }
    out
}

#[test]
fn restore_samples_match_the_contract_and_the_configuration() {
    let config = sample_config();
    let mut planned = 0;
    for r in check::<RestoreRequest>("restore") {
        match r {
            RestoreRequest::Plan { input } => {
                let input = drill_core::deployment::parse_execution_input(&input).unwrap();
                assert!(!config.plan(&input).unwrap().sources.is_empty());
                planned += 1;
            }
            RestoreRequest::Restore { drill } | RestoreRequest::CopySnapshot { drill } => {
                config.source(&drill.source_id).unwrap();
            }
            RestoreRequest::Status { drill, temp, .. }
            | RestoreRequest::ManageSecret { drill, temp } => {
                config.check_temp(&drill, &temp).unwrap();
            }
        }
    }
    assert_eq!(planned, 1, "one sample of the plan step");
}

#[test]
fn validate_samples_match_the_contract_and_the_configuration() {
    let config = sample_config();
    // The validate function's event is tagged by `action` (none: validate).
    let mut validated = 0;
    for r in check::<Value>("validate") {
        if let validate::ValidateEvent::Validate(r) = validate::ValidateEvent::parse(r).unwrap() {
            config.check_connection(&r.drill, &r.target).unwrap();
            validated += 1;
        }
    }
    assert_eq!(validated, 1, "one sample of the validate action");
}

#[test]
fn export_samples_match_the_contract_and_the_configuration() {
    let config = sample_config();
    // The single-call export and the work-unit actions (tagged by `action`) share the folder.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Sample {
        Units(ExportUnitsRequest),
        Export(ExportRequest),
    }
    let (mut single, mut units) = (0, 0);
    for s in check::<Sample>("export") {
        match s {
            Sample::Export(r) => {
                single += 1;
                config.check_connection(&r.drill, &r.source).unwrap();
            }
            Sample::Units(
                ExportUnitsRequest::PlanUnits { drill, source, .. }
                | ExportUnitsRequest::ExportUnit { drill, source, .. },
            ) => {
                units += 1;
                config.check_connection(&drill, &source).unwrap();
            }
            Sample::Units(ExportUnitsRequest::Finish { drill, .. }) => {
                units += 1;
                config.source(&drill.source_id).unwrap();
            }
        }
    }
    assert_eq!((single, units), (1, 3), "one sample per export action");
}

#[test]
fn delete_temp_samples_match_the_contract_and_the_configuration() {
    let config = sample_config();
    for r in check::<DeleteRequest>("delete-temp") {
        match r {
            DeleteRequest::Delete { drill, temp } => {
                config.check_temp(&drill, &temp).unwrap();
            }
            DeleteRequest::CleanupRestore { drill } | DeleteRequest::ExpireCopies { drill } => {
                config.source(&drill.source_id).unwrap();
            }
            DeleteRequest::Janitor { .. } => {}
        }
    }
}

#[test]
fn a_sample_with_configuration_in_it_is_rejected() {
    // The old event form carried the source's settings: now refused, never silently used.
    let text = std::fs::read_to_string(&samples("export")[0]).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["destination"] = "s3://elsewhere/prod-app".into();
    let err = serde_json::from_value::<ExportRequest>(v).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `destination`"),
        "{err}"
    );
}

#[test]
fn a_sample_with_a_typo_is_rejected() {
    // The guard against silently ignored input: unknown fields fail.
    let text = std::fs::read_to_string(&samples("export")[0]).unwrap();
    let typo = text.replacen("\"data_taken_at\"", "\"data_taken\"", 1);
    assert!(serde_json::from_str::<ExportRequest>(&typo).is_err());
}

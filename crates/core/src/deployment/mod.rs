//! The deployment configuration: what each source is, where its backups go, how long they are
//! locked, and where its snapshot copies may go.
//!
//! Terraform writes it (one JSON object in the backup bucket, versioned there); every function
//! reads it and re-derives what it touches by source id. Execution input and Lambda events are
//! untrusted: an execution names at most which configured source ids to run ([`ExecutionInput`]),
//! and an event names the drill (whose `source_id` selects the configuration) plus what an
//! earlier step produced, which is checked against what the configuration says it must be.
//!
//! This file holds the configuration's types, its loading and internal consistency, and the plan
//! of an execution; `checks.rs` checks what an event claims (copies, temps, connections).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::events::{DrillContext, SnapshotCopySpec, SourceSpec};
use crate::naming;
use crate::point_in_time::RestoreMode;

pub mod aurora;
mod checks;
#[cfg(test)]
mod test_fixtures;

/// Object Lock mode of every backup object: COMPLIANCE only (GOVERNANCE can be bypassed).
pub const OBJECT_LOCK_MODE: &str = "COMPLIANCE";

/// One configured source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub id: String,
    pub source: SourceSpec,
    /// Check configuration (TOML text); defaults apply when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<String>,
    /// The nightly snapshot copy (rds-snapshot sources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_copy: Option<SnapshotCopySpec>,
    /// How an rds-snapshot source is restored: its snapshot (default) or a point in time of its
    /// automated backups (see [`crate::point_in_time`]).
    #[serde(default, skip_serializing_if = "RestoreMode::is_snapshot")]
    pub restore: RestoreMode,
}

/// The whole deployment configuration (`DRILL_CONFIG_URL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Prefix of every temp instance and database (the guards and IAM key on it).
    pub temp_prefix: String,
    /// Backup sets of source `id` go under `<backups_url>/<id>`.
    pub backups_url: String,
    /// Days every backup object is locked (mode is always COMPLIANCE).
    pub object_lock_days: u32,
    /// Accounts snapshot copies may be shared with.
    #[serde(default)]
    pub copy_accounts: Vec<String>,
    /// Regions (other than the drill's own) snapshot copies may be made in.
    #[serde(default)]
    pub copy_regions: Vec<String>,
    pub sources: Vec<SourceConfig>,
}

/// What an execution may say: which configured sources to run (absent or empty = all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
}

/// One Map item of the state machine: only the id and which branch to take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedSource {
    pub id: String,
    pub snapshot_copy: bool,
}

/// Output of the plan step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub sources: Vec<PlannedSource>,
}

/// Why a configuration, an execution input or an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown source id {id:?}: not in the deployment configuration (configured: {known})")]
    UnknownSource { id: String, known: String },
    #[error("deployment configuration: {0}")]
    Invalid(String),
    #[error("execution input: {0} (an execution names only configured source ids, e.g. {{\"sources\": [\"prod-app\"]}}, or {{}} for all)")]
    Input(String),
    #[error("snapshot copy of source {source_id:?} refused before any call: {reason}")]
    CopyNotAllowed { source_id: String, reason: String },
    /// An event names a resource the configuration does not give this drill.
    #[error("refused: {what} {given:?} is not the one source {source_id:?} of drill {drill_id:?} may touch (expected {expected:?})")]
    Mismatch {
        what: &'static str,
        given: String,
        expected: String,
        source_id: String,
        drill_id: String,
    },
}

impl crate::Classified for ConfigError {
    fn kind(&self) -> crate::ErrorKind {
        match self {
            ConfigError::Mismatch { .. } => crate::ErrorKind::GuardViolation,
            _ => crate::ErrorKind::InvalidInput,
        }
    }
}

impl ConfigError {
    /// `given` is not what the configuration says this drill's `what` is.
    fn mismatch(drill: &DrillContext, what: &'static str, given: String, expected: String) -> Self {
        ConfigError::Mismatch {
            what,
            given,
            expected,
            source_id: drill.source_id.clone(),
            drill_id: drill.drill_id.clone(),
        }
    }
}

impl DeploymentConfig {
    /// Parses and checks the configuration document.
    pub fn from_json(text: &[u8]) -> Result<Self, ConfigError> {
        let config: DeploymentConfig = serde_json::from_slice(text)
            .map_err(|e| ConfigError::Invalid(format!("not a valid document: {e}")))?;
        config.check()?;
        Ok(config)
    }

    /// Internal consistency: unique ids, no backup-set source reading its own exports, copies
    /// only for RDS sources and only to allowed accounts and regions.
    pub fn check(&self) -> Result<(), ConfigError> {
        naming::validate_prefix(&self.temp_prefix)
            .map_err(|e| ConfigError::Invalid(format!("temp_prefix: {e}")))?;
        if self.object_lock_days == 0 {
            return Err(ConfigError::Invalid(
                "object_lock_days must be at least 1".into(),
            ));
        }
        let mut seen = BTreeSet::new();
        // The drill's copies are tagged and guarded by the instance or cluster they copy: two
        // copying sources of one database would share and expire each other's copies.
        let mut copied = std::collections::BTreeMap::new();
        for s in &self.sources {
            if let (Some((of, identifier)), Some(_)) =
                (s.source.copied_snapshots(), &s.snapshot_copy)
            {
                if let Some(first) =
                    copied.insert((of, identifier.to_ascii_lowercase()), s.id.as_str())
                {
                    return Err(ConfigError::Invalid(format!(
                        "sources {first:?} and {:?} both have a snapshot_copy of {identifier:?}: one source per instance or cluster may copy its snapshots (they would share and expire each other's copies)",
                        s.id
                    )));
                }
            }
        }
        for s in &self.sources {
            if s.id.is_empty()
                || !s
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            {
                return Err(ConfigError::Invalid(format!(
                    "source id {:?}: letters, digits, '-' and '_' only",
                    s.id
                )));
            }
            if !seen.insert(s.id.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "source id {:?} appears twice",
                    s.id
                )));
            }
            match &s.source {
                SourceSpec::BackupSet { store, .. } => {
                    // Reading its own exports would restore last night's re-export instead of a
                    // real backup.
                    if store.trim_end_matches('/') == self.export_destination(&s.id) {
                        return Err(ConfigError::Invalid(format!(
                            "source {:?}: store {store:?} is its own export destination; name another source's",
                            s.id
                        )));
                    }
                    if s.snapshot_copy.is_some() || !s.restore.is_snapshot() {
                        return Err(ConfigError::Invalid(format!(
                            "source {:?}: snapshot_copy and restore are for rds-snapshot and aurora-cluster sources only",
                            s.id
                        )));
                    }
                }
                SourceSpec::RdsSnapshot { .. } => {
                    if let Some(copy) = &s.snapshot_copy {
                        self.check_copy(&s.id, copy)?;
                    }
                }
                SourceSpec::AuroraCluster { instance, .. } => {
                    instance
                        .check()
                        .map_err(|e| ConfigError::Invalid(format!("source {:?}: {e}", s.id)))?;
                    // Aurora has no cross-region replication of automated backups (that is
                    // RDS instances only): a cluster's copy elsewhere is a snapshot_copy.
                    let replicated = matches!(
                        &s.restore,
                        RestoreMode::PointInTime {
                            replicated_from: Some(_),
                            ..
                        }
                    );
                    if replicated {
                        return Err(ConfigError::Invalid(format!(
                            "source {:?}: restore.replicated_from is for rds-snapshot sources only (Aurora does not replicate automated backups to other regions; use snapshot_copy with a region)",
                            s.id
                        )));
                    }
                    if let Some(copy) = &s.snapshot_copy {
                        self.check_copy(&s.id, copy)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The configuration of source `id`; an unknown id is refused naming it.
    pub fn source(&self, id: &str) -> Result<&SourceConfig, ConfigError> {
        self.sources
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| ConfigError::UnknownSource {
                id: id.to_owned(),
                known: self.known(),
            })
    }

    fn known(&self) -> String {
        let ids: Vec<&str> = self.sources.iter().map(|s| s.id.as_str()).collect();
        if ids.is_empty() {
            "none".into()
        } else {
            ids.join(", ")
        }
    }

    /// Which sources an execution runs: the named ones (each must be configured), or all.
    pub fn plan(&self, input: &ExecutionInput) -> Result<Plan, ConfigError> {
        let wanted: Vec<&SourceConfig> = match input.sources.as_deref() {
            None | Some([]) => self.sources.iter().collect(),
            Some(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    let s = self.source(id)?;
                    if !out.iter().any(|o: &&SourceConfig| o.id == s.id) {
                        out.push(s);
                    }
                }
                out
            }
        };
        Ok(Plan {
            sources: wanted
                .into_iter()
                .map(|s| PlannedSource {
                    id: s.id.clone(),
                    snapshot_copy: s.snapshot_copy.is_some(),
                })
                .collect(),
        })
    }
}

/// Parses an execution's input, refusing anything but source ids.
pub fn parse_execution_input(input: &serde_json::Value) -> Result<ExecutionInput, ConfigError> {
    if input.is_null() {
        return Ok(ExecutionInput::default());
    }
    serde_json::from_value(input.clone()).map_err(|e| ConfigError::Input(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::test_fixtures::*;
    use super::*;
    use crate::snapshots::SnapshotOf;

    #[test]
    fn no_ids_runs_every_source_and_named_ids_only_those() {
        let c = config();
        assert_eq!(c.plan(&ExecutionInput::default()).unwrap().sources.len(), 2);
        let p = c
            .plan(&ExecutionInput {
                sources: Some(vec!["logical".into(), "logical".into()]),
            })
            .unwrap();
        assert_eq!(
            p.sources,
            vec![PlannedSource {
                id: "logical".into(),
                snapshot_copy: false
            }]
        );
    }

    #[test]
    fn an_unknown_id_is_refused_naming_it() {
        let err = config()
            .plan(&ExecutionInput {
                sources: Some(vec!["prod-app".into(), "prod-billing".into()]),
            })
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"prod-billing\""), "{text}");
        assert!(text.contains("prod-app, logical"), "{text}");
    }

    #[test]
    fn execution_input_with_configuration_is_refused() {
        let old = serde_json::json!({"sources": [{"id": "prod-app", "source": {"kind": "rds-snapshot"}}]});
        assert!(matches!(
            parse_execution_input(&old),
            Err(ConfigError::Input(_))
        ));
        let extra = serde_json::json!({"sources": ["prod-app"], "object_lock": {"days": 1}});
        let err = parse_execution_input(&extra).unwrap_err().to_string();
        assert!(err.contains("unknown field `object_lock`"), "{err}");
        assert_eq!(
            parse_execution_input(&serde_json::json!({})).unwrap(),
            ExecutionInput::default()
        );
    }

    #[test]
    fn a_backup_set_store_must_not_be_its_own_exports() {
        let mut c = config();
        if let SourceSpec::BackupSet { store, .. } = &mut c.sources[1].source {
            *store = "s3://b/backups/logical".into();
        }
        assert!(c.check().is_err(), "its own exports are not a backup");
        config().check().unwrap();
    }

    #[test]
    fn an_aurora_source_parses_with_both_modes_and_a_strict_instance() {
        let text = serde_json::json!({
            "temp_prefix": "rdrill-", "backups_url": "s3://b/backups", "object_lock_days": 1,
            "sources": [
                {"id": "orders", "source": {"kind": "aurora-cluster",
                    "cluster_identifier": "orders-aurora", "database": "app"}},
                {"id": "billing", "source": {"kind": "aurora-cluster",
                    "cluster_identifier": "billing-aurora", "database": "app",
                    "instance": {"class": "db.serverless", "min_capacity": 0.5, "max_capacity": 2}},
                 "restore": {"mode": "point-in-time", "moment": "random", "seed": 7}}]
        });
        let c = DeploymentConfig::from_json(text.to_string().as_bytes()).unwrap();
        let SourceSpec::AuroraCluster { instance, .. } = &c.sources[0].source else {
            panic!("{:?}", c.sources[0])
        };
        assert_eq!(instance, &aurora::AuroraInstance::default());
        assert!(!c.sources[1].restore.is_snapshot());
        let typo = text.to_string().replace("\"max_capacity\"", "\"max_acu\"");
        let err = DeploymentConfig::from_json(typo.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_acu"), "{err}");
        let bad = text
            .to_string()
            .replace("\"min_capacity\":0.5", "\"min_capacity\":0.3");
        let err = DeploymentConfig::from_json(bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"billing\""), "{err}");
        let replicated = text
            .to_string()
            .replace("\"seed\":7", "\"seed\":7,\"replicated_from\":\"us-west-2\"");
        let err = DeploymentConfig::from_json(replicated.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("snapshot_copy with a region"), "{err}");
    }

    #[test]
    fn an_aurora_source_takes_a_snapshot_copy_inside_the_allowlists() {
        let text = serde_json::json!({
            "temp_prefix": "rdrill-", "backups_url": "s3://b/backups", "object_lock_days": 1,
            "copy_accounts": ["210987654321"], "copy_regions": ["eu-west-1"],
            "sources": [{"id": "orders", "source": {"kind": "aurora-cluster",
                "cluster_identifier": "orders-aurora", "database": "app"},
                "snapshot_copy": {"region": "eu-west-1", "share_with": ["210987654321"]}}]
        });
        let c = DeploymentConfig::from_json(text.to_string().as_bytes()).unwrap();
        assert_eq!(
            c.sources[0].source.copied_snapshots(),
            Some((SnapshotOf::Cluster, "orders-aurora"))
        );
        let elsewhere = text
            .to_string()
            .replace(r#""region":"eu-west-1""#, r#""region":"ap-south-1""#);
        let err = DeploymentConfig::from_json(elsewhere.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ap-south-1") && err.contains("\"orders\""),
            "{err}"
        );
        // A second copying source of the same cluster (another database in it, say) is refused.
        let mut twice = DeploymentConfig::from_json(text.to_string().as_bytes()).unwrap();
        let mut second = twice.sources[0].clone();
        second.id = "orders-reports".into();
        twice.sources.push(second.clone());
        let err = twice.check().unwrap_err().to_string();
        assert!(
            err.contains("\"orders\"") && err.contains("\"orders-reports\""),
            "{err}"
        );
        // Without its own snapshot_copy it is fine.
        twice.sources[1].snapshot_copy = None;
        twice.check().unwrap();
        let stranger = text.to_string().replace(
            r#""share_with":["210987654321"]"#,
            r#""share_with":["999999999999"]"#,
        );
        assert!(DeploymentConfig::from_json(stranger.as_bytes()).is_err());
    }

    #[test]
    fn a_point_in_time_mode_parses_and_only_for_rds_sources() {
        let text = serde_json::json!({
            "temp_prefix": "rdrill-", "backups_url": "s3://b/backups", "object_lock_days": 1,
            "sources": [{"id": "prod", "source": {"kind": "rds-snapshot",
                "instance_identifier": "prod-1", "database": "app"},
                "restore": {"mode": "point-in-time", "moment": "random", "seed": 42}}]
        });
        let c = DeploymentConfig::from_json(text.to_string().as_bytes()).unwrap();
        assert_eq!(
            c.sources[0].restore,
            RestoreMode::PointInTime {
                moment: crate::point_in_time::Moment::Random,
                seed: Some(42),
                replicated_from: None
            }
        );
        let mut bad = config();
        bad.sources[1].restore = c.sources[0].restore.clone();
        let err = bad.check().unwrap_err().to_string();
        assert!(err.contains("\"logical\""), "{err}");
        let typo = text.to_string().replace("\"random\"", "\"randon\"");
        assert!(DeploymentConfig::from_json(typo.as_bytes()).is_err());
    }
}

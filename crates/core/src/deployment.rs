//! The deployment configuration: what each source is, where its backups go, how long they are
//! locked, and where its snapshot copies may go.
//!
//! Terraform writes it (one JSON object in the backup bucket, versioned there); every function
//! reads it and re-derives what it touches by source id. Execution input and Lambda events are
//! untrusted: an execution names at most which configured source ids to run ([`ExecutionInput`]),
//! and an event names the drill (whose `source_id` selects the configuration) plus what an
//! earlier step produced, which is checked against what the configuration says it must be.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::events::{
    ConnectionSpec, DrillContext, SecretRef, SnapshotCopySpec, SourceSpec, TempResource, TlsMode,
};
use crate::naming;

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
                    if s.snapshot_copy.is_some() {
                        return Err(ConfigError::Invalid(format!(
                            "source {:?}: snapshot_copy is for rds-snapshot sources only",
                            s.id
                        )));
                    }
                }
                SourceSpec::RdsSnapshot { .. } => {
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

    /// A snapshot copy may go only to allowed regions and be shared only with allowed accounts
    /// (and never with `all`); checked before any AWS call.
    pub fn check_copy(&self, source_id: &str, copy: &SnapshotCopySpec) -> Result<(), ConfigError> {
        let refuse = |reason: String| ConfigError::CopyNotAllowed {
            source_id: source_id.to_owned(),
            reason,
        };
        if let Some(region) = &copy.region {
            if !self.copy_regions.iter().any(|r| r == region) {
                return Err(refuse(format!(
                    "region {region:?} is not in copy_regions [{}]",
                    self.copy_regions.join(", ")
                )));
            }
        }
        for account in &copy.share_with {
            if !self.copy_accounts.iter().any(|a| a == account) {
                return Err(refuse(format!(
                    "account {account:?} is not in copy_accounts [{}]",
                    self.copy_accounts.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Where source `id`'s backup sets are written.
    pub fn export_destination(&self, source_id: &str) -> String {
        format!("{}/{source_id}", self.backups_url.trim_end_matches('/'))
    }

    /// The temp resource a drill of this source creates, as the restore names it.
    pub fn expected_temp(
        &self,
        source: &SourceConfig,
        drill: &DrillContext,
    ) -> Result<TempResource, ConfigError> {
        let invalid = |e: naming::NamingError| ConfigError::Invalid(e.to_string());
        Ok(match &source.source {
            SourceSpec::RdsSnapshot {
                instance_identifier,
                database,
                ..
            } => TempResource::RdsInstance {
                identifier: naming::temp_identifier(
                    &self.temp_prefix,
                    instance_identifier,
                    &drill.drill_id,
                    drill.started_at,
                )
                .map_err(invalid)?,
                secret_id: None,
                database: database.clone(),
            },
            SourceSpec::BackupSet { server, .. } => TempResource::Database {
                name: crate::tempdb::temp_database_name(
                    &self.temp_prefix,
                    &source.id,
                    &drill.drill_id,
                    drill.started_at,
                )
                .map_err(invalid)?,
                server: server.clone(),
            },
        })
    }

    /// Checks that `given` is this drill's temp resource (name, database, server); returns it
    /// as the configuration says it is.
    pub fn check_temp(
        &self,
        drill: &DrillContext,
        given: &TempResource,
    ) -> Result<TempResource, ConfigError> {
        let source = self.source(&drill.source_id)?;
        let expected = self.expected_temp(source, drill)?;
        let mismatch = |what, given, expected| ConfigError::mismatch(drill, what, given, expected);
        match (&expected, given) {
            (
                TempResource::RdsInstance {
                    identifier: want,
                    database: want_db,
                    ..
                },
                TempResource::RdsInstance {
                    identifier,
                    database,
                    secret_id,
                },
            ) => {
                if identifier != want {
                    return Err(mismatch("temp instance", identifier.clone(), want.clone()));
                }
                if database != want_db {
                    return Err(mismatch("database", database.clone(), want_db.clone()));
                }
                Ok(TempResource::RdsInstance {
                    identifier: want.clone(),
                    secret_id: secret_id.clone(),
                    database: want_db.clone(),
                })
            }
            (
                TempResource::Database {
                    name: want,
                    server: want_server,
                },
                TempResource::Database { name, server },
            ) => {
                if name != want {
                    return Err(mismatch("temp database", name.clone(), want.clone()));
                }
                if !same_server(server, want_server) {
                    return Err(mismatch(
                        "restore server",
                        describe(server),
                        describe(want_server),
                    ));
                }
                Ok(expected.clone())
            }
            (e, g) => Err(mismatch(
                "temp resource kind",
                kind(g).into(),
                kind(e).into(),
            )),
        }
    }

    /// Checks the connection an event gives for validating or exporting this drill's temp: for
    /// an RDS temp, its endpoint must be the temp instance's and the database the configured
    /// one; for a backup-set temp, server and database are the configuration's. Returns the
    /// connection to use.
    pub fn check_connection(
        &self,
        drill: &DrillContext,
        given: &ConnectionSpec,
    ) -> Result<ConnectionSpec, ConfigError> {
        let source = self.source(&drill.source_id)?;
        let expected = self.expected_temp(source, drill)?;
        let mismatch = |what, given, expected| ConfigError::mismatch(drill, what, given, expected);
        match expected {
            TempResource::RdsInstance {
                identifier,
                database,
                ..
            } => {
                // RDS endpoints are `<identifier>.<random>.<region>.rds.amazonaws.com`.
                let host_id = given.host.split('.').next().unwrap_or_default();
                if !host_id.eq_ignore_ascii_case(&identifier) || !given.host.contains('.') {
                    return Err(mismatch(
                        "host",
                        given.host.clone(),
                        format!("{identifier}.<...>"),
                    ));
                }
                if given.database != database {
                    return Err(mismatch("database", given.database.clone(), database));
                }
                // The event may not choose how the credentials travel: only a temp's own
                // RDS-managed secret (`rds!db-...`, what status reports), only over verified TLS.
                // Otherwise a direct invoke could send another secret the role can read (a
                // restore server's admin, an environment variable) to a host of its choosing.
                if given.tls != TlsMode::VerifyFull {
                    return Err(mismatch(
                        "tls",
                        format!("{:?}", given.tls),
                        "VerifyFull".into(),
                    ));
                }
                match &given.secret {
                    SecretRef::SecretsManager { secret_id }
                        if secret_id.starts_with("rds!db-")
                            || secret_id.contains(":secret:rds!db-") => {}
                    other => {
                        return Err(mismatch(
                            "secret",
                            match other {
                                SecretRef::SecretsManager { secret_id } => secret_id.clone(),
                                SecretRef::Env { var } => format!("env {var}"),
                            },
                            "the temp's RDS-managed secret (rds!db-...)".into(),
                        ))
                    }
                }
                Ok(given.clone())
            }
            TempResource::Database { name, server } => {
                let want = ConnectionSpec {
                    database: name,
                    ..server
                };
                if given.host != want.host
                    || given.port != want.port
                    || given.secret != want.secret
                    || given.database != want.database
                {
                    return Err(mismatch("connection", describe(given), describe(&want)));
                }
                Ok(want)
            }
        }
    }
}

fn same_server(a: &ConnectionSpec, b: &ConnectionSpec) -> bool {
    a.host == b.host
        && a.port == b.port
        && a.secret == b.secret
        && a.database == b.database
        && a.tls == b.tls
}

fn describe(c: &ConnectionSpec) -> String {
    let tls = match c.tls {
        TlsMode::VerifyFull => "verify-full",
        TlsMode::Disable => "disable",
    };
    format!("{}:{}/{} (tls {tls})", c.host, c.port, c.database)
}

fn kind(t: &TempResource) -> &'static str {
    match t {
        TempResource::RdsInstance { .. } => "rds-instance",
        TempResource::Database { .. } => "database",
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
    use super::*;
    use crate::events::{SecretRef, SnapshotSelector};
    use chrono::TimeZone;

    fn rds(id: &str, instance: &str) -> SourceConfig {
        SourceConfig {
            id: id.into(),
            source: SourceSpec::RdsSnapshot {
                instance_identifier: instance.into(),
                snapshot: SnapshotSelector::Newest,
                max_age_hours: None,
                database: "app".into(),
                parameter_group: None,
            },
            checks: None,
            snapshot_copy: None,
        }
    }

    fn server() -> ConnectionSpec {
        ConnectionSpec {
            host: "scratch.example".into(),
            port: 5432,
            database: "postgres".into(),
            secret: SecretRef::SecretsManager {
                secret_id: "arn:secret".into(),
            },
            tls: TlsMode::VerifyFull,
        }
    }

    fn config() -> DeploymentConfig {
        DeploymentConfig {
            temp_prefix: "rdrill-".into(),
            backups_url: "s3://b/backups".into(),
            object_lock_days: 35,
            copy_accounts: vec!["210987654321".into()],
            copy_regions: vec!["eu-west-1".into()],
            sources: vec![
                rds("prod-app", "prod-app"),
                SourceConfig {
                    id: "logical".into(),
                    source: SourceSpec::BackupSet {
                        store: "s3://b/backups/prod-app".into(),
                        server: server(),
                        max_age_hours: None,
                        no_owner: false,
                    },
                    checks: None,
                    snapshot_copy: None,
                },
            ],
        }
    }

    fn drill(source: &str) -> DrillContext {
        DrillContext {
            drill_id: "night-1-x".into(),
            source_id: source.into(),
            started_at: chrono::Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap(),
        }
    }

    fn copy(region: Option<&str>, accounts: &[&str]) -> SnapshotCopySpec {
        SnapshotCopySpec {
            region: region.map(str::to_owned),
            kms_key_id: None,
            share_with: accounts.iter().map(|a| (*a).to_owned()).collect(),
            retention_days: 7,
            keep_newest: 2,
        }
    }

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
    fn copies_only_to_allowed_regions_and_accounts() {
        let c = config();
        c.check_copy("prod-app", &copy(None, &[])).unwrap();
        c.check_copy("prod-app", &copy(Some("eu-west-1"), &["210987654321"]))
            .unwrap();
        let e = c
            .check_copy("prod-app", &copy(Some("ap-south-1"), &[]))
            .unwrap_err();
        assert!(e.to_string().contains("ap-south-1"), "{e}");
        let e = c
            .check_copy("prod-app", &copy(None, &["999999999999"]))
            .unwrap_err();
        assert!(e.to_string().contains("999999999999"), "{e}");
        let e = c.check_copy("prod-app", &copy(None, &["all"])).unwrap_err();
        assert!(e.to_string().contains("\"all\""), "{e}");
        // A configuration that breaks its own allowlist does not load.
        let mut bad = config();
        bad.sources[0].snapshot_copy = Some(copy(None, &["999999999999"]));
        assert!(bad.check().is_err());
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
    fn the_temp_must_be_the_one_this_drill_creates() {
        let c = config();
        let d = drill("prod-app");
        let TempResource::RdsInstance { identifier, .. } =
            c.expected_temp(c.source("prod-app").unwrap(), &d).unwrap()
        else {
            panic!()
        };
        let ok = TempResource::RdsInstance {
            identifier: identifier.clone(),
            secret_id: None,
            database: "app".into(),
        };
        c.check_temp(&d, &ok).unwrap();
        let other = TempResource::RdsInstance {
            identifier: "rdrill-prod-app-202611200300-deadbeef".into(),
            secret_id: None,
            database: "app".into(),
        };
        let e = c.check_temp(&d, &other).unwrap_err();
        assert!(matches!(e, ConfigError::Mismatch { .. }), "{e}");
        // Another drill id gives another identifier.
        let mut d2 = d.clone();
        d2.drill_id = "night-2-x".into();
        assert!(c.check_temp(&d2, &ok).is_err());
    }

    #[test]
    fn connections_are_the_temps_own() {
        let c = config();
        let d = drill("prod-app");
        let TempResource::RdsInstance { identifier, .. } =
            c.expected_temp(c.source("prod-app").unwrap(), &d).unwrap()
        else {
            panic!()
        };
        let conn = ConnectionSpec {
            host: format!("{identifier}.abc.us-east-1.rds.amazonaws.com"),
            port: 5432,
            database: "app".into(),
            secret: SecretRef::SecretsManager {
                secret_id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1a2b"
                    .into(),
            },
            tls: TlsMode::VerifyFull,
        };
        c.check_connection(&d, &conn).unwrap();
        // The event cannot pick the credentials or drop TLS.
        for (what, bad) in [
            (
                "secret",
                ConnectionSpec {
                    secret: SecretRef::SecretsManager {
                        secret_id:
                            "arn:aws:secretsmanager:us-east-1:123456789012:secret:scratch-admin"
                                .into(),
                    },
                    ..conn.clone()
                },
            ),
            (
                "secret",
                ConnectionSpec {
                    secret: SecretRef::Env {
                        var: "AWS_SECRET_ACCESS_KEY".into(),
                    },
                    ..conn.clone()
                },
            ),
            (
                "tls",
                ConnectionSpec {
                    tls: TlsMode::Disable,
                    ..conn.clone()
                },
            ),
        ] {
            let e = c.check_connection(&d, &bad).unwrap_err();
            assert!(
                matches!(&e, ConfigError::Mismatch { what: w, .. } if *w == what),
                "{e}"
            );
        }
        let prod = ConnectionSpec {
            host: "prod-app.abc.us-east-1.rds.amazonaws.com".into(),
            ..conn.clone()
        };
        assert!(c.check_connection(&d, &prod).is_err());
        let other_db = ConnectionSpec {
            database: "billing".into(),
            ..conn
        };
        assert!(c.check_connection(&d, &other_db).is_err());
    }
}

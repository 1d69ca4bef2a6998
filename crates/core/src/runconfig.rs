//! Configuration of a local drill (`drill run --config drill.toml`).
//!
//! Built from the same pieces the Lambdas take, so one description of a source serves both: the
//! source and the restore server are [`ConnectionSpec`]s (host, port, database, a secret
//! reference, TLS mode — as in the events), and `[checks]` is exactly the validate Lambda's
//! check configuration ([`CheckConfig`], `docs/validation.md`).
//!
//! ```toml
//! source_id = "prod-app"
//! store = "file:///var/backups/restore-drill"
//! [source]
//! host = "db.internal"
//! port = 5432
//! database = "app"
//! secret = { env = { var = "DRILL_SOURCE_URL" } }
//! [checks.row_counts]
//! max_drop_percent = 5.0
//! ```

use serde::{Deserialize, Serialize};

use crate::checks::{CheckConfig, ConfigError};
use crate::events::ConnectionSpec;
use crate::naming::{validate_prefix, DEFAULT_PREFIX};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Names the source in reports, backup set paths and temp database names.
    pub source_id: String,
    /// Backup store: `file:///dir` or `s3://bucket/prefix`.
    pub store: String,
    /// Report history of this source; default `<store>/history/<source_id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<String>,
    /// Prefix of temporary databases (the first drop guard).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Parallel COPY workers for export and restore.
    #[serde(default = "default_jobs")]
    pub jobs: u16,
    /// Databases never dropped, besides the source and the maintenance databases.
    #[serde(default)]
    pub protected: Vec<String>,
    /// The database to export and drill.
    pub source: ConnectionSpec,
    /// Where temporary databases are created: an administrative database on a server where the
    /// role may create databases. Default: the source's server, database `postgres`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_server: Option<ConnectionSpec>,
    #[serde(default)]
    pub checks: CheckConfig,
    /// `[sandbox]`: lifetime cap and the diff's destructive share (`drill sandbox`).
    #[serde(default)]
    pub sandbox: crate::sandboxdb::SandboxSettings,
}

fn default_prefix() -> String {
    DEFAULT_PREFIX.to_owned()
}

fn default_jobs() -> u16 {
    2
}

impl RunConfig {
    /// Parses and validates a configuration file.
    pub fn from_toml(text: &str) -> Result<RunConfig, ConfigError> {
        let value: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        // The checks go through the validate Lambda's own parser, so they are validated (and
        // explained) exactly as there.
        if let Some(checks) = value.get("checks") {
            let text = toml::to_string(checks).map_err(|e| ConfigError::Parse(e.to_string()))?;
            CheckConfig::from_toml(&text)
                .map_err(|e| ConfigError::Invalid(format!("[checks]: {e}")))?;
        }
        let config: RunConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.source_id.trim().is_empty() {
            return bad("source_id must not be empty".into());
        }
        for (what, url) in [
            ("store", Some(&self.store)),
            ("history", self.history.as_ref()),
        ] {
            if let Some(url) = url {
                if !(url.starts_with("file:///") || url.starts_with("s3://")) {
                    return bad(format!(
                        "{what} = {url:?} must be file:///absolute/dir or s3://bucket/prefix"
                    ));
                }
            }
        }
        validate_prefix(&self.prefix).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if !(1..=64).contains(&self.jobs) {
            return bad(format!("jobs must be between 1 and 64 (got {})", self.jobs));
        }
        if self.source.host.is_empty() || self.source.database.is_empty() {
            return bad("[source] needs host and database".into());
        }
        Ok(())
    }

    /// The history store URL.
    pub fn history_url(&self) -> String {
        self.history.clone().unwrap_or_else(|| {
            format!(
                "{}/history/{}",
                self.store.trim_end_matches('/'),
                self.source_id
            )
        })
    }

    /// The server where temp databases are created.
    pub fn restore_server(&self) -> ConnectionSpec {
        self.restore_server.clone().unwrap_or_else(|| {
            let mut s = self.source.clone();
            s.database = "postgres".into();
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{SecretRef, TlsMode};

    const EXAMPLE: &str = r#"
source_id = "prod-app"
store = "file:///var/backups/drill"
[source]
host = "db.internal"
port = 5432
database = "app"
secret = { env = { var = "DRILL_SOURCE_URL" } }
[checks]
exclude_schemas = ["audit"]
[checks.row_counts]
max_drop_percent = 5.0
[[checks.sql]]
name = "users"
query = "SELECT count(*) FROM users"
expect = { at_least = 1 }
"#;

    #[test]
    fn the_example_parses_with_defaults() {
        let c = RunConfig::from_toml(EXAMPLE).unwrap();
        assert_eq!(c.prefix, DEFAULT_PREFIX);
        assert_eq!(c.jobs, 2);
        assert_eq!(c.source.tls, TlsMode::VerifyFull);
        assert_eq!(
            c.source.secret,
            SecretRef::Env {
                var: "DRILL_SOURCE_URL".into()
            }
        );
        assert_eq!(c.checks.row_counts.max_drop_percent, 5.0);
        assert_eq!(c.checks.sql.len(), 1);
        assert_eq!(
            c.history_url(),
            "file:///var/backups/drill/history/prod-app"
        );
        let server = c.restore_server();
        assert_eq!(
            (server.host.as_str(), server.database.as_str()),
            ("db.internal", "postgres")
        );
    }

    #[test]
    fn typos_and_bad_values_are_rejected_with_the_field_named() {
        let typo = EXAMPLE.replace("source_id", "sourceid");
        assert!(RunConfig::from_toml(&typo).is_err());
        let bad_checks = EXAMPLE.replace("max_drop_percent = 5.0", "max_drop_percent = 500.0");
        let e = RunConfig::from_toml(&bad_checks).unwrap_err().to_string();
        assert!(
            e.contains("[checks]") && e.contains("between 0 and 100"),
            "{e}"
        );
        let bad_store = EXAMPLE.replace("file:///var/backups/drill", "/var/backups");
        assert!(RunConfig::from_toml(&bad_store)
            .unwrap_err()
            .to_string()
            .contains("store"));
        let bad_prefix = format!("prefix = \"Prod\"\n{EXAMPLE}");
        assert!(RunConfig::from_toml(&bad_prefix).is_err());
        let jobs = format!("jobs = 0\n{EXAMPLE}");
        assert!(RunConfig::from_toml(&jobs)
            .unwrap_err()
            .to_string()
            .contains("jobs"));
    }
}

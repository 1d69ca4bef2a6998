//! What an event may claim, checked against the configuration before any AWS call: a snapshot
//! copy's region and accounts, the temp resource a drill creates, the connection to validate or
//! export it over.

use super::{ConfigError, DeploymentConfig, SourceConfig};
use crate::events::{
    ConnectionSpec, DrillContext, SecretRef, SnapshotCopySpec, SourceSpec, TempResource, TlsMode,
};
use crate::naming;

impl DeploymentConfig {
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
            SourceSpec::AuroraCluster {
                cluster_identifier,
                database,
                ..
            } => {
                let (identifier, instance) = super::aurora::temp_names(
                    &self.temp_prefix,
                    cluster_identifier,
                    &drill.drill_id,
                    drill.started_at,
                )
                .map_err(invalid)?;
                TempResource::RdsCluster {
                    identifier,
                    instance,
                    database: database.clone(),
                }
            }
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
            (TempResource::RdsCluster { .. }, TempResource::RdsCluster { .. }) => {
                // Every field is derived from the drill and the configuration: all must match.
                if given != &expected {
                    return Err(mismatch(
                        "temp cluster",
                        format!("{given:?}"),
                        format!("{expected:?}"),
                    ));
                }
                Ok(expected.clone())
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
            } => check_rds_connection(given, &identifier, &database, "rds!db-", mismatch),
            // Cluster endpoints are `<identifier>.cluster-<random>.<region>.rds.amazonaws.com`;
            // the cluster's managed secret is `rds!cluster-...`.
            TempResource::RdsCluster {
                identifier,
                database,
                ..
            } => check_rds_connection(given, &identifier, &database, "rds!cluster-", mismatch),
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

/// The connection to an RDS temp (instance or cluster): its own endpoint, the configured
/// database, its own RDS-managed secret, verified TLS.
fn check_rds_connection(
    given: &ConnectionSpec,
    identifier: &str,
    database: &str,
    secret_prefix: &str,
    mismatch: impl Fn(&'static str, String, String) -> ConfigError,
) -> Result<ConnectionSpec, ConfigError> {
    // RDS endpoints are `<identifier>.<random>.<region>.rds.amazonaws.com`.
    let host_id = given.host.split('.').next().unwrap_or_default();
    if !host_id.eq_ignore_ascii_case(identifier) || !given.host.contains('.') {
        return Err(mismatch(
            "host",
            given.host.clone(),
            format!("{identifier}.<...>"),
        ));
    }
    if given.database != database {
        return Err(mismatch(
            "database",
            given.database.clone(),
            database.to_owned(),
        ));
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
            if secret_id.starts_with(secret_prefix)
                || secret_id.contains(&format!(":secret:{secret_prefix}")) => {}
        other => {
            return Err(mismatch(
                "secret",
                match other {
                    SecretRef::SecretsManager { secret_id } => secret_id.clone(),
                    SecretRef::Env { var } => format!("env {var}"),
                },
                format!("the temp's RDS-managed secret ({secret_prefix}...)"),
            ))
        }
    }
    Ok(given.clone())
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
        TempResource::RdsCluster { .. } => "rds-cluster",
        TempResource::Database { .. } => "database",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::*;
    use super::*;

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

    #[test]
    fn an_aurora_temp_and_its_connection_are_the_clusters_own() {
        let mut c = config();
        c.sources.push(SourceConfig {
            id: "orders".into(),
            source: SourceSpec::AuroraCluster {
                cluster_identifier: "orders-aurora".into(),
                snapshot: Default::default(),
                max_age_hours: None,
                database: "app".into(),
                cluster_parameter_group: None,
                instance: Default::default(),
            },
            checks: None,
            snapshot_copy: None,
            restore: Default::default(),
        });
        let d = drill("orders");
        let temp = c.expected_temp(c.source("orders").unwrap(), &d).unwrap();
        let TempResource::RdsCluster {
            identifier,
            instance,
            database,
        } = &temp
        else {
            panic!("{temp:?}")
        };
        assert!(
            identifier.starts_with("rdrill-orders-aurora-"),
            "{identifier}"
        );
        assert_ne!(identifier, instance);
        assert_eq!(database, "app");
        assert_eq!(c.check_temp(&d, &temp).unwrap(), temp);
        // Another instance in the right cluster, or the instance kind, is not this drill's.
        let other = TempResource::RdsCluster {
            identifier: identifier.clone(),
            instance: "prod-writer".into(),
            database: "app".into(),
        };
        assert!(matches!(
            c.check_temp(&d, &other),
            Err(ConfigError::Mismatch { .. })
        ));
        let as_instance = TempResource::RdsInstance {
            identifier: identifier.clone(),
            secret_id: None,
            database: "app".into(),
        };
        assert!(c.check_temp(&d, &as_instance).is_err());
        let conn = ConnectionSpec {
            host: format!("{identifier}.cluster-abc.us-east-1.rds.amazonaws.com"),
            port: 5432,
            database: "app".into(),
            secret: SecretRef::SecretsManager {
                secret_id: "arn:aws:secretsmanager:us-east-1:1:secret:rds!cluster-1a2b".into(),
            },
            tls: TlsMode::VerifyFull,
        };
        c.check_connection(&d, &conn).unwrap();
        let instance_secret = ConnectionSpec {
            secret: SecretRef::SecretsManager {
                secret_id: "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-1a2b".into(),
            },
            ..conn.clone()
        };
        assert!(c.check_connection(&d, &instance_secret).is_err());
        let prod = ConnectionSpec {
            host: "orders-aurora.cluster-abc.us-east-1.rds.amazonaws.com".into(),
            ..conn
        };
        assert!(c.check_connection(&d, &prod).is_err());
    }
}

//! Where a function connects on a local test stack: moto's RDS endpoints are names, not servers,
//! so `DRILL_RDS_PG_OVERRIDE=127.0.0.1:PORT` (validate, export) and `DRILL_SANDBOX_PG_OVERRIDE`
//! (sandbox) send the connection to the stack's PostgreSQL instead. Only 127.0.0.1, and always in
//! plaintext, which the functions refuse unless `DRILL_ALLOW_PLAINTEXT=true`: in AWS an override
//! can neither reach another host nor carry a password without that second, local-only switch.

use crate::events::{ConnectionSpec, TlsMode};

/// The validate and export functions' override of an RDS temp's endpoint.
pub const RDS_PG_OVERRIDE_VAR: &str = "DRILL_RDS_PG_OVERRIDE";

/// A connection override to `127.0.0.1:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOverride {
    pub port: u16,
}

/// An override that is not `127.0.0.1:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?}: only 127.0.0.1:PORT (local test stacks)")]
pub struct OverrideError {
    pub var: String,
    pub value: String,
}

impl PgOverride {
    /// The override the variable `var` holds; unset or empty is none.
    pub fn parse(var: &str, value: Option<&str>) -> Result<Option<PgOverride>, OverrideError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        value
            .strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .map(|port| Some(PgOverride { port }))
            .ok_or_else(|| OverrideError {
                var: var.to_owned(),
                value: value.to_owned(),
            })
    }

    pub const HOST: &'static str = "127.0.0.1";

    /// `spec` sent to the override: same database and secret, 127.0.0.1, plaintext (the stack's
    /// PostgreSQL has no certificate; the plaintext check that follows still applies).
    pub fn apply(&self, spec: &ConnectionSpec) -> ConnectionSpec {
        ConnectionSpec {
            host: Self::HOST.to_owned(),
            port: self.port,
            tls: TlsMode::Disable,
            ..spec.clone()
        }
    }
}

/// `spec` as a function connects to it: through `over` when set.
pub fn reach(spec: &ConnectionSpec, over: Option<&PgOverride>) -> ConnectionSpec {
    over.map_or_else(|| spec.clone(), |o| o.apply(spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::SecretRef;

    fn spec() -> ConnectionSpec {
        ConnectionSpec {
            host: "rdrill-x.cluster-abc.us-east-1.rds.amazonaws.com".into(),
            port: 5432,
            database: "app".into(),
            secret: SecretRef::SecretsManager {
                secret_id: "arn:aws:secretsmanager:us-east-1:1:secret:rds!cluster-1".into(),
            },
            tls: TlsMode::VerifyFull,
        }
    }

    #[test]
    fn only_loopback_with_a_port_is_an_override() {
        let p = |v| PgOverride::parse(RDS_PG_OVERRIDE_VAR, v);
        assert_eq!(p(None), Ok(None));
        assert_eq!(p(Some("  ")), Ok(None));
        assert_eq!(
            p(Some("127.0.0.1:6543")),
            Ok(Some(PgOverride { port: 6543 }))
        );
        for bad in [
            "10.0.0.1:5432",
            "localhost:5432",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:99999",
            "127.0.0.10:5432",
            "db.example.com:5432",
        ] {
            let err = p(Some(bad)).unwrap_err();
            assert!(err.to_string().contains(RDS_PG_OVERRIDE_VAR), "{err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn an_override_keeps_database_and_secret_and_drops_tls() {
        let over = PgOverride { port: 6543 };
        let got = reach(&spec(), Some(&over));
        assert_eq!(got.host, "127.0.0.1");
        assert_eq!(got.port, 6543);
        assert_eq!(got.tls, TlsMode::Disable);
        assert_eq!(got.database, spec().database);
        assert_eq!(got.secret, spec().secret);
        assert_eq!(reach(&spec(), None), spec());
    }
}

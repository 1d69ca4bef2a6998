//! The credentials sequence every function runs before it connects to PostgreSQL: verified TLS
//! first, then the connection's secret (Secrets Manager in AWS, an environment variable locally).

use drill_core::events::{ConnectionSpec, SecretRef, TlsMode};
use drill_core::pg_override::PgOverride;
use drill_core::ErrorKind;

use super::HandlerError;
use crate::pg::{resolve_secret, Credentials, Database};

pub use crate::pg::{allow_plaintext, ALLOW_PLAINTEXT_VAR};

/// A function never sends a credential over plaintext in AWS: anyone who may start an execution
/// could otherwise name any host with `tls: disable` and receive the restore server's password.
/// With verify-full, a host without a certificate from the CA bundle never sees the password.
pub fn require_tls(spec: &ConnectionSpec, allow_plaintext: bool) -> Result<(), HandlerError> {
    if spec.tls == TlsMode::Disable && !allow_plaintext {
        return Err(HandlerError::new(
            ErrorKind::InvalidInput,
            format!(
                "connection to {}:{}/{} asks for tls = \"disable\"; the functions only connect with \
                 verified TLS (set {ALLOW_PLAINTEXT_VAR}=true only on a local test stack)",
                spec.host, spec.port, spec.database
            ),
        ));
    }
    Ok(())
}

/// The credentials for `spec`, only once its TLS mode is acceptable: the password is never
/// fetched for a connection that would send it in the clear.
async fn credentials(
    spec: &ConnectionSpec,
    allow_plaintext: bool,
    aws: &aws_config::SdkConfig,
) -> Result<Credentials, HandlerError> {
    require_tls(spec, allow_plaintext)?;
    let secrets = match &spec.secret {
        SecretRef::SecretsManager { .. } => Some(crate::aws::secrets_client(aws)),
        SecretRef::Env { .. } => None,
    };
    Ok(resolve_secret(&spec.secret, secrets.as_ref()).await?)
}

/// The database `spec` names, with its credentials, only once its TLS mode is acceptable: the
/// one connection descriptor every function connects through.
/// With `pg_override` (a local test stack) the connection goes to 127.0.0.1 in plaintext, which
/// `allow_plaintext` must then permit.
pub async fn database(
    spec: &ConnectionSpec,
    allow_plaintext: bool,
    pg_override: Option<&PgOverride>,
    aws: &aws_config::SdkConfig,
) -> Result<Database, HandlerError> {
    let spec = &drill_core::pg_override::reach(spec, pg_override);
    let credentials = credentials(spec, allow_plaintext, aws).await?;
    Ok(Database::from_spec(spec, &credentials))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(host: &str, tls: &str, var: &str) -> ConnectionSpec {
        serde_json::from_value(serde_json::json!({
            "host": host, "port": 5432, "database": "d",
            "secret": {"env": {"var": var}}, "tls": tls
        }))
        .unwrap()
    }

    #[test]
    fn plaintext_is_refused_unless_allowed() {
        let spec = spec("evil.example", "disable", "X");
        let err = require_tls(&spec, false).unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput");
        assert!(err.message.contains("evil.example"), "{err}");
        assert!(require_tls(&spec, true).is_ok());
        assert!(!allow_plaintext(&|_| Some("yes".into())));
        assert!(allow_plaintext(&|_| Some("true".into())));
    }

    #[tokio::test]
    async fn no_secret_is_read_for_a_plaintext_connection() {
        // The variable is set: were the secret read before the TLS check, this would succeed.
        std::env::set_var(
            "DRILL_TEST_CREDENTIALS_PLAIN",
            r#"{"username":"u","password":"p"}"#,
        );
        let aws = aws_config::SdkConfig::builder().build();
        let plain = spec("h", "disable", "DRILL_TEST_CREDENTIALS_PLAIN");
        let err = credentials(&plain, false, &aws).await.unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput");
        let ok = credentials(&plain, true, &aws).await.unwrap();
        assert_eq!(ok.username, "u");
        assert!(database(&plain, false, None, &aws).await.is_err());
        assert_eq!(
            database(&plain, true, None, &aws).await.unwrap().spec(),
            Some(plain.clone())
        );
        let verified = spec("h", "verify-full", "DRILL_TEST_CREDENTIALS_PLAIN");
        assert_eq!(
            credentials(&verified, false, &aws).await.unwrap().username,
            "u"
        );
    }
}
